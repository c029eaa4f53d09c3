"""Several processes (``torchrun``): process group set-up, the rank's share of a global batch, gradient sync,
and whole-model state for checkpoints.

``run.parallel = "ddp"`` (small models): every process holds the whole model and gradients are averaged, so N
processes with B / N samples each compute what one process computes with B samples. ``"fsdp"`` (FSDP2, the 2B
DiT): each block's weights, gradients and optimizer state are sharded over the processes and gathered only
while the block runs; the arithmetic is the same. Checkpoints hold whole (gathered) tensors either way, so a
run can resume on a different number of processes (with the same ``run.parallel``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    parallel: str = "ddp"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        """Whether the DiTs are sharded with FSDP2."""
        return self.size > 1 and self.parallel == "fsdp"

    def shard(self, items: list) -> list:
        """This rank's contiguous share of a global batch (the batch size must divide evenly)."""
        if len(items) % self.size:
            raise ValueError(f"global batch of {len(items)} does not split over {self.size} processes")
        per = len(items) // self.size
        return items[self.rank * per : (self.rank + 1) * per]


def local_device(name: str) -> torch.device:
    """The device of this process: ``auto`` is CUDA when present; under ``torchrun`` CUDA means the process's
    own GPU (``LOCAL_RANK``)."""
    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)
    if device.type == "cuda" and device.index is None:  # set_device needs an index
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


# Threads a process's CPU work gets under torchrun, which sets OMP_NUM_THREADS=1 unless it is set: on 2 H200s
# the 2B stage-1 step took 4.18 s with 1 thread a process and 3.58 s with 8 (the host side of a step: clip
# concatenation, the pageable copies; benchmarks/NOTES.md, issue 7).
AUTO_THREADS_CAP = 8


def set_cpu_threads(requested: int = 0) -> int:
    """Set this process's intra-op CPU threads and return them.

    ``requested`` > 0 sets that many. 0 (auto) leaves one process alone as it is; under torchrun (``LOCAL_WORLD_SIZE``
    in the environment) with torchrun's default of one thread (``OMP_NUM_THREADS=1``), it gives each process
    its share of the cores, at most ``AUTO_THREADS_CAP``. An ``OMP_NUM_THREADS`` other than 1 is kept.
    """
    if requested < 0:
        raise ValueError(f"run.cpu_threads must be 0 (auto) or more, got {requested}")
    if requested:
        torch.set_num_threads(requested)
    elif "LOCAL_WORLD_SIZE" in os.environ and os.environ.get("OMP_NUM_THREADS") == "1":
        local = max(1, int(os.environ["LOCAL_WORLD_SIZE"]))
        torch.set_num_threads(max(1, min(AUTO_THREADS_CAP, (os.cpu_count() or 1) // local)))
    return torch.get_num_threads()


def init_world(device: torch.device, parallel: str = "ddp") -> World:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU, NCCL on GPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(parallel=parallel)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), parallel)


def wrap(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """What the training step calls: DDP over the world, or the module itself (one process, or FSDP2, which
    shards the module in place; see :func:`shard_dit`)."""
    if world.size == 1 or world.sharded:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


FSDP_PARAM_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def shard_dit(
    model: nn.Module,
    world: World,
    device: torch.device,
    param_dtype: str = "float32",
    reshard_after_forward: bool = True,
) -> nn.Module:
    """Shard a SanaStreamingTransformer in place with FSDP2 (no-op unless ``world.sharded``).

    Units: each block's cross-attention (its text keys/values are computed outside the block, once per
    prompt), each block, and the root (embedders, final layer). ``encode_text``, ``forward_chunk`` and
    ``text_context`` gather their unit's weights like ``forward`` does. ``param_dtype`` "bfloat16" gathers the
    weights in bfloat16 (FSDP2's mixed precision: gradients reduced in float32 into float32 shards).
    ``reshard_after_forward`` False keeps each block's gathered weights from its forward to its backward.
    """
    if not world.sharded:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

    if param_dtype not in FSDP_PARAM_DTYPES:
        raise ValueError(f"fsdp_param_dtype must be one of {', '.join(FSDP_PARAM_DTYPES)}, got {param_dtype!r}")
    dtype = FSDP_PARAM_DTYPES[param_dtype]
    # Only the root casts its inputs (the latents and the text condition) to the gathered dtype; what reaches a
    # block was made by the root's bfloat16 weights already, except the float32 RoPE tables, which stay float32.
    # Casting block inputs too broke activation checkpointing on torch 2.11: its FSDP2 cast them in the forward
    # pass and not in the recomputation.
    root = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    inner = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32, cast_forward_inputs=False)
    mesh = init_device_mesh(device.type, (world.size,))
    for block in model.blocks:
        fully_shard(block.cross_attn, mesh=mesh, mp_policy=inner, reshard_after_forward=reshard_after_forward)
        register_fsdp_forward_method(block.cross_attn, "text_context")
        fully_shard(block, mesh=mesh, mp_policy=inner, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=root)
    for method in ("encode_text", "forward_chunk"):
        register_fsdp_forward_method(model, method)
    return model


def average_gradients(module: nn.Module, world: World) -> None:
    """Average the gradients of ``module`` over processes (for modules driven outside DDP's forward; FSDP2
    shards arrive averaged already)."""
    if world.size == 1:
        return
    for param in module.parameters():
        if param.grad is not None and not isinstance(param.grad, DTensor):
            dist.all_reduce(param.grad)
            param.grad /= world.size


def mean_across(value: float, world: World) -> float:
    """The mean of a scalar over processes (for logging)."""
    if world.size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor) / world.size


# -- whole-model state for checkpoints (collective under FSDP2: every process must call these) ---------------


def full_tensor(value):
    """A sharded DTensor gathered whole (on every process); anything else unchanged."""
    return value.full_tensor() if isinstance(value, DTensor) else value


def like(value: torch.Tensor, reference):
    """A whole tensor laid out like ``reference`` (sharded again when it is a DTensor)."""
    if isinstance(reference, DTensor):
        return distribute_tensor(
            value.to(reference.device_mesh.device_type), reference.device_mesh, reference.placements
        )
    return value.to(reference.device)


def model_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict with whole tensors."""
    return {k: full_tensor(v) for k, v in module.state_dict().items()}


def load_model_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load whole tensors into a module, sharded or not."""
    current = module.state_dict()
    module.load_state_dict({k: like(v, current[k]) if k in current else v for k, v in state.items()})


def optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer, world: World) -> dict:
    """The optimizer's state dict; under FSDP2 with whole tensors keyed by parameter name."""
    if not world.sharded:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    # Whole tensors on the CPU of process 0 only (the one that writes); the others get an empty dict.
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(module, optimizer, options=options)


def load_optimizer_state(module: nn.Module, optimizer: torch.optim.Optimizer, state: dict, world: World) -> None:
    if not world.sharded:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(module, optimizer, state, options=StateDictOptions(full_state_dict=True))
