"""run.cpu_threads: torchrun's one thread a process becomes a share of the cores; explicit settings are kept."""

from __future__ import annotations

import os

import pytest
import torch

from sana_streaming.train.distributed import AUTO_THREADS_CAP, set_cpu_threads


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _torchrun(monkeypatch, processes: int, omp: str) -> None:
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(processes))
    monkeypatch.setenv("OMP_NUM_THREADS", omp)


def test_torchrun_default_gets_a_share_of_the_cores(threads, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    _torchrun(monkeypatch, 8, "1")
    torch.set_num_threads(1)
    assert set_cpu_threads() == 4  # 32 cores over 8 processes
    _torchrun(monkeypatch, 2, "1")
    torch.set_num_threads(1)
    assert set_cpu_threads() == AUTO_THREADS_CAP  # 16 each, capped


def test_explicit_settings_are_kept(threads, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    _torchrun(monkeypatch, 2, "3")  # the user's OMP_NUM_THREADS
    torch.set_num_threads(3)
    assert set_cpu_threads() == 3
    _torchrun(monkeypatch, 2, "1")
    assert set_cpu_threads(2) == 2  # run.cpu_threads wins
    with pytest.raises(ValueError, match="cpu_threads"):
        set_cpu_threads(-1)


def test_one_process_is_left_alone(threads, monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(2)
    assert set_cpu_threads() == 2
