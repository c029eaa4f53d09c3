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


def test_clips_for_measuring_load_through_opencv_without_pyav(tmp_path):
    """eval-model's and vae_psnr's clip loader reads files through OpenCV where PyAV is missing: the same frames
    up to the two decoders' YUV -> RGB rounding."""
    import numpy as np

    from sana_streaming.eval.report import load_clip
    from tests.train.data.synthetic import sample_clip

    video = sample_clip("carphone_pristine.mp4")
    out = tmp_path / "frames.npy"
    done = run(
        "import numpy as np\n"
        "from sana_streaming.eval.report import load_clip\n"
        f"clip = load_clip({video!r}, fps=16, size=(64, 48), max_frames=17)\n"
        f"np.save({str(out)!r}, clip.frames)\n"
        "print(clip.fps)"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reference = load_clip(video, fps=16, size=(64, 48), max_frames=17)
    frames = np.load(out)
    assert frames.shape == reference.frames.shape == (17, 48, 64, 3) and float(done.stdout) == reference.fps
    assert np.abs(frames.astype(int) - reference.frames.astype(int)).mean() < 2.0
