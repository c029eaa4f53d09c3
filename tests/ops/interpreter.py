"""Running a test body in Triton's interpreter on the CPU (a fresh process: the mode is read at import)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def run_interpreted(code: str, timeout: int = 600) -> None:
    """Run ``code`` in a fresh Python with ``TRITON_INTERPRET=1`` from the repository root; fail with its
    stderr. Skipped where a GPU runs the native test instead, and with numpy >= 2.3 (Triton 3.6's interpreter
    converts 1-element arrays with int())."""
    if torch.cuda.is_available():
        pytest.skip("the native GPU test covers this")
    if tuple(int(p) for p in __import__("numpy").__version__.split(".")[:2]) >= (2, 3):
        pytest.skip("Triton 3.6's interpreter needs numpy < 2.3")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "TRITON_INTERPRET": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
