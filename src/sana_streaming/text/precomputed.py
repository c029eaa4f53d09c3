"""Text features computed once and stored in a file: training and editing where the text encoder's weights
are not at hand (a GPU machine without the MiniLM package, say), for a known set of prompts.

    save_text_features(MiniLMTextEncoder(), prompts, "features.safetensors")
    encoder = PrecomputedTextEncoder("features.safetensors")   # or text encoder spec "features:PATH"
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from sana_streaming.text.base import PromptError, TextEncoder, check_prompts


def save_text_features(encoder: TextEncoder, prompts: Sequence[str], path: str | Path, batch: int = 32) -> Path:
    """Encode the distinct ``prompts`` with ``encoder`` and write features (float16) and masks to ``path``.

    Only the token positions up to the last one any prompt uses are stored (14 of MiniLM's 64 for the edit
    families' prompts: a quarter of the file); the rest come back as masked zeros, which the model's masked
    cross-attention ignores like the encoder's own padding features."""
    unique = list(dict.fromkeys(check_prompts(prompts)))
    features, masks = [], []
    for start in range(0, len(unique), batch):
        f, m = encoder.encode(unique[start : start + batch])
        features.append(f.to(torch.float16))
        masks.append(m.to(torch.int8))
    features, mask = torch.cat(features), torch.cat(masks)
    used = mask.any(dim=0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"prompts": json.dumps(unique), "encoder": encoder.name, "max_tokens": str(mask.shape[1])}
    save_file(
        {"features": features[:, :length].contiguous(), "mask": mask[:, :length].contiguous()},
        str(path),
        metadata=metadata,
    )
    return path


class PrecomputedTextEncoder(TextEncoder):
    """Looks prompts up in a file written by :func:`save_text_features`; a prompt not in it is a PromptError."""

    def __init__(self, path: str | Path) -> None:
        from safetensors import safe_open

        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"text features not found: {path}")
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        if "prompts" not in metadata:
            raise ValueError(f"{path}: not a text-features file (no prompt list)")
        tensors = load_file(str(path))
        self.path = path
        self.features, self.mask = tensors["features"], tensors["mask"]
        pad = int(metadata.get("max_tokens", self.mask.shape[1])) - self.mask.shape[1]  # unused positions
        if pad > 0:
            self.features = torch.nn.functional.pad(self.features, (0, 0, 0, pad))
            self.mask = torch.nn.functional.pad(self.mask, (0, pad))
        self.index = {prompt: i for i, prompt in enumerate(json.loads(metadata["prompts"]))}
        self.feature_dim, self.max_tokens = self.features.shape[2], self.features.shape[1]
        self.name = f"precomputed {metadata.get('encoder', '')}".strip()

    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        prompts = check_prompts(prompts)
        missing = [p for p in prompts if p not in self.index]
        if missing:
            raise PromptError(f"prompt not in {self.path.name} ({len(self.index)} prompts): {missing[0]!r}")
        rows = torch.tensor([self.index[p] for p in prompts])
        return self.features[rows].float(), self.mask[rows].long()
