"""Training recipes: TOML files with typed sections, plus ``section.key=value`` overrides from the command line."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    stage: str  # "vae", "bidirectional" or "streaming"
    name: str = "run"
    out_dir: str = "runs/run"
    steps: int = 1000
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16", "fp32"
    grad_checkpointing: bool = False
    device: str = "auto"
    # CPU threads of each process: 0 (auto) gives each torchrun process its share of the cores (at most 8) where
    # torchrun left its default of one thread (OMP_NUM_THREADS=1); n > 0 sets n.
    cpu_threads: int = 0
    # With several processes: "ddp" replicates the model; "fsdp" (FSDP2) shards the DiTs' weights, gradients and
    # optimizer state over the processes (the 2B model). One process ignores it.
    parallel: str = "ddp"
    # parallel = "fsdp": the dtype FSDP2 gathers the weights in for the forward and backward ("bfloat16": half the
    # traffic; gradients are still reduced and the weights kept and updated in float32).
    fsdp_param_dtype: str = "float32"
    # parallel = "fsdp": free each block's gathered weights after its forward (True: least memory) or keep them
    # for the backward (False: no second gather of every block, at the cost of one whole gathered copy).
    fsdp_reshard_after_forward: bool = True
    # Stop after this many seconds of training (0: no limit), save, and export the weights of the step reached
    # as `final` (a run in a time box, e.g. on a lent GPU machine). Resuming continues towards `steps`.
    time_limit_s: float = 0.0
    # With data.val_manifest: steps between validations (also one after the last step).
    val_every: int = 100


@dataclass(frozen=True)
class ModelSection:
    preset: str = "tiny"
    init: str = ""  # a model folder (save_pretrained) to start from


@dataclass(frozen=True)
class VAESection:
    path: str = ""  # VAE folder or cached model id (LTX-2 for the 2B model); empty = the preset, random weights
    preset: str = "tiny"


@dataclass(frozen=True)
class TextSection:
    encoder: str = "minilm"  # as `sana-streaming edit --text`: minilm, gemma, gemma:PATH or a folder


@dataclass(frozen=True)
class DataSection:
    manifest: str = ""
    num_frames: int = 17
    buckets: tuple[tuple[int, int], ...] = ((384, 224),)
    batch_size: int = 4
    num_workers: int = 0
    pin_memory: bool = True  # on CUDA with num_workers > 0: the loading threads pin the clips (asynchronous copies)
    # pair clips only: the crop's side relative to the largest crop of the bucket's aspect ratio (below 1: crops
    # nearer the clips' own scale, e.g. 0.5 with a bucket half the clips' size), and how often a window is cut
    # to another clip's partway through (a scene cut; for the VAE: the edit inside each part stays consistent)
    crop_scale: tuple[float, float] = (0.8, 1.0)
    cut_prob: float = 0.0
    # Pairs kept out of training (e.g. make-pairs on one clip or photograph that the manifest leaves out): the
    # streaming stage's regression streams the first val_samples of them with the EMA weights every
    # run.val_every steps, and exports the weights of the lowest error as `best` (it overfits a small set).
    val_manifest: str = ""
    val_samples: int = 8


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    eps: float = 1e-8
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    ema_start: int = 0
    # The share of run.steps at the end over which the learning rate falls linearly to 0 (0: constant after the
    # warm-up, as the official recipes). A run in a time box (run.time_limit_s) cools down only if its steps end
    # first: set run.steps to what the box reaches.
    cooldown: float = 0.0
    # The DiT's parts that train, by module or parameter name (e.g. ["x_embedder", "final_layer"]: a grown model's
    # input and output layers on the frozen rest; the streaming stage's generator, the bidirectional stage's
    # model); the others are frozen. Empty: all train.
    train_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowConfig:
    """Stage 1: rectified flow matching (paper_notes 3.8)."""

    shift: float = 3.0
    logit_mean: float = 0.0
    logit_std: float = 1.0
    text_dropout: float = 0.1


@dataclass(frozen=True)
class DMDConfig:
    """Stage 2: Self-Forcing rollouts, DMD and Cycle-Reverse Regularization (paper_notes 3.8-3.9)."""

    teacher: str = ""  # the stage-1 bidirectional model folder or official checkpoint (real score; initial critic)
    teacher_preset: str = ""  # the teacher's architecture when it is an official checkpoint (default model.preset)
    guidance: float = 3.0
    critic_ratio: int = 4  # critic updates per generator update
    critic_lr: float = 2e-6
    timestep_shift: float = 8.0
    timestep_min: int = 20
    timestep_max: int = 980
    reverse_weight: float = 0.5  # Cycle-Reverse Regularization weight; 0 turns it off
    weight: float = 1.0  # the distribution-matching term's weight; 0 = none (no teacher, no critic)
    # The rollout's x0 at every denoising step against the ground-truth edit (MSE of the latents); needs paired
    # clips (data.manifest of pairs). Maximises the expected PSNR where DMD samples one plausible edit.
    regression: float = 0.0
    # The rollout's clip (each chunk's last x0) decoded by the frozen VAE against the ground-truth edit's pixels
    # (MSE in [-1, 1]): the PSNR that eval-model measures, where the latents' MSE weighs errors as the latent
    # space does (the default model's edits were 2-6 levels too bright on blur, with most of their error at low
    # spatial frequencies). Needs paired clips.
    pixels: float = 0.0
    # The decoded rollout's change from each frame to the next, carried along the ground truth's motion, against
    # the ground truth's own change (Charbonnier; train/vae_losses.warped_change, the VAE's warped_temporal term):
    # the flicker that eval-model's warp ratio measures, which a per-frame term leaves free. Beside a term that
    # fixes the edit (it alone would not); needs paired clips. Ours.
    warped_temporal: float = 0.0
    # The units of the regression's error and of the validation's: "normalized" (the DiT's latents, each channel at
    # unit scale) or "raw" (the VAE's own latents: each channel's squared error times (latents_std /
    # scaling_factor)^2; the same numbers for a VAE whose statistics are 0 and 1). A grown latent's calibrated new
    # channels are small in raw units and nearly invisible through the decoder, where normalised they weigh as
    # much as the old ones. (Try 12 read the grown student's fall under the regression so; in try 13's CPU pilots
    # the raw regression cost as much: benchmarks/NOTES.md.)
    regression_units: str = "normalized"
    latent_frames: int = 11  # rollout length in latent frames (first chunk 5, then chunks of 3)
    num_cached_chunks: int = 2

    @property
    def paired(self) -> bool:
        """Whether a generator term scores against the ground-truth edits (regression, pixels or warped temporal):
        the stage then trains on pairs, not long videos."""
        return self.regression > 0 or self.pixels > 0 or self.warped_temporal > 0


@dataclass(frozen=True)
class VAETrainConfig:
    """Causal VAE stage: reconstruction, or decoder distillation from a bidirectional teacher."""

    mode: str = "reconstruct"  # "decoder" (fine-tune vae.path's decoder, encoder frozen) or "distill"
    decoder: str = ""  # mode "decoder": a VAE preset whose (new, untrained) decoder replaces vae.path's
    teacher: str = ""  # distill: the bidirectional VAE folder
    charbonnier: float = 1.0
    haar: float = 0.5
    kl: float = 1e-6
    temporal: float = 0.0  # frame-to-frame differences (ReconstructionLoss): against flicker
    warped_temporal: float = 0.0  # the same along the target's motion (ReconstructionLoss.warped_temporal)
    # pairs: the share of samples that are the edited video instead of the source. The decoder must reconstruct
    # what the editor makes; trained on sources alone, the tiny VAE kept 14 dB of posterize's ground truth.
    edited: float = 0.0
    feature_weight: float = 1.0


@dataclass(frozen=True)
class Recipe:
    run: RunConfig
    model: ModelSection = field(default_factory=ModelSection)
    vae: VAESection = field(default_factory=VAESection)
    text: TextSection = field(default_factory=TextSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    dmd: DMDConfig = field(default_factory=DMDConfig)
    vae_train: VAETrainConfig = field(default_factory=VAETrainConfig)
    source: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(fields)})")
    values = {}
    for name, value in data.items():
        default = fields[name].default
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        values[name] = value
    return cls(**values)


_SECTIONS = {
    "run": RunConfig,
    "model": ModelSection,
    "vae": VAESection,
    "text": TextSection,
    "data": DataSection,
    "optim": OptimConfig,
    "flow": FlowConfig,
    "dmd": DMDConfig,
    "vae_train": VAETrainConfig,
}


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``section.key=value`` items (value in TOML syntax, or a bare string) applied to a recipe dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or not name or section not in _SECTIONS:
            raise ValueError(f"override {item!r}: expected SECTION.KEY=VALUE with SECTION in {', '.join(_SECTIONS)}")
        data.setdefault(section, {})[name] = _parse_value(value)
    return data


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a TOML recipe; errors name the file and the offending key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"recipe not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    data = apply_overrides(data, overrides or [])
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown sections {', '.join(unknown)}")
    if "run" not in data or "stage" not in data["run"]:
        raise ValueError(f"{path}: [run] stage is required (vae, bidirectional or streaming)")
    sections = {name: _build(cls, data.get(name, {}), f"{path} [{name}]") for name, cls in _SECTIONS.items()}
    recipe = Recipe(**sections, source=str(path))
    if recipe.run.stage not in ("vae", "bidirectional", "streaming"):
        raise ValueError(f"{path}: [run] stage must be vae, bidirectional or streaming, got {recipe.run.stage!r}")
    if recipe.run.parallel not in ("ddp", "fsdp"):
        raise ValueError(f"{path}: [run] parallel must be ddp or fsdp, got {recipe.run.parallel!r}")
    if recipe.run.parallel == "fsdp" and recipe.run.stage == "vae":
        raise ValueError(f"{path}: [run] parallel = fsdp is for the DiT stages; the VAE stage uses ddp")
    dmd = recipe.dmd
    generator_terms = (dmd.weight, dmd.regression, dmd.pixels)
    if min(generator_terms) < 0 or (recipe.run.stage == "streaming" and sum(generator_terms) == 0):
        raise ValueError(f"{path}: [dmd] weight, regression and pixels must be >= 0 and not all 0")
    if dmd.warped_temporal < 0:
        raise ValueError(f"{path}: [dmd] warped_temporal must be >= 0, got {dmd.warped_temporal!r}")
    if dmd.regression_units not in ("normalized", "raw"):
        raise ValueError(f"{path}: [dmd] regression_units must be normalized or raw, got {dmd.regression_units!r}")
    if recipe.run.stage == "streaming" and dmd.weight == 0 and not recipe.model.init:
        raise ValueError(f"{path}: [dmd] weight = 0 (no teacher to start from) needs [model] init")
    if recipe.data.val_manifest and (recipe.run.stage != "streaming" or not dmd.paired):
        raise ValueError(
            f"{path}: [data] val_manifest is for the streaming stage on pairs "
            "(dmd.regression, dmd.pixels or dmd.warped_temporal > 0)"
        )
    if recipe.run.val_every < 1 or recipe.data.val_samples < 1:
        raise ValueError(f"{path}: [run] val_every and [data] val_samples must be at least 1")
    if recipe.optim.train_only and recipe.run.stage == "vae":
        raise ValueError(f"{path}: [optim] train_only is for the DiT stages; the VAE stage has vae_train.mode")
    if not 0 <= recipe.optim.cooldown <= 1:
        raise ValueError(f"{path}: [optim] cooldown must be within [0, 1], got {recipe.optim.cooldown!r}")
    return recipe
