"""Replay a folder of tensors recorded from the official SANA-Streaming code and compare ours, case by case.

The folder format is the one of ``tests/fixtures/official`` (see its README): ``fixtures_index.json`` with
the configuration, ``model.safetensors`` with the streaming model's weights under official names, and
``gdn_op``, ``forward_bidir`` and ``stream`` recordings. Everything (depth, widths, frame counts, text
length, batch size, chunking, cache window) is read from the folder.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from sana_streaming.diffusion.flow import chunk_boundaries
from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.checkpoint import CheckpointError, adapt_official, load_weights_, read_state_dict
from sana_streaming.models.config import ModelConfig
from sana_streaming.models.state import CacheWindow
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.nn.gdn import GatedDeltaNetAttention
from sana_streaming.nn.rope import rope_table
from sana_streaming.ops.gdn.reference import backward_scan_inputs, gdn_recurrence

# Named tolerances (atol, rtol): float32 on CPU, as the fixtures README states.
OP_TOL = (1e-5, 1e-5)
MODEL_TOL = (1e-4, 1e-4)
ROPE_TOL = (1e-6, 0.0)
EXACT = (0.0, 0.0)
_FEATURES = ("q", "k", "v", "q_rot", "k_rot", "beta", "decay")


@dataclass
class CaseResult:
    name: str
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    passed: bool
    note: str = ""

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        note = f"  ({self.note})" if self.note else ""
        return (
            f"{verdict}  {self.name:<48} max_abs {self.max_abs:.2e}  max_rel {self.max_rel:.2e}  "
            f"tol atol {self.atol:.0e} rtol {self.rtol:.0e}{note}"
        )


def check(name: str, ok: bool, note: str) -> CaseResult:
    """A structural case (no numbers): passes when ``ok``."""
    return CaseResult(name, 0.0, 0.0, 0.0, 0.0, ok, "" if ok else note)


def compare(name: str, ours: Tensor, ref: Tensor, tol: tuple[float, float]) -> CaseResult:
    """|ours - ref| <= atol + rtol * |ref| everywhere, same shape, all finite. max_rel is normwise (max|ref|)."""
    atol, rtol = tol
    ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
    if ours.shape != ref.shape:
        return CaseResult(
            name, float("nan"), float("nan"), atol, rtol, False, f"shape {tuple(ours.shape)} != {tuple(ref.shape)}"
        )
    if not torch.isfinite(ours).all():
        return CaseResult(name, float("nan"), float("nan"), atol, rtol, False, "non-finite values")
    err = (ours - ref).abs()
    max_abs = err.max().item() if err.numel() else 0.0
    scale = ref.abs().max().item() if ref.numel() else 0.0
    passed = bool((err <= atol + rtol * ref.abs()).all())
    return CaseResult(name, max_abs, max_abs / scale if scale else max_abs, atol, rtol, passed)


class FixtureFolder:
    """Read access to one fixture folder with one-line errors for missing pieces."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index = self.path / "fixtures_index.json"
        if not index.is_file():
            raise CheckpointError(f"{self.path}: not a fixture folder (no fixtures_index.json)")
        self.index = json.loads(index.read_text())

    def tensors(self, name: str) -> dict[str, Tensor]:
        return read_state_dict(self.path / f"{name}.safetensors")

    def model_config(self, softmax_qk_taps: int) -> ModelConfig:
        rc = self.index["reduced_config"]
        kwargs = rc.get("stream_model_kwargs", {})
        return ModelConfig(
            depth=rc["depth"],
            hidden_size=rc["hidden_size"],
            num_heads=rc["num_heads"],
            head_dim=rc["linear_head_dim"],
            mlp_ratio=float(rc["mlp_ratio"]),
            in_channels=rc["in_channels"],
            source_channels=rc["additional_inchannels"],
            caption_channels=rc["caption_channels"],
            caption_length=rc["model_max_length"],
            softmax_layers=tuple(rc["softmax_layer_indices"]),
            patch_size=tuple(rc["patch_size"]),
            softmax_qk_taps=softmax_qk_taps,
            qk_norm=kwargs.get("qk_norm", True),
            cross_norm=kwargs.get("cross_norm", True),
            t_kernel_size=kwargs.get("t_kernel_size", 3),
            name=f"fixture-{self.index.get('set', '?')}",
        )


