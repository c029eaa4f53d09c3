"""The editor, frames, transforms and push sources import where PyAV is missing (a GPU worker fed by a server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCK_PYAV = """
import sys
class Block:
    def find_spec(self, name, path, target=None):
        if name == "av" or name.startswith("av."):
            raise ImportError("no PyAV here")
sys.meta_path.insert(0, Block())
"""


def run(code: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", BLOCK_PYAV + code], cwd=root, capture_output=True, text=True)


def test_the_editor_imports_without_pyav():
    done = run(
        "import sana_streaming.io as io\n"
        "from sana_streaming.engine.editor import StreamingEditor\n"
        "from sana_streaming.io import PushSource, VideoFrame, fit_frame\n"
        "print('ok')"
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_file_sources_say_what_is_missing():
    done = run("from sana_streaming.io import open_source")
    assert done.returncode != 0 and "no PyAV here" in done.stderr
