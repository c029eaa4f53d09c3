"""The learning-rate schedule: warm-up, constant (official), and the optional linear cool-down at the end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sana_streaming.train.optim import lr_factor, make_optimizer
from sana_streaming.train.recipe import OptimConfig, load_recipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny_bidirectional.toml"


def _rates(cfg: OptimConfig, total: int, steps: int) -> list[float]:
    """The learning rate each of ``steps`` optimiser steps used, through the real optimizer and scheduler."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer, scheduler = make_optimizer([weight], cfg, total_steps=total)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        weight.grad = torch.ones(1)
        optimizer.step()
        scheduler.step()
    return rates


def test_constant_after_warmup_without_cooldown():
    rates = _rates(OptimConfig(lr=1.0, warmup_steps=4), total=10, steps=10)
    assert rates == pytest.approx([0.25, 0.5, 0.75] + [1.0] * 7)


def test_cooldown_falls_linearly_to_zero_over_the_last_share():
    # total 10, cooldown 0.5: the last 5 steps (5..9) use (10 - step) / 5 -> 1.0, 0.8, 0.6, 0.4, 0.2
    rates = _rates(OptimConfig(lr=2.0, warmup_steps=2, cooldown=0.5), total=10, steps=10)
    assert rates == pytest.approx([1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.6, 1.2, 0.8, 0.4])
    assert lr_factor(10, OptimConfig(cooldown=0.5), 10) == 0.0  # past the end: never negative


def test_a_continued_run_warms_back_up_then_cools_down_again():
    cfg = OptimConfig(warmup_steps=1, cooldown=0.25)
    assert lr_factor(399, cfg, 400) == pytest.approx(1 / 100)  # the end of a 400-step run
    assert lr_factor(400, cfg, 800) == 1.0  # resumed towards 800 steps: full rate again
    assert lr_factor(700, cfg, 800) == pytest.approx(0.5)


def test_recipe_rejects_a_cooldown_outside_zero_to_one():
    with pytest.raises(ValueError, match=r"cooldown must be within \[0, 1\]"):
        load_recipe(RECIPE, ["optim.cooldown=1.5"])
    assert load_recipe(RECIPE, ["optim.cooldown=0.3"]).optim.cooldown == 0.3
