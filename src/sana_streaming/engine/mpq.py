"""``sana-streaming mpq-search``: choose a mixed-precision policy by measuring, under an error budget.

The paper's method (paper_notes 3.10), made a command. Slots are layer group x block range (the blocks split
into ``ranges`` equal spans: shallow, middle, deep). For every slot and candidate precision, only that slot is
quantized and the same calibration streams are run again: the error is the RelRMSE of the streamed latents
against the unquantized model (RMSE / std of the reference); the benefit is the idealized GEMM time saved,
the slot's share of the DiT's linear-layer FLOPs (counted on the reference run) times 1 - 1/speed-up, with
FP8 2x and NVFP4 4x faster than BF16 (the paper's accounting). Candidates are then taken greedily in order
of benefit per unit of error, each kept when the combined policy's *measured* error stays within the budget
(errors do not add up exactly, so every step is measured). The default budget is the all-FP8 policy's error:
the search looks for the fastest policy no worse than all-FP8.

NVFP4 is measured by exact emulation (its kernels need Blackwell); on CUDA the chosen policy's chunk latency
is also timed against the unquantized model, with NVFP4 layers run in FP8.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.ops.quant.policy import GROUPS, POLICIES, QuantPolicy, Rule, linear_parts, quantized

SPEEDUP = {"bf16": 1.0, "fp8": 2.0, "nvfp4": 4.0}  # idealized GEMM throughput over BF16 (the paper's)
SEARCH_GROUPS = tuple(g for g in GROUPS if g != "gates")  # attention gates stay BF16 (the paper's policy)


@dataclass(frozen=True)
class Calibration:
    """What every trial streams: source latents and noise (1, C, T, h, w), and text features per prompt."""

    source: Tensor
    noise: Tensor
    prompts: list[tuple[Tensor, Tensor]]  # (features (1, L, C), mask (1, L)) per calibration prompt
    description: str = ""


@dataclass(frozen=True)
class Slot:
    group: str
    first_block: int
    last_block: int

    @property
    def name(self) -> str:
        return f"{self.group}[{self.first_block}-{self.last_block}]"

    def rule(self, precision: str) -> Rule:
        return Rule(self.group, precision, self.first_block, self.last_block)


def rel_rmse(x: Tensor, reference: Tensor) -> float:
    """RMSE of ``x`` against ``reference``, over the reference's standard deviation."""
    x, reference = x.double(), reference.double()
    return float((x - reference).pow(2).mean().sqrt() / reference.std())


def slots_of(depth: int, ranges: int) -> list[Slot]:
    spans = [s for s in np.array_split(np.arange(depth), ranges) if len(s)]
    return [Slot(g, int(s[0]), int(s[-1])) for g in SEARCH_GROUPS for s in spans]


def policy_of(name: str, chosen: dict[Slot, str]) -> QuantPolicy:
    rules = (slot.rule(p) for slot, p in sorted(chosen.items(), key=lambda kv: (kv[0].first_block, kv[0].group)))
    return QuantPolicy(name, tuple(rules))


@torch.no_grad()
def stream_latents(model: SanaStreamingTransformer, cal: Calibration, sampler: SamplerConfig | None = None) -> Tensor:
    """Every calibration prompt streamed over the calibration clip; the latents, concatenated."""
    device = next(model.parameters()).device
    out = []
    for features, mask in cal.prompts:
        text = model.encode_text(features.to(device, model.dtype), mask.to(device))
        latents = StreamingSampler(model, sampler).sample(cal.noise.to(device), cal.source.to(device), text)
        out.append(latents.float().cpu())
    return torch.cat(out)


def count_linear_flops(model: nn.Module, run: Callable[[], object]) -> dict[str, int]:
    """Multiply-add FLOPs of every linear-like layer during ``run()``."""
    flops: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        parts = linear_parts(module)
        if parts is None:
            continue
        out_features, in_features = parts[0].shape[:2]

        def hook(_module, inputs, _output, name=name, size=in_features * out_features):
            rows = inputs[0].numel() // inputs[0].shape[-1]
            flops[name] = flops.get(name, 0) + 2 * rows * size

        handles.append(module.register_forward_hook(hook))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return flops


