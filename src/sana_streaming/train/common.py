"""Pieces the training stages share: building parts from a recipe, deterministic batches, text features."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

from sana_streaming.hub import resolve_local_model
from sana_streaming.models.config import get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.text.base import TextEncoder
from sana_streaming.train.recipe import Recipe
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import get_vae_config


def seeded(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator determined by (seed, keys): the same draws whatever the process count or a resume."""
    digest = hashlib.blake2b(repr((seed, *keys)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


class BatchItems:
    """This process's share of each step's global batch, as (global sample number, item) pairs.

    Item ``i`` of the step's batch is drawn in epoch ``step * batch // len(dataset)`` (a dataset with an
    ``item(index, epoch)`` method; any other sequence is indexed), so a batch depends on the step alone. With
    ``workers`` > 0, threads load the items of the next ``ahead`` steps while the current one trains (the
    decoding and resizing release the GIL); the items are the same either way. With ``pin`` as well, those threads
    also put the items' tensors in page-locked memory, so that their copies to the GPU (``stack_to``) run
    asynchronously instead of on the training thread.
    """

    def __init__(
        self, dataset: Sequence, batch: int, seed: int, world, workers: int = 0, ahead: int = 2, pin: bool = False
    ) -> None:
        if workers < 0:
            raise ValueError(f"data.num_workers must be 0 or more, got {workers}")
        self.dataset, self.batch, self.seed, self.world, self.ahead = dataset, batch, seed, world, ahead
        self.pin = pin and workers > 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="data") if workers else None
        self._pending: dict[int, list[tuple[int, Future]]] = {}

    def numbered(self, step: int) -> list[tuple[int, int]]:
        """(global sample number, dataset index) of this process's share of the batch of ``step``."""
        indices = global_indices(step, self.batch, len(self.dataset), self.seed)
        return self.world.shard(list(enumerate(indices, start=step * self.batch)))

    def _load(self, index: int, epoch: int) -> dict:
        item = getattr(self.dataset, "item", None)
        loaded = item(index, epoch) if item is not None else self.dataset[index]
        if self.pin:
            loaded = {k: v.pin_memory() if isinstance(v, Tensor) else v for k, v in loaded.items()}
        return loaded

    def _submit(self, step: int) -> list[tuple[int, Future]]:
        epoch = step * self.batch // len(self.dataset)
        return [(number, self._pool.submit(self._load, index, epoch)) for number, index in self.numbered(step)]

    def __call__(self, step: int) -> list[tuple[int, dict]]:
        if self._pool is None:
            epoch = step * self.batch // len(self.dataset)
            return [(number, self._load(index, epoch)) for number, index in self.numbered(step)]
        for stale in [s for s in self._pending if s < step or s > step + self.ahead]:  # a resume, a jump
            for _, future in self._pending.pop(stale):
                future.cancel()
        for ahead in range(step, step + self.ahead + 1):
            if ahead not in self._pending:
                self._pending[ahead] = self._submit(ahead)
        return [(number, future.result()) for number, future in self._pending.pop(step)]

    def close(self) -> None:
        """Stop the loading threads (pending loads are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pending.clear()


def batch_items(recipe: Recipe, dataset: Sequence, world, device: torch.device) -> BatchItems:
    """A stage's BatchItems as its recipe's data section sets them (pinned on CUDA with ``data.pin_memory``)."""
    data = recipe.data
    pin = data.pin_memory and torch.device(device).type == "cuda"
    return BatchItems(dataset, data.batch_size, recipe.run.seed, world, data.num_workers, pin=pin)


def stack_to(tensors: Sequence[Tensor], device: torch.device) -> Tensor:
    """``torch.stack(tensors).to(device)``, but each CPU tensor copied on its own and stacked on ``device``:
    copies from pinned memory then run asynchronously, and no stacked copy is made in CPU memory."""
    return torch.stack([t.to(device, non_blocking=True) for t in tensors])


def global_indices(step: int, batch: int, size: int, seed: int) -> list[int]:
    """Dataset indices of the global batch of ``step``: epochs are seeded permutations walked in order."""
    out = []
    for position in range(step * batch, (step + 1) * batch):
        epoch, offset = divmod(position, size)
        out.append(int(torch.randperm(size, generator=seeded(seed, -1, epoch))[offset]))
    return out


def build_model(
    recipe: Recipe, device: torch.device, init: str | None = None, preset: str | None = None
) -> SanaStreamingTransformer:
    """A DiT in train mode, float32: from ``init`` (default ``model.init``: a model folder or an official
    checkpoint of architecture ``preset``, default ``model.preset``), else ``preset`` with random weights."""
    from sana_streaming.engine.loading import load_model

    source = init if init is not None else recipe.model.init
    preset = preset or recipe.model.preset
    if source:
        return load_model(source, preset=preset, device=device, dtype=torch.float32).part.train()
    torch.manual_seed(recipe.run.seed)
    return SanaStreamingTransformer(get_config(preset)).to(device).train()


def build_vae(recipe: Recipe, device: torch.device) -> VideoAutoencoder:
    """The frozen VAE: ``vae.path`` (a trained folder, a diffusers-layout folder such as LTX-2's, or a model id
    in the local Hugging Face cache), else the ``vae.preset`` with random weights (tests and benchmarks)."""
    if recipe.vae.path:
        hint = "set vae.path to a folder holding config.json and the weights"
        folder = resolve_local_model(recipe.vae.path, "the VAE", hint, subfolders=("vae",))
        vae = VideoAutoencoder.from_pretrained(folder, device=device)
    else:
        torch.manual_seed(recipe.run.seed)
        vae = VideoAutoencoder(get_vae_config(recipe.vae.preset)).to(device)
    return vae.eval().requires_grad_(False)


def build_text_encoder(recipe: Recipe, device: torch.device, model: SanaStreamingTransformer) -> TextEncoder:
    """``text.encoder`` as the editor takes it: minilm, gemma, gemma:PATH or a folder (cached per prompt)."""
    from sana_streaming.engine.loading import load_text_encoder

    return load_text_encoder(recipe.text.encoder, model, device=device).part


def text_batch(
    encoder: TextEncoder, prompts: Sequence[str], null: Tensor, drop: Sequence[bool]
) -> tuple[Tensor, Tensor]:
    """Features (B, L, C) and mask (B, L); dropped prompts become the model's null caption (all positions valid)."""
    features, mask = encoder.encode(list(prompts))
    length = min(features.shape[1], null.shape[0])
    features, mask = features[:, :length].clone(), mask[:, :length].clone()
    for i, dropped in enumerate(drop):
        if dropped:
            features[i] = null[:length].to(features)
            mask[i] = 1
    return features, mask


@torch.no_grad()
def encode_latents(vae: VideoAutoencoder, video: Tensor) -> Tensor:
    """Pixels (B, 3, T, H, W) in [-1, 1] -> the DiT's normalised latents (posterior mode, causal encoder)."""
    return vae.normalize(vae.encode(video.to(vae.dtype))).float()
