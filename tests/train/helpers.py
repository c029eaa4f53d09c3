"""Small training set-ups for CPU tests: a tiny DiT + VAE, synthetic paired clips, a recipe."""

from __future__ import annotations

import dataclasses
import os
import socket

import torch
import torch.multiprocessing as mp

from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.train.recipe import DataSection, OptimConfig, Recipe, RunConfig
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import VAEConfig
from tests.conftest import HashTextEncoder, small_config

FRAMES, HEIGHT, WIDTH = 9, 32, 32  # 9 frames -> 2 latent frames; a 2 x 2 latent grid
MICRO_VAE = VAEConfig(
    latent_channels=8,
    block_out_channels=(8, 16, 16),
    downsample_type=("temporal", "spatiotemporal", "spatiotemporal"),
    layers_per_block=(1, 1, 1, 1),
    decoder_block_out_channels=(8, 16, 32),
    decoder_layers_per_block=(1, 1, 1, 1),
    upsample_type=("spatiotemporal", "spatiotemporal", "temporal"),
    decoder_causal=True,
    name="micro",
)


def synthetic_pairs(count: int, seed: int = 0) -> list[dict]:
    """Smooth random clips (source) and their colour inversion (edit)."""
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(count):
        low = torch.rand(1, 3, 2, 4, 4, generator=gen) * 2 - 1
        source = torch.nn.functional.interpolate(low, size=(FRAMES, HEIGHT, WIDTH), mode="trilinear")[0]
        items.append(
            {
                "source": source,
                "edited": -source,
                "prompt": f"invert the colours {i % 2}",
                "reverse_prompt": "restore the colours",
                "family": "invert",
            }
        )
    return items


def parts(seed: int = 0):
    torch.manual_seed(seed)
    model = SanaStreamingTransformer(small_config(in_channels=8, source_channels=8)).train()
    vae = VideoAutoencoder(MICRO_VAE).eval().requires_grad_(False)
    return {"model": model, "vae": vae, "text_encoder": HashTextEncoder(model.cfg.caption_channels)}


def recipe(out_dir, stage: str = "bidirectional", **changes) -> Recipe:
    base = Recipe(
        run=RunConfig(stage=stage, out_dir=str(out_dir), steps=10, seed=0, log_every=1, save_every=1000),
        data=DataSection(batch_size=2),
        optim=OptimConfig(lr=2e-3, warmup_steps=5, grad_clip=1.0, ema_decay=0.9),
    )
    sections = {k: dataclasses.replace(getattr(base, k), **v) for k, v in changes.items()}
    return dataclasses.replace(base, **sections)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(target, rank: int, world: int, port: int, args: tuple, queue) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    result = target(*args)
    if rank == 0:
        queue.put(result)  # plain Python values
    torch.distributed.destroy_process_group()


def run_processes(target, world: int, *args, timeout: float = 300):
    """Run ``target(*args)`` in ``world`` spawned gloo processes (as torchrun would); returns rank 0's result."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_entry, args=(target, r, world, port, args, queue)) for r in range(world)]
    for p in procs:
        p.start()
    try:
        result = queue.get(timeout=timeout)
    finally:
        for p in procs:
            p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * world
    return result
