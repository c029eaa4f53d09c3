"""``sana-streaming eval``: how faithful and how stable an edited video is, as numbers, curves and a table.

The edited clip sets the timeline: the source (and the reference edit, if any) are read at its frame rate
and fitted to its size the way the editor fits its input, so frame t of each shows the same moment.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sana_streaming.eval import metrics

PSNR_CAP_DB = 100.0  # identical frames count as 100 dB in averages


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float | None
    name: str


def load_clip(
    path: str | Path,
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    fit: str = "crop",
    max_frames: int | None = None,
    half: str | None = None,
) -> Clip:
    """All frames of a video (resampled to ``fps``, fitted to ``size`` = (width, height)); ``half`` = "left" or
    "right" keeps that half of each frame (the editor's side-by-side output is source | edit)."""
    from sana_streaming.io.opencv_video import open_video_file
    from sana_streaming.io.transform import fit_frame

    frames = []
    with open_video_file(path, fps=fps) as source:  # through OpenCV where PyAV is missing
        rate = fps or source.fps
        for frame in source:
            image = frame.image
            if half is not None:
                middle = image.shape[1] // 2
                image = image[:, middle:] if half == "right" else image[:, :middle]
            if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
                image = fit_frame(image, size, fit)
            frames.append(np.ascontiguousarray(image))
            if max_frames is not None and len(frames) >= max_frames:
                break
        if source.error:
            raise ValueError(source.error)
    return Clip(np.stack(frames), rate, str(path))


def evaluate(
    source: np.ndarray,
    edited: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    first_chunk: int = 33,
    chunk: int = 24,
    progress: bool = False,
    flow: str = "dis",
) -> dict:
    """Every metric of ``metrics`` for clips of the same shape (T, H, W, 3); see the module docstring there.
    ``flow``: the source's flow estimator the warp errors follow (:data:`~sana_streaming.eval.metrics.FLOWS`)."""
    clips = {"edited": edited, "source": source}
    if reference is not None:
        clips["reference"] = reference
    shapes = {name: c.shape for name, c in clips.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"clips differ in shape: {shapes}")
    if len(source) < 2:
        raise ValueError(f"need at least 2 frames, got {len(source)}")
    bar = _bar(progress, len(source) - 1)
    motion = metrics.SourceMotion.of(source, bar, flow)
    bar.close()
    boundaries = metrics.chunk_transitions(len(source), first_chunk, chunk)
    warps = {name: metrics.warp_errors(frames, motion) for name, frames in clips.items()}
    cuts = metrics.scene_cuts(warps["source"])
    per_frame: dict[str, dict[str, list]] = {"warp_error": {}, "brightness": {}, "low_pass_change": {}}
    summary: dict[str, dict] = {}
    for name, frames in clips.items():
        warp = warps[name]
        warp[cuts] = np.nan  # no motion to follow across a cut in the source
        bright = metrics.brightness(frames)
        low = metrics.low_pass_changes(frames)
        per_frame["warp_error"][name] = warp
        per_frame["brightness"][name] = bright
        per_frame["low_pass_change"][name] = low
        summary[name] = {
            "warp_error": float(np.nanmean(warp)),
            "brightness_flicker": float(np.abs(np.diff(bright)).mean()),
            "low_pass_flicker": float(low.mean()),
            "jump_ratio": metrics.jump_ratio(warp, boundaries),
        }
    if reference is not None:
        db = metrics.psnr(edited, reference)
        structure = metrics.ssim(edited, reference)
        per_frame["psnr_db"] = {"edited": np.minimum(db, PSNR_CAP_DB)}
        per_frame["ssim"] = {"edited": structure}
        summary["fidelity"] = {
            "psnr_db": float(np.minimum(db, PSNR_CAP_DB).mean()),
            "psnr_db_min": float(np.minimum(db, PSNR_CAP_DB).min()),
            "ssim": float(structure.mean()),
            "warp_error_over_reference": _ratio(summary["edited"]["warp_error"], summary["reference"]["warp_error"]),
        }
    return {
        "frames": len(source),
        "size": [int(source.shape[2]), int(source.shape[1])],
        "chunk_layout": {"first_chunk": first_chunk, "chunk": chunk, "boundary_transitions": boundaries.tolist()},
        "flow": flow,
        "visible_fraction": float(motion.mask.mean()) if motion.mask.size else float("nan"),
        "scene_cut_transitions": cuts.tolist(),
        "summary": summary,
        "per_frame": {
            metric: {k: np.asarray(v).tolist() for k, v in rows.items()} for metric, rows in per_frame.items()
        },
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf") if a > 0 else 1.0


def format_table(report: dict) -> str:
    """The summary as a short terminal table."""
    summary = report["summary"]
    columns = ("warp_error", "brightness_flicker", "low_pass_flicker", "jump_ratio")
    header = f"{'':<10}" + "".join(f"{c.replace('_', ' '):>20}" for c in columns)
    lines = [header]
    for name in ("edited", "source", "reference"):
        if name in summary:
            lines.append(f"{name:<10}" + "".join(f"{summary[name][c]:>20.3f}" for c in columns))
    if "fidelity" in summary:
        fid = summary["fidelity"]
        lines.append(
            f"fidelity to the reference: PSNR {fid['psnr_db']:.2f} dB (worst frame {fid['psnr_db_min']:.2f}), "
            f"SSIM {fid['ssim']:.4f}; warp error {fid['warp_error_over_reference']:.2f}x the reference's"
        )
    cuts = report.get("scene_cut_transitions") or []
    lines.append(
        f"{report['frames']} frames at {report['size'][0]}x{report['size'][1]}; warp error and flicker on the "
        "0-255 scale; jump ratio = warp error across chunk boundaries / within chunks"
        + (f"; {len(cuts)} scene cut(s) in the source left out of the warp error" if cuts else "")
    )
    return "\n".join(lines)


def to_json(report: dict) -> str:
    """JSON with non-finite numbers as null (strict JSON has no NaN or Infinity)."""

    def clean(value):
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(report), indent=1) + "\n"


COLORS = {"edited": (40, 90, 230), "source": (60, 160, 60), "reference": (200, 120, 30)}  # BGR


def plot_curves(report: dict, path: str | Path) -> Path:
    """Per-frame curves (warp error, brightness, low-pass change, PSNR/SSIM if any) as one PNG, chunk
    boundaries dashed."""
    panels = [
        _panel(title, report["per_frame"][key], report["chunk_layout"]["boundary_transitions"], offset)
        for key, title, offset in (
            ("warp_error", "warp error (0-255) of frame t+1", 1),
            ("brightness", "mean brightness (0-255)", 0),
            ("low_pass_change", "low-pass change (0-255) into frame t+1", 1),
            ("psnr_db", "PSNR against the reference (dB)", 0),
            ("ssim", "SSIM against the reference", 0),
        )
        if key in report["per_frame"]
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.concatenate(panels, axis=0)):
        raise ValueError(f"could not write {path}")
    return path


def frame_strip(rows: dict[str, np.ndarray], path: str | Path, columns: int = 6, height: int = 120) -> Path:
    """A PNG of ``columns`` evenly spaced frames, one row per clip (e.g. source, edited, reference), labelled."""
    count = min(len(c) for c in rows.values())
    picks = np.linspace(0, count - 1, min(columns, count)).round().astype(int)
    lines = []
    for name, clip in rows.items():
        tiles = []
        for t in picks:
            frame = clip[t]
            width = max(1, round(frame.shape[1] * height / frame.shape[0]))
            tile = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            tiles.append(cv2.copyMakeBorder(tile, 0, 0, 0, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255)))
        line = np.concatenate(tiles, axis=1)
        label = np.full((22, line.shape[1], 3), 255, np.uint8)
        text = f"{name}: frames {', '.join(str(int(t)) for t in picks)}"
        cv2.putText(label, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        lines += [label, line]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, axis=0), cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write {path}")
    return path


