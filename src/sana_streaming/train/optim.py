"""Optimisation helpers: AdamW with a linear warm-up, a constant learning rate (official) or a linear cool-down at
the end, and an EMA of weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sana_streaming.train.distributed import full_tensor, like
from sana_streaming.train.recipe import OptimConfig


def make_optimizer(
    params, cfg: OptimConfig, lr: float | None = None, total_steps: int = 0
) -> tuple[torch.optim.Optimizer, object]:
    """AdamW and a LambdaLR: :func:`lr_factor` of ``cfg`` for a run of ``total_steps`` steps."""
    optimizer = torch.optim.AdamW(
        params, lr=lr or cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg, total_steps))
    return optimizer, scheduler


def trainable(module: nn.Module, prefixes: Sequence[str] = ()) -> list[nn.Parameter]:
    """The parameters of ``module`` that train: all of them, or those named by one of ``prefixes`` (a parameter's
    dotted name or a module's above it: "final_layer", "blocks.3"), the others frozen (``requires_grad`` off). A
    prefix that names no parameter is refused."""
    if not prefixes:
        return list(module.parameters())
    named = dict(module.named_parameters())

    def under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    unknown = [prefix for prefix in prefixes if not any(under(name, prefix) for name in named)]
    if unknown:
        roots = sorted({name.split(".")[0] for name in named})
        names = ", ".join(unknown)
        raise ValueError(f"optim.train_only: {names} names no parameter (the model has {', '.join(roots)})")
    chosen = []
    for name, param in named.items():
        param.requires_grad_(param.requires_grad and any(under(name, prefix) for prefix in prefixes))
        if param.requires_grad:
            chosen.append(param)
    return chosen


def lr_factor(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """The learning rate of ``step`` (from 0) over the base rate: a linear warm-up over ``cfg.warmup_steps``, then
    constant (official); with ``cfg.cooldown`` > 0, it falls linearly to 0 over that share of the last of
    ``total_steps`` (a run that is continued with more steps warms up to the full rate again, then cools down)."""
    factor = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.cooldown > 0 and total_steps > 0:
        factor = min(factor, (total_steps - step) / (cfg.cooldown * total_steps))
    return max(0.0, factor)


class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers (kept in float32).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the ``n`` updates since ``start``, so a short
    run's average follows its recent weights instead of keeping a share of the initial ones (with a constant
    0.999, 600 steps would leave 55% of the initialisation in the average).

    With an FSDP2-sharded module the average is sharded like the weights; ``state_dict`` and ``copy_to``
    gather it (every process must call them) and ``load_state_dict`` shards whole tensors again.
    """

    def __init__(self, module: nn.Module, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.shadow = {k: v.detach().float().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        since = step - self.start
        decay = 0.0 if since < 0 else min(self.decay, (1 + since) / (10 + since))
        for key, value in module.state_dict().items():
            if key in self.shadow:
                self.shadow[key].mul_(decay).add_(value.detach().float(), alpha=1 - decay)

    def copy_to(self, module: nn.Module) -> None:
        """Load the average into ``module`` (an unsharded copy of the averaged one)."""
        shadow = {k: full_tensor(v) for k, v in self.shadow.items()}
        state = module.state_dict()
        module.load_state_dict({k: shadow[k].to(v) if k in shadow else v for k, v in state.items()})

    def state_dict(self) -> dict:
        shadow = {k: full_tensor(v) for k, v in self.shadow.items()}
        return {"decay": self.decay, "start": self.start, "shadow": shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.start = state["decay"], state["start"]
        self.shadow = {k: like(v, self.shadow[k]).clone() for k, v in state["shadow"].items()}


def clip_and_step(params, optimizer, scheduler, max_norm: float) -> float:
    """Clip the global gradient norm, step; returns the norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if max_norm > 0 else torch.tensor(0.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(full_tensor(norm))
