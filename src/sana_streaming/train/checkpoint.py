"""Training checkpoints with exact resume: weights as safetensors, optimiser/scheduler/RNG state in a torch file.

Layout: ``OUT/checkpoints/step_000500/{weights.safetensors, state.pt, step.json}``; ``latest`` points to the
newest. Randomness inside a step comes from generators seeded by (seed, step, sample), so a resumed run draws
exactly what the uninterrupted run drew; the global RNG states are saved too for anything else.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def _rng_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": pos,
        "has_gauss": has_gauss,
        "gauss": gauss,
    }
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir: Path, step: int, weights: dict[str, torch.Tensor], state: dict, keep: int = 2) -> Path:
    """Write a checkpoint atomically (a temporary folder renamed at the end) and prune old ones."""
    root = Path(out_dir) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / "weights.safetensors"))
    torch.save({**state, "rng": _rng_state()}, tmp / "state.pt")
    (tmp / "step.json").write_text(json.dumps({"step": step}) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    (root / "latest").write_text(final.name + "\n")
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out_dir: Path) -> Path | None:
    pointer = Path(out_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    return folder if (folder / "step.json").is_file() else None


def load_checkpoint(folder: Path) -> tuple[int, dict[str, torch.Tensor], dict]:
    """(step, weights, state); the global RNG states are restored."""
    step = json.loads((folder / "step.json").read_text())["step"]
    weights = load_file(str(folder / "weights.safetensors"))
    state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    _set_rng_state(state.pop("rng"))
    return step, weights, state
