"""The EMA's ramped decay: a short run's average follows its recent weights, a long run's decays at the set rate."""

from __future__ import annotations

import math

from torch import nn

from sana_streaming.train.optim import EMA


def _run(decay: float, updates: int, start: int = 0) -> float:
    """Initial weight 0, every update sees weight 1: the average's distance from 1 is the initial weights' share."""
    module = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(module.weight)
    ema = EMA(module, decay, start)
    nn.init.ones_(module.weight)
    for step in range(updates):
        ema.update(module, step)
    out = nn.Linear(1, 1, bias=False)
    ema.copy_to(out)
    return 1.0 - out.weight.item()


def test_short_run_keeps_almost_none_of_the_initial_weights():
    # by hand: the shares multiply to prod_{n<N} (1 + n) / (10 + n) = N! 9! / (N + 9)!
    share = math.factorial(600) * math.factorial(9) / math.factorial(609)
    assert abs(_run(0.999, 600) - share) < 1e-9
    assert share < 1e-15  # a constant 0.999 would keep 0.999 ** 600 = 55%


def _step_response(decay: float, updates: int) -> float:
    """The average's move after ``updates`` updates at weight 0 and one at weight 1: 1 - the decay applied."""
    module = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(module.weight)
    ema = EMA(module, decay)
    for step in range(updates):
        ema.update(module, step)
    nn.init.ones_(module.weight)
    ema.update(module, updates)
    out = nn.Linear(1, 1, bias=False)
    ema.copy_to(out)
    return out.weight.item()


def test_decay_ramps_up_to_the_set_rate():
    assert abs(_step_response(0.9, 200) - 0.1) < 1e-6  # (1 + 200) / 210 > 0.9: the set decay
    assert abs(_step_response(0.999, 200) - (1 - 201 / 210)) < 1e-6  # still on the ramp
    assert abs(_step_response(0.999, 0) - 0.9) < 1e-6  # the first update: decay 1 / 10


def test_before_start_the_average_copies_the_weights():
    assert _run(0.999, 5, start=10) == 0.0