def flop_share(flops: dict[str, int], policy: QuantPolicy) -> dict[str, float]:
    """Fraction of the linear-layer FLOPs at each precision under ``policy``."""
    total = sum(flops.values()) or 1
    shares = dict.fromkeys(SPEEDUP, 0.0)
    for name, count in flops.items():
        shares[policy.precision_of(name)] += count / total
    return shares


def idealized_speedup(shares: dict[str, float]) -> float:
    return 1.0 / sum(share / SPEEDUP[p] for p, share in shares.items())


def search(
    model: SanaStreamingTransformer,
    cal: Calibration,
    *,
    precisions: Sequence[str] = ("fp8", "nvfp4"),
    ranges: int = 3,
    budget: float | None = None,
    sampler: SamplerConfig | None = None,
    progress: bool = False,
    log: Callable[[str], object] = lambda line: None,
) -> dict:
    """Measure every slot at every precision, then choose greedily under ``budget`` (default: all-FP8's error).

    Returns a report: the reference, the presets' errors, every candidate (slot, precision, FLOP share,
    error, benefit), the greedy steps, and the chosen policy with its measured error and idealized speed-up.
    ``log`` receives a line per measurement as it is made (a long search that is stopped keeps its figures).
    """
    bad = [p for p in precisions if p not in ("fp8", "nvfp4")]
    if bad or not precisions:
        raise ValueError(f"precisions must be fp8 and/or nvfp4, got {', '.join(precisions) or 'none'}")
    slots = slots_of(model.cfg.depth, ranges)
    bar = _bar(progress, total=3 + 2 * len(slots) * len(precisions))  # upper bound: each candidate twice
    reference_box = []
    flops = count_linear_flops(model, lambda: reference_box.append(stream_latents(model, cal, sampler)))
    reference = reference_box[0]
    bar.update(1)

    def measure(policy: QuantPolicy) -> float:
        with quantized(model, policy, nvfp4="emulate"):
            error = rel_rmse(stream_latents(model, cal, sampler), reference)
        bar.update(1)
        bar.set_postfix_str(policy.name[-40:])
        return error

    budget_source = "given" if budget is not None else "the all-FP8 policy's error"
    presets = {}
    for name in ("fp8", "paper"):
        shares = flop_share(flops, POLICIES[name])
        presets[name] = {
            "rel_rmse": measure(POLICIES[name]),
            "flop_share": shares,
            "idealized_speedup": idealized_speedup(shares),
        }
        log(f"preset {name}: RelRMSE {presets[name]['rel_rmse']:.4g}, FLOP shares {shares}")
    budget = presets["fp8"]["rel_rmse"] if budget is None else budget

    candidates = []
    for slot, precision in itertools.product(slots, precisions):
        policy = policy_of(f"{slot.name}:{precision}", {slot: precision})
        share = flop_share(flops, policy)[precision]
        if share == 0:  # no such layers in these blocks (e.g. the tiny model)
            bar.update(2)
            continue
        error = measure(policy)
        benefit = share * (1 - 1 / SPEEDUP[precision])
        log(f"candidate {slot.name} {precision}: RelRMSE {error:.4g}, FLOP share {share:.3f}")
        candidates.append(
            {"slot": slot, "precision": precision, "flop_share": share, "rel_rmse": error, "benefit": benefit}
        )
    candidates.sort(key=lambda c: c["benefit"] / max(c["rel_rmse"], 1e-12), reverse=True)

    chosen: dict[Slot, str] = {}
    error, steps = 0.0, []
    for cand in candidates:
        slot, precision = cand["slot"], cand["precision"]
        if SPEEDUP[chosen.get(slot, "bf16")] >= SPEEDUP[precision]:
            bar.update(1)
            continue  # already at this precision or a lower one
        tentative = {**chosen, slot: precision}
        trial_error = measure(policy_of("trial", tentative))
        kept = trial_error <= budget
        log(f"step + {slot.name} {precision}: RelRMSE {trial_error:.4g} ({'kept' if kept else 'over budget'})")
        steps.append({"slot": slot.name, "precision": precision, "rel_rmse": trial_error, "kept": kept})
        if kept:
            chosen, error = tentative, trial_error
    bar.close()
    policy = policy_of("mpq-search", chosen)
    shares = flop_share(flops, policy)
    return {
        "budget": budget,
        "budget_source": budget_source,
        "precisions": list(precisions),
        "ranges": ranges,
        "calibration": cal.description,
        "presets": presets,
        "candidates": [{**c, "slot": c["slot"].name} for c in candidates],
        "steps": steps,
        "policy": policy,
        "chosen": {
            "rules": [f"{r.group}[{r.first_block}-{r.last_block}]: {r.precision}" for r in policy.rules],
            "rel_rmse": error,
            "flop_share": shares,
            "idealized_speedup": idealized_speedup(shares),
        },
    }


