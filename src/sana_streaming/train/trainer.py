"""The training loop shared by every stage: resume, progress with ETA, logs, checkpoints, export.

``sana-streaming train RECIPE [section.key=value ...]``; under ``torchrun`` each process takes its share of
every global batch. Ctrl-C saves a checkpoint of the last finished step before leaving.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from sana_streaming.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from sana_streaming.train.distributed import World, init_world, local_device, mean_across, set_cpu_threads
from sana_streaming.train.recipe import Recipe


def make_stage(recipe: Recipe, device: torch.device, world: World, dataset: Sequence | None = None, **parts):
    """The stage object of ``recipe.run.stage`` (datasets come from the recipe's manifest unless given)."""
    stage = recipe.run.stage
    if stage == "bidirectional":
        from sana_streaming.train.stages.bidirectional import BidirectionalStage

        return BidirectionalStage(recipe, device, world, dataset=dataset or _pair_dataset(recipe), **parts)
    if stage == "streaming":
        from sana_streaming.train.stages.streaming import StreamingStage

        if dataset is None:  # the regression and pixel terms need the ground-truth edits: pairs of the rollout's length
            dataset = _pair_dataset(recipe, _rollout_frames(recipe)) if recipe.dmd.paired else _long_dataset(recipe)
        if recipe.data.val_manifest and "val_dataset" not in parts:  # whole windows, no scene cuts
            manifest = recipe.data.val_manifest
            parts["val_dataset"] = _pair_dataset(recipe, _rollout_frames(recipe), manifest=manifest, cut_prob=0.0)
        return StreamingStage(recipe, device, world, dataset=dataset, **parts)
    from sana_streaming.train.stages.vae import VAEStage

    return VAEStage(recipe, device, world, dataset=dataset or _pair_dataset(recipe), **parts)


def _pair_dataset(recipe: Recipe, num_frames: int | None = None, manifest: str = "", cut_prob: float | None = None):
    from sana_streaming.train.data.datasets import PairClipDataset

    data = recipe.data
    return PairClipDataset(
        manifest or data.manifest,
        num_frames=num_frames or data.num_frames,
        buckets=data.buckets,
        seed=recipe.run.seed,
        crop_scale=data.crop_scale,
        cut_prob=data.cut_prob if cut_prob is None else cut_prob,
    )


def _long_dataset(recipe: Recipe):
    from sana_streaming.train.data.datasets import LongVideoDataset

    data = recipe.data
    return LongVideoDataset(
        data.manifest, num_frames=_rollout_frames(recipe), size=tuple(data.buckets[0]), seed=recipe.run.seed
    )


def _rollout_frames(recipe: Recipe) -> int:
    """Video frames of the streaming stage's rollout: dmd.latent_frames, 8 video frames each after the first."""
    return 1 + 8 * (recipe.dmd.latent_frames - 1)


class _Logger:
    """Scalars to TensorBoard (when installed) and to ``log.jsonl``; main process only."""

    def __init__(self, out_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = (out_dir / "log.jsonl").open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:  # tensorboard is optional (pip install tensorboard)
            self.writer = None

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
            if self.writer is not None:
                self.writer.close()


def train(
    recipe: Recipe,
    *,
    dataset: Sequence | None = None,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    **parts,
) -> list[dict]:
    """Run (or resume) a recipe; returns the logged rows of this process. ``stop_after`` ends early (tests)."""
    device = local_device(recipe.run.device)
    set_cpu_threads(recipe.run.cpu_threads)
    world = init_world(device, recipe.run.parallel)
    out_dir = Path(recipe.run.out_dir)
    stage = make_stage(recipe, device, world, dataset, **parts)
    start = 0
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        start, weights, state = load_checkpoint(checkpoint)
        stage.load(weights, state["stage"])
    logger = _Logger(out_dir, world.main)
    end = recipe.run.steps if stop_after is None else min(recipe.run.steps, stop_after)
    bar = _bar(start, recipe.run.steps, progress and world.main)
    rows, step, began, timed_out = [], start, time.perf_counter(), False
    best = _Best(out_dir, stage, world, logger)
    try:
        for step in range(start, end):
            values = stage.train_step(step)
            values = {k: mean_across(v, world) for k, v in values.items()}
            rows.append({"step": step, **values})
            if step % recipe.run.log_every == 0 or step == end - 1:
                logger.log(step, {**values, "samples_per_s": _rate(step - start + 1, began, recipe)})
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in values.items() if k in ("loss", "loss_dmd", "recon")})
            if (step + 1) % recipe.run.save_every == 0:
                _save(out_dir, step + 1, stage, world)
            if (step + 1) % recipe.run.val_every == 0:
                best.validate(step + 1)
            if _out_of_time(recipe.run.time_limit_s, began, world) and step + 1 < end:
                end = step + 1
                timed_out = True
                break
        step = end
        if end > start and end % recipe.run.val_every:
            best.validate(end)  # the weights the run ends with
    except KeyboardInterrupt:
        _save(out_dir, step, stage, world)  # steps before `step` are all finished
        raise
    finally:
        if bar is not None:
            bar.close()
        logger.close()
        stage.items.close()  # the data threads
    _save(out_dir, end, stage, world)
    if timed_out and world.main:
        print(f"time limit of {recipe.run.time_limit_s:g} s reached: stopped after step {end} of {recipe.run.steps}")
    if end == recipe.run.steps or timed_out:
        stage.export(out_dir / "final")  # every process: gathering sharded weights is collective
    if best.value < float("inf") and world.main:
        record = json.loads((best.folder / "validation.json").read_text())
        print(f"best validation: val_mse {record['val_mse']:.4g} after step {record['step']}, in {best.folder}")
    return rows


class _Best:
    """Validation (stages that have it, e.g. the streaming stage with data.val_manifest): logs each validation
    and exports the weights of the lowest error so far to ``best`` (with ``validation.json``; a resumed run
    reads it and goes on from that best)."""

    def __init__(self, out_dir: Path, stage, world: World, logger: _Logger) -> None:
        self.folder, self.stage, self.world, self.logger = out_dir / "best", stage, world, logger
        record = self.folder / "validation.json"
        self.value = json.loads(record.read_text())["val_mse"] if record.is_file() else float("inf")

    def validate(self, step: int) -> None:
        """Validate the weights after ``step`` steps (every process: the EMA is gathered)."""
        values = self.stage.validate() if hasattr(self.stage, "validate") else None
        if values is None:
            return
        self.logger.log(step, values)
        if values["val_mse"] < self.value:
            self.value = values["val_mse"]
            self.stage.export(self.folder)
            if self.world.main:
                (self.folder / "validation.json").write_text(json.dumps({"step": step, **values}) + "\n")


def _out_of_time(limit_s: float, began: float, world: World) -> bool:
    """Whether the time limit has passed; every process takes the same decision (the slowest one's clock)."""
    if limit_s <= 0:
        return False
    return mean_across(float(time.perf_counter() - began > limit_s), world) > 0


def _rate(steps: int, began: float, recipe: Recipe) -> float:
    return steps * recipe.data.batch_size / max(time.perf_counter() - began, 1e-9)


def _save(out_dir: Path, next_step: int, stage, world: World) -> None:
    weights, state = stage.weights(), stage.state()  # every process: gathering sharded weights is collective
    if world.main:
        save_checkpoint(out_dir, next_step, weights, {"stage": state})
    if world.size > 1:
        torch.distributed.barrier()


def _bar(start: int, total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", desc="training", dynamic_ncols=True)
