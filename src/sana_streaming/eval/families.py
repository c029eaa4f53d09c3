"""How well an editor does the classical edits it was trained on, on a clip it never saw.

For every edit family: the family's first prompt, one parameter draw (fixed by the seed), the ground truth
``family.apply(clip, params)``, the editor's output for the prompt, and the metrics of :func:`evaluate` against
that ground truth (PSNR, SSIM, warp error beside the ground truth's, chunk-boundary jump ratio). Also the VAE's
own reconstruction PSNR on the clip (causal streaming encode and decode), the ceiling of every edit.

One draw is one sample of what the prompts leave open (a family's strength, the editor's noise): several draws
(:func:`average_draws`) tell a real difference between two editors from a lucky draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from sana_streaming.eval import metrics
from sana_streaming.eval.report import PSNR_CAP_DB, evaluate

# The targets for the default model on the held-out clip.
TARGETS = {"vae_psnr_db": 27.0, "mean_psnr_db": 22.0, "warp_ratio": 1.2, "jump_ratio": 1.5}


@torch.no_grad()
def vae_reconstruction(vae, clip: np.ndarray, first_chunk: int = 33, chunk: int = 24) -> np.ndarray:
    """The clip (T, H, W, 3) uint8 through the causal VAE chunk by chunk, as the editor streams it: (T', H, W, 3)
    uint8 for the first T' frames that fill whole chunks."""
    device = next(vae.parameters()).device
    encoder, decoder = vae.encoder_stream(), vae.decoder_stream()
    usable = first_chunk + chunk * ((len(clip) - first_chunk) // chunk) if len(clip) >= first_chunk else 0
    if usable == 0:
        raise ValueError(f"the clip has {len(clip)} frames; the VAE check needs at least {first_chunk}")
    out = []
    for start, end in [(0, first_chunk), *((s, s + chunk) for s in range(first_chunk, usable, chunk))]:
        video = torch.from_numpy(clip[start:end]).to(device).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        latents = vae.encode_chunk(video.to(vae.dtype), encoder)
        pixels = vae.decode_chunk(latents, decoder)[0].float().clamp(-1, 1)
        out.append(((pixels + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy())
    return np.concatenate(out)


def capped_psnr(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T,) PSNR in dB of ``frames`` against the first T frames of ``reference``, identical frames at the cap
    the reports average with (:data:`PSNR_CAP_DB`)."""
    return np.minimum(metrics.psnr(frames, reference[: len(frames)]), PSNR_CAP_DB)


def vae_reconstruction_psnr(vae, clip: np.ndarray, first_chunk: int = 33, chunk: int = 24) -> float:
    """Mean per-frame PSNR (dB) of the clip (T, H, W, 3) uint8 through the causal VAE, chunk by chunk."""
    return float(capped_psnr(vae_reconstruction(vae, clip, first_chunk, chunk), clip).mean())


def ground_truths(clip: np.ndarray, families: Sequence[str] | None = None, *, seed: int = 0) -> dict:
    """{family: (its first prompt, one parameter draw, the family's edit of ``clip``)}, draws fixed by ``seed``."""
    from sana_streaming.train.data.edits import FAMILIES, get_family

    names = list(FAMILIES) if families is None else [get_family(name).name for name in families]
    out = {}
    for index, name in enumerate(names):
        family = FAMILIES[name]
        params = family.sample_params(np.random.default_rng([seed, index]))
        out[name] = (family.prompts[0], params, family.apply(clip, params))
    return out


def family_benchmark(
    edit: Callable[[np.ndarray, str], np.ndarray],
    clip: np.ndarray,
    families: Sequence[str] | None = None,
    *,
    seed: int = 0,
    first_chunk: int = 33,
    chunk: int = 24,
    progress: Callable[[str], None] | None = None,
    flow: str = "dis",
) -> dict:
    """Edit ``clip`` (T, H, W, 3) uint8 with every family's prompt through ``edit(frames, prompt)`` and score it
    (``flow``: the warp error's flow estimator, :func:`~sana_streaming.eval.report.evaluate`'s).

    Returns:
        {"families": {name: row}, "mean_psnr_db": float, "worst_warp_ratio": float, "worst_jump_ratio": float}
        where a row has the prompt, the parameters and the :func:`evaluate` summary figures.
    """
    rows = {}
    for name, (prompt, params, truth) in ground_truths(clip, families, seed=seed).items():
        if progress is not None:
            progress(name)
        edited = edit(clip, prompt)
        report = evaluate(clip, edited, truth, first_chunk=first_chunk, chunk=chunk, flow=flow)
        summary = report["summary"]
        rows[name] = {
            "prompt": prompt,
            "params": params,
            "psnr_db": summary["fidelity"]["psnr_db"],
            "ssim": summary["fidelity"]["ssim"],
            "warp_error": summary["edited"]["warp_error"],
            "truth_warp_error": summary["reference"]["warp_error"],
            "warp_ratio": summary["fidelity"]["warp_error_over_reference"],
            "jump_ratio": summary["edited"]["jump_ratio"],
        }
    return _summarised(rows)


def average_draws(results: Sequence[dict], seeds: Sequence[int]) -> dict:
    """Results of :func:`family_benchmark` for several seeds (other parameter draws, other noise) as one: each
    family's figures averaged over the draws and its parameters listed per draw; the summary figures computed from
    those averages as for one draw; each draw's own summary under ``"draws"``."""
    if len(results) != len(seeds) or not results:
        raise ValueError(f"average_draws: {len(results)} results for {len(seeds)} seeds")
    rows = {}
    for name, first in results[0]["families"].items():
        each = [result["families"][name] for result in results]
        row = {"prompt": first["prompt"], "params": [d["params"] for d in each]}
        for key in ("psnr_db", "ssim", "warp_error", "truth_warp_error", "warp_ratio", "jump_ratio"):
            values = [d[key] for d in each if not np.isnan(d[key])]
            row[key] = float(np.mean(values)) if values else float("nan")
        rows[name] = row
    summary = ("mean_psnr_db", "worst_warp_ratio", "worst_jump_ratio")
    draws = [{"seed": seed, **{k: r[k] for k in summary}} for seed, r in zip(seeds, results, strict=True)]
    return {**_summarised(rows), "draws": draws}


def _summarised(rows: dict) -> dict:
    """The families' rows with the summary figures the targets are checked on."""
    return {
        "families": rows,
        "mean_psnr_db": float(np.mean([r["psnr_db"] for r in rows.values()])),
        "worst_warp_ratio": _worst([r["warp_ratio"] for r in rows.values()]),
        "worst_jump_ratio": _worst([r["jump_ratio"] for r in rows.values()]),
    }


def _worst(values: list[float]) -> float:
    """The largest value, NaNs left out (NaN when all are: e.g. a one-chunk clip has no chunk boundary)."""
    kept = [v for v in values if not np.isnan(v)]
    return float(max(kept)) if kept else float("nan")


def format_family_table(result: dict, vae_psnr_db: float | None = None) -> str:
    """The per-family figures and the targets, as a terminal table."""
    lines = [f"{'family':<16}{'PSNR dB':>9}{'SSIM':>8}{'warp':>8}{'truth':>8}{'ratio':>8}{'jumps':>8}  prompt"]
    for name, row in result["families"].items():
        lines.append(
            f"{name:<16}{row['psnr_db']:>9.2f}{row['ssim']:>8.3f}{row['warp_error']:>8.2f}"
            f"{row['truth_warp_error']:>8.2f}{row['warp_ratio']:>8.2f}{row['jump_ratio']:>8.2f}  {row['prompt']}"
        )
    checks = [
        ("mean PSNR", result["mean_psnr_db"], ">=", TARGETS["mean_psnr_db"]),
        ("worst warp ratio", result["worst_warp_ratio"], "<=", TARGETS["warp_ratio"]),
        ("worst jump ratio", result["worst_jump_ratio"], "<=", TARGETS["jump_ratio"]),
    ]
    if vae_psnr_db is not None:
        checks.insert(0, ("VAE reconstruction PSNR", vae_psnr_db, ">=", TARGETS["vae_psnr_db"]))
    for label, value, op, target in checks:
        if np.isnan(value):
            lines.append(f"{label}: n/a (the clip is too short to measure it; target {op} {target:g})")
            continue
        met = value >= target if op == ">=" else value <= target
        lines.append(f"{label}: {value:.2f} (target {op} {target:g}: {'met' if met else 'not met'})")
    return "\n".join(lines)
