"""Several processes (``torchrun``): process group set-up, the rank's share of a global batch, gradient sync.

Small models use DDP; every process holds the whole model and gradients are averaged, so N processes with
B / N samples each compute what one process computes with B samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's contiguous share of a global batch (the batch size must divide evenly)."""
        if len(items) % self.size:
            raise ValueError(f"global batch of {len(items)} does not split over {self.size} processes")
        per = len(items) // self.size
        return items[self.rank * per : (self.rank + 1) * per]


def init_world(device: torch.device) -> World:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, NCCL on GPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def wrap(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DDP over the world (a no-op for one process)."""
    if world.size == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def average_gradients(module: nn.Module, world: World) -> None:
    """Average the gradients of ``module`` over processes (for modules driven outside DDP's forward)."""
    if world.size == 1:
        return
    for param in module.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= world.size


def mean_across(value: float, world: World) -> float:
    """The mean of a scalar over processes (for logging)."""
    if world.size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor) / world.size