# -- layout helpers: official (B, H, D, T*S) <-> ours (B, H, T, S, D) -------------------------------------


def _to_ours(x: Tensor, frames: int) -> Tensor:
    batch, heads, dim, tokens = x.shape
    return x.view(batch, heads, dim, frames, tokens // frames).permute(0, 1, 3, 4, 2)


def _to_official(x: Tensor) -> Tensor:
    batch, heads, frames, spatial, dim = x.shape
    return x.permute(0, 1, 4, 2, 3).reshape(batch, heads, dim, frames * spatial)


def _official_inputs(rec: dict[str, Tensor], prefix: str, frames: int) -> tuple[Tensor, ...]:
    """Recurrence arguments recorded under ``prefix`` (``in.`` or ``attn.bidir.scan_fwd.in.``) in our layout."""
    qkv = [_to_ours(rec[prefix + n], frames) for n in ("q", "k", "v", "q_rot", "k_rot")]
    return (*qkv, rec[prefix + "beta"].permute(0, 3, 1, 2), rec[prefix + "decay"])


def _feature_layout(name: str, x: Tensor) -> Tensor:
    if name == "beta":
        return x.permute(0, 2, 3, 1)  # (B, H, T, S) -> (B, T, S, H)
    return x if name == "decay" else _to_official(x)


# -- the cases --------------------------------------------------------------------------------------------


def gdn_op_cases(folder: FixtureFolder) -> Iterator[CaseResult]:
    rec = folder.tensors("gdn_op")
    info = folder.index["gdn_op"]
    frames = info["T"]
    args = _official_inputs(rec, "in.", frames)
    num, den, _, _ = gdn_recurrence(*args)
    yield compare("gdn_op.plain.num", _to_official(num), rec["plain.num"], OP_TOL)
    yield compare("gdn_op.plain.den", den.flatten(2)[:, :, None], rec["plain.den"], OP_TOL)
    yield compare("gdn_op.plain.out", _to_official(num / (den[..., None] + info["eps"])), rec["plain.out"], OP_TOL)
    init_kv, init_z = rec["in.state_kv_init"], rec["in.state_z_init"][..., 0]
    num, den, state_kv, state_z = gdn_recurrence(*args, init_kv, init_z)
    yield compare("gdn_op.stateful.num", _to_official(num), rec["stateful.num"], OP_TOL)
    yield compare("gdn_op.stateful.den", den.flatten(2)[:, :, None], rec["stateful.den"], OP_TOL)
    yield compare("gdn_op.stateful.state_kv_final", state_kv, rec["stateful.state_kv_final"], OP_TOL)
    yield compare("gdn_op.stateful.state_z_final", state_z[..., None], rec["stateful.state_z_final"], OP_TOL)
    # The scan is causal: the state after frame 1 is the final state of a scan over frames 0 and 1.
    _, _, kv1, z1 = gdn_recurrence(*(a[:, :, :2] for a in args), init_kv, init_z)
    yield compare("gdn_op.stateful.state_kv_at_frame1", kv1, rec["stateful.state_kv_at_frame1"], OP_TOL)
    yield compare("gdn_op.stateful.state_z_at_frame1", z1[..., None], rec["stateful.state_z_at_frame1"], OP_TOL)
    yield from _gdn_module_cases(folder, rec)


def _gdn_module_cases(folder: FixtureFolder, rec: dict[str, Tensor]) -> Iterator[CaseResult]:
    info = folder.index["gdn_op"]
    frames, (height, width) = info["T"], info["module_hw"]
    params = {k.removeprefix("attn_param."): v for k, v in rec.items() if k.startswith("attn_param.")}
    dim = params["proj.weight"].shape[0]
    attn = GatedDeltaNetAttention(dim, info["D"], eps=info["eps"])
    load_weights_(attn, params, "gdn_op attn_param")
    x = rec["attn.x"]
    for mode, offset in (("bidir", 0), ("cached", info["cached_chunk_first_frame"])):
        model_rope = rope_table(attn.head_dim, offset, frames, height, width)
        recorded = rec[f"attn.{mode}.rope_real_imag"][0, 0, -frames * height * width :]
        yield compare(f"gdn_module.{mode}.rope_cos", model_rope[0], recorded[..., 0], ROPE_TOL)
        yield compare(f"gdn_module.{mode}.rope_sin", model_rope[1], recorded[..., 1], ROPE_TOL)
        feats = attn.features(x, frames, model_rope)
        for name, ours in zip(_FEATURES, feats.as_args(), strict=True):
            ref = rec[f"attn.{mode}.scan_fwd.in.{name}"]
            yield compare(f"gdn_module.{mode}.features.{name}", _feature_layout(name, ours), ref, MODEL_TOL)
        for name, ours in zip(_FEATURES, backward_scan_inputs(*feats.as_args()), strict=True):
            ref = rec[f"attn.{mode}.scan_bwd.in.{name}"]
            yield compare(f"gdn_module.{mode}.backward_inputs.{name}", _feature_layout(name, ours), ref, MODEL_TOL)
        init = (rec["in.state_kv_init"], rec["in.state_z_init"][..., 0]) if mode == "cached" else (None, None)
        for scan in ("scan_fwd", "scan_bwd"):
            args = _official_inputs(rec, f"attn.{mode}.{scan}.in.", frames)
            num, den, kv, z = gdn_recurrence(*args, *(init if scan == "scan_fwd" else (None, None)))
            yield compare(
                f"gdn_module.{mode}.{scan}.num", _to_official(num), rec[f"attn.{mode}.{scan}.out.num"], OP_TOL
            )
            yield compare(
                f"gdn_module.{mode}.{scan}.den", den.flatten(2)[:, :, None], rec[f"attn.{mode}.{scan}.out.den"], OP_TOL
            )
        out, kv, z = attn(x, frames, model_rope, state_kv=init[0], state_z=init[1])
        yield compare(f"gdn_module.{mode}.out", out, rec[f"attn.{mode}.out"], MODEL_TOL)
        if mode == "cached":
            yield compare("gdn_module.cached.state_kv_saved", kv, rec["attn.cached.state_kv_saved"], MODEL_TOL)
            yield compare("gdn_module.cached.state_z_saved", z[..., None], rec["attn.cached.state_z_saved"], MODEL_TOL)


def load_fixture_model(folder: FixtureFolder, softmax_qk_taps: int = 3) -> SanaStreamingTransformer:
    """The fixture's streaming weights in a model whose softmax q/k use ``softmax_qk_taps`` storage."""
    cfg = folder.model_config(softmax_qk_taps)
    model = SanaStreamingTransformer(cfg).eval()
    return load_weights_(model, adapt_official(folder.tensors("model"), cfg), str(folder.path / "model.safetensors"))


def forward_bidir_cases(folder: FixtureFolder) -> Iterator[CaseResult]:
    rec = folder.tensors("forward_bidir")
    bidir_state = folder.tensors("model")
    bidir_state.update({k.removeprefix("bidir_weight."): v for k, v in rec.items() if k.startswith("bidir_weight.")})
    cfg = folder.model_config(softmax_qk_taps=0)
    bidir = load_weights_(SanaStreamingTransformer(cfg).eval(), adapt_official(bidir_state, cfg), "bidirectional")
    streaming = load_fixture_model(folder)
    text = bidir.encode_text(rec["text_emb"], rec["text_mask"])
    out = bidir(rec["x_t"], rec["source_latent"], rec["timestep"], text)
    yield compare("forward_bidir.output", out, rec["output"], MODEL_TOL)
    truncated = bidir(rec["x_t"], rec["source_latent"], torch.trunc(rec["timestep"]), text)
    yield compare("forward_bidir.timestep_is_truncated", truncated, out, EXACT)
    # The streaming checkpoint (Conv1d q/k, centre tap) run as a whole clip is the same network.
    text = streaming.encode_text(rec["text_emb"], rec["text_mask"])
    out = streaming(rec["x_t"], rec["source_latent"], rec["timestep"], text)
    yield compare("forward_bidir.output_from_streaming_weights", out, rec["output"], MODEL_TOL)


@dataclass
class RecordedCall:
    x_in: Tensor
    timestep: float
    velocity: Tensor
    write_cache: bool


class CallRecorder:
    """Stands in for the model inside a sampler and keeps every call, plus the after-RoPE softmax q of each
    cache-writing call (the official cache stores it; our model has no use for it)."""

    def __init__(self, model: SanaStreamingTransformer) -> None:
        self.model = model
        self.calls: list[RecordedCall] = []
        self.softmax_q: dict[int, Tensor] = {}

    def init_state(self, *args, **kwargs):
        return self.model.init_state(*args, **kwargs)

    def forward_chunk(self, x, source, timestep, text, state, *, write_cache=False):
        captured: dict[int, tuple] = {}
        hooks = []
        if write_cache:
            for b in self.model.cfg.softmax_layers:
                attn = self.model.blocks[b].attn
                hooks.append(attn.register_forward_pre_hook(lambda _m, args, b=b: captured.__setitem__(b, args)))
        try:
            velocity, state = self.model.forward_chunk(x, source, timestep, text, state, write_cache=write_cache)
        finally:
            for hook in hooks:
                hook.remove()
        self.softmax_q = {b: self.model.blocks[b].attn.project(*args)[0] for b, args in captured.items()}
        self.calls.append(RecordedCall(x.clone(), float(timestep[0]), velocity.clone(), write_cache))
        return velocity, state


def _stream_window(streaming: dict) -> CacheWindow:
    n = streaming["num_cached_blocks"]
    return CacheWindow(n if n > 0 else None, bool(streaming["sink_token"]))


def stream_cases(folder: FixtureFolder) -> Iterator[CaseResult]:
    rec = folder.tensors("stream")
    meta = folder.index["streaming"]
    model = load_fixture_model(folder)
    bounds = [int(b) for b in rec["chunk_indices"]]
    ours_bounds = chunk_boundaries(rec["noise"].shape[2], meta["base_chunk_frames"])
    yield compare("stream.chunk_indices", torch.tensor(ours_bounds), torch.tensor(bounds), EXACT)
    yield check(
        "stream.no_guidance",
        float(meta.get("cfg_scale", 1.0)) == 1.0,
        "recorded with classifier-free guidance, which the streaming sampler does not do",
    )
    efficient = bool(meta.get("efficient_cache", False))
    timesteps = tuple(int(t) for t in rec["timesteps"])
    config = SamplerConfig(timesteps, meta["base_chunk_frames"], _stream_window(meta), efficient)
    yield compare("stream.sigmas", StreamingSampler(model, config).sigmas, rec["sigmas"], EXACT)
    text = model.encode_text(rec["text_emb"], rec["text_mask"])
    # The recorded run is replayed call by call; the efficient-cache variant only has its final latents.
    yield from _stream_replay(folder, model, config, text, rec, bounds)
    if "latents_out_efficient_cache" in rec:
        variant = SamplerConfig(timesteps, config.chunk_frames, config.window, efficient_cache=True)
        latents = StreamingSampler(model, variant).sample(rec["noise"], rec["source_latents"], text)
        yield compare("stream.latents_out_efficient_cache", latents, rec["latents_out_efficient_cache"], MODEL_TOL)


def _stream_replay(folder, model, config, text, rec, bounds) -> Iterator[CaseResult]:
    recorder = CallRecorder(model)
    sampler = StreamingSampler(recorder, config)
    noise, source = rec["noise"], rec["source_latents"]
    state = sampler.init_state(noise.shape[0], tuple(noise.shape[-2:]), bounds[1])
    outputs, tags = [], []
    for c, (a, b) in enumerate(itertools.pairwise(bounds)):
        last = c == len(bounds) - 2
        outputs.append(sampler.denoise_chunk(noise[:, :, a:b], source[:, :, a:b], text, state, write_cache=not last))
        tags += [f"chunk{c}.step{j}" for j in range(len(config.timesteps))] + (
            [] if last or config.efficient_cache else [f"chunk{c}.refresh"]
        )
        if f"chunk{c}.denoised" in rec:
            yield compare(f"stream.chunk{c}.denoised", outputs[-1], rec[f"chunk{c}.denoised"], MODEL_TOL)
        if not last:
            yield from _cache_cases(model, state, recorder, rec, c)
    recorded = [(c["tag"], float(c["timestep"]), bool(c["save_kv_cache"])) for c in folder.index["streaming"]["calls"]]
    ours = [(tag, call.timestep, call.write_cache) for tag, call in zip(tags, recorder.calls, strict=True)]
    yield check("stream.call_sequence", ours == recorded, f"ours {ours} vs recorded {recorded}")
    for tag, call in zip(tags, recorder.calls, strict=True):
        if f"{tag}.x_in" in rec:
            yield compare(f"stream.{tag}.x_in", call.x_in, rec[f"{tag}.x_in"], MODEL_TOL)
            yield compare(f"stream.{tag}.v_pred", call.velocity, rec[f"{tag}.v_pred"], MODEL_TOL)
    yield compare("stream.latents_out", torch.cat(outputs, dim=2), rec["latents_out"], MODEL_TOL)


def _cache_cases(model, state, recorder, rec, chunk: int) -> Iterator[CaseResult]:
    cfg = model.cfg
    for block in range(cfg.depth):
        prefix = f"cache.chunk{chunk}.block{block}"
        tconv = state.tconv[block].transpose(1, 2)[:, :, None]  # (B, S, C) -> (B, C, 1, S)
        yield compare(f"{prefix}.tconv", tconv, rec[f"{prefix}.tconv"], MODEL_TOL)
        if block in cfg.softmax_layers:
            layer = cfg.softmax_layers.index(block)
            start, end = state.kv.region(chunk)
            keys = state.kv.keys[layer][:, :, start:end].transpose(2, 3)  # (B, H, N, D) -> (B, H, D, N)
            values = state.kv.values[layer][:, :, start:end].transpose(2, 3)
            yield compare(
                f"{prefix}.softmax_q", recorder.softmax_q[block].transpose(2, 3), rec[f"{prefix}.softmax_q"], MODEL_TOL
            )
            yield compare(f"{prefix}.softmax_k", keys, rec[f"{prefix}.softmax_k"], MODEL_TOL)
            yield compare(f"{prefix}.softmax_v", values, rec[f"{prefix}.softmax_v"], MODEL_TOL)
        else:
            g = cfg.gdn_layers.index(block)
            yield compare(f"{prefix}.gdn_state_kv", state.gdn_kv[g], rec[f"{prefix}.gdn_state_kv"], MODEL_TOL)
            yield compare(f"{prefix}.gdn_state_z", state.gdn_z[g][..., None], rec[f"{prefix}.gdn_state_z"], MODEL_TOL)


@torch.no_grad()
def verify_official(path: str | Path) -> Iterator[CaseResult]:
    """Every case of the fixture folder, in order: GDN op and modules, bidirectional forward, streaming run."""
    folder = FixtureFolder(path)
    yield from gdn_op_cases(folder)
    yield from forward_bidir_cases(folder)
    yield from stream_cases(folder)