def _panel(title: str, series: dict[str, list], boundaries: list[int], offset: int, size=(960, 240)) -> np.ndarray:
    width, height = size
    left, right, top, bottom = 60, 20, 30, 28
    image = np.full((height, width, 3), 255, np.uint8)
    values = np.concatenate([np.asarray(v, np.float64) for v in series.values()])
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    count = max(len(v) for v in series.values()) + offset

    def x_of(i: float) -> int:
        return int(left + (width - left - right) * i / max(1, count - 1))

    def y_of(v: float) -> int:
        return int(top + (height - top - bottom) * (1 - (v - low) / (high - low)))

    cv2.rectangle(image, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    for b in boundaries:
        x = x_of(b + 1)
        for y in range(top, height - bottom, 8):
            cv2.line(image, (x, y), (x, min(y + 4, height - bottom)), (170, 170, 170), 1)
    for name, ys in series.items():
        points = [(x_of(i + offset), y_of(v)) for i, v in enumerate(ys) if np.isfinite(v)]
        if len(points) > 1:
            cv2.polylines(image, [np.array(points, np.int32)], False, COLORS.get(name, (0, 0, 0)), 1, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title, (left, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for i, name in enumerate(series):  # the legend, right to left along the top
        x = width - right - 100 * (i + 1)
        cv2.putText(image, name, (x, 20), font, 0.45, COLORS.get(name, (0, 0, 0)), 1, cv2.LINE_AA)
    for v in (low, high):
        cv2.putText(image, f"{v:.3g}", (4, y_of(v) + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "frame", (width // 2, height - 8), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "0", (left - 4, height - 12), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, str(count - 1), (width - right - 20, height - 12), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def _bar(enabled: bool, total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="optical flow", dynamic_ncols=True, disable=not enabled)