def chunk_latency_ms(model: SanaStreamingTransformer, latent_hw: tuple[int, int], chunks: int = 6) -> float:
    """Median CUDA time of a steady-state chunk (4 steps + refresh), eager: the bench's stream, timed."""
    from sana_streaming.engine.bench import stream_dit

    run = stream_dit(model, 5 + 3 * (chunks - 1), latent_hw, ())  # a first chunk of 5 latent frames, then 3s
    return float(np.median(run.chunk_ms[2:] or run.chunk_ms))


def synthetic_calibration(
    model: SanaStreamingTransformer, latent_hw: tuple[int, int], latent_frames: int, prompts: int = 1, seed: int = 0
) -> Calibration:
    """Random source latents and random text features (speed studies, and models without a VAE at hand)."""
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    shape = (1, cfg.source_channels, latent_frames, *latent_hw)
    texts = [
        (torch.randn(1, cfg.caption_length, cfg.caption_channels, generator=gen), torch.ones(1, cfg.caption_length))
        for _ in range(prompts)
    ]
    noise = torch.randn(1, cfg.in_channels, latent_frames, *latent_hw, generator=gen)
    description = f"synthetic: {prompts} random prompt(s), {latent_frames} latent frames of {latent_hw}"
    return Calibration(torch.randn(shape, generator=gen), noise, texts, description)


@torch.no_grad()
def clip_calibration(
    model: SanaStreamingTransformer,
    vae,
    text_encoder,
    clip: str,
    prompts: Sequence[str],
    resolution: tuple[int, int],
    frames: int,
    seed: int = 0,
) -> Calibration:
    """A real clip (its first ``frames`` frames at 16 fps, fitted to ``resolution``) encoded by the causal VAE,
    and the prompts encoded by the text encoder."""
    from sana_streaming.eval.report import load_clip

    images = load_clip(clip, fps=16, size=resolution, max_frames=frames).frames
    ratio = vae.cfg.temporal_compression
    usable = 1 + ratio * ((len(images) - 1) // ratio)
    if usable < 1 + ratio:
        raise ValueError(f"{clip}: {len(images)} frames at 16 fps; the calibration needs at least {1 + ratio}")
    device = next(vae.parameters()).device
    pixels = torch.from_numpy(images[:usable]).to(device).permute(3, 0, 1, 2)[None]
    latents = vae.normalize(vae.encode(pixels.to(vae.dtype) / 127.5 - 1)).float().cpu()
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, model.cfg.in_channels, *latents.shape[2:], generator=gen)
    texts = [text_encoder.encode([p]) for p in prompts]
    description = f"{clip}: {usable} frames at {resolution[0]}x{resolution[1]}, {len(prompts)} prompt(s)"
    return Calibration(latents, noise, texts, description)


def _bar(enabled: bool, total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc="mpq-search", dynamic_ncols=True, disable=not enabled)
