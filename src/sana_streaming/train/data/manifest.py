"""Training manifests: JSON Lines, one record per line, a paired clip (stage 1) or a long video (stage 2).

    {"kind": "pair", "source": "clips/0000_bikes_00_source.mkv", "edited": "...", "prompt": "make it night", ...}
    {"kind": "long", "video": "/data/walk.mp4", "prompt": "make it a pencil sketch", ...}

Paths may be relative to the manifest's folder (``write_manifest`` writes them so for files inside it, which keeps
a dataset folder movable); ``read_manifest`` returns them resolved. Without "kind", a line with "source" is a pair
and one with "video" a long record.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class ManifestError(ValueError):
    """A bad manifest or record; ``str(err)`` is one line naming the file, the line, the field and the problem."""


@dataclass(frozen=True)
class PairRecord:
    """A source clip and its frame-aligned edit (same frame count, size and rate) for stage 1 training.

    Attributes:
        source: source video path.
        edited: edited video path.
        prompt: the forward instruction, e.g. "make it a pencil sketch".
        reverse_prompt: the instruction that undoes it.
        fps: frame rate to read both clips at.
        start: first frame of the usable range [start, end).
        end: one past its last frame; None means the end of the clip.
        family: name of the edit family that made it ("" if unknown).
        params: that edit's per-clip parameters, for audit and tests.
        origin: where the source came from (input file and frames), for audit.
    """

    source: str
    edited: str
    prompt: str
    reverse_prompt: str
    fps: float
    start: int = 0
    end: int | None = None
    family: str = ""
    params: dict = field(default_factory=dict)
    origin: str = ""

    def __post_init__(self) -> None:
        for name in ("source", "edited", "prompt", "reverse_prompt"):
            _require_text(self, name)
        _require_text(self, "family", allow_empty=True)
        _require_text(self, "origin", allow_empty=True)
        if isinstance(self.fps, bool) or not isinstance(self.fps, numbers.Real) or not 0 < self.fps < math.inf:
            raise ManifestError(f"field 'fps' must be a positive number, got {self.fps!r}")
        if not _is_int(self.start) or self.start < 0:
            raise ManifestError(f"field 'start' must be an int >= 0, got {self.start!r}")
        if self.end is not None and (not _is_int(self.end) or self.end <= self.start):
            raise ManifestError(f"field 'end' must be null or an int > start ({self.start}), got {self.end!r}")
        if not isinstance(self.params, dict):
            raise ManifestError(f"field 'params' must be an object, got {type(self.params).__name__}")


@dataclass(frozen=True)
class LongRecord:
    """An unpaired long video for stage 2 (streaming) training, with the instruction to apply and its inverse."""

    video: str
    prompt: str
    reverse_prompt: str
    family: str = ""

    def __post_init__(self) -> None:
        for name in ("video", "prompt", "reverse_prompt"):
            _require_text(self, name)
        _require_text(self, "family", allow_empty=True)


Record = PairRecord | LongRecord
_KINDS: dict[str, type[PairRecord] | type[LongRecord]] = {"pair": PairRecord, "long": LongRecord}
_PATH_FIELDS = {PairRecord: ("source", "edited"), LongRecord: ("video",)}


def write_manifest(path: str | os.PathLike, records: Iterable[Record]) -> Path:
    """Write records as JSON Lines (folders created); paths inside the manifest's folder are stored relative.

    Returns:
        The manifest path.
    """
    path = Path(path)
    folder = path.parent.absolute()
    lines = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, PairRecord | LongRecord):
            raise ManifestError(f"{path}: record {number} is a {type(record).__name__}, not a PairRecord/LongRecord")
        row = {"kind": "pair" if isinstance(record, PairRecord) else "long", **dataclasses.asdict(record)}
        for name in _PATH_FIELDS[type(record)]:
            row[name] = _portable(row[name], folder)
        try:
            lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as err:
            raise ManifestError(f"{path}: record {number} cannot be written as JSON ({err})") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except OSError as err:
        raise ManifestError(f"cannot write manifest {path} ({err.strerror or err})") from None
    return path


def read_manifest(path: str | os.PathLike, *, check_files: bool = True) -> list[Record]:
    """Read a manifest; blank lines are skipped.

    Args:
        check_files: fail if a record's video does not exist.

    Returns:
        The records in file order, with absolute, normalised paths.

    Raises:
        ManifestError: one line, e.g. "data/manifest.jsonl line 3: field 'fps' must be a positive number, got 0".
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"cannot read manifest {path} ({getattr(err, 'strerror', None) or err})") from None
    folder = path.parent.absolute()
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(_parse_line(line, folder, check_files))
            except ManifestError as err:
                raise ManifestError(f"{path} line {number}: {err}") from None
    if not records:
        raise ManifestError(f"manifest {path} has no records")
    return records


def _parse_line(line: str, folder: Path, check_files: bool) -> Record:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ManifestError(f"not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(row, dict):
        raise ManifestError(f"expected a JSON object, got {type(row).__name__}")
    kind = row.pop("kind", "pair" if "source" in row else "long" if "video" in row else None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ManifestError(f"field 'kind' must be 'pair' or 'long', got {kind!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [name for name in row if name not in names]
    if unknown:
        raise ManifestError(f"unknown field {unknown[0]!r} for a {kind} record (fields: {', '.join(names)})")
    missing = [f.name for f in dataclasses.fields(cls) if _required(f) and f.name not in row]
    if missing:
        raise ManifestError(f"missing field {missing[0]!r}")
    record = cls(**row)
    resolved = {name: _resolve(getattr(record, name), folder) for name in _PATH_FIELDS[cls]}
    if check_files:
        for name, video in resolved.items():
            if not os.path.isfile(video):
                raise ManifestError(f"{name} video not found: {video}")
    return dataclasses.replace(record, **resolved)


def _require_text(record: object, name: str, allow_empty: bool = False) -> None:
    value = getattr(record, name)
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise ManifestError(f"field {name!r} must be a non-empty string, got {value!r}")


def _required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _portable(video: str, folder: Path) -> str:
    """``video`` relative to ``folder`` (POSIX separators) when it lies inside it, else unchanged."""
    if not os.path.isabs(video):
        return video
    try:
        return Path(os.path.normpath(video)).relative_to(folder).as_posix()
    except ValueError:
        return video


def _resolve(video: str, folder: Path) -> str:
    return os.path.normpath(video if os.path.isabs(video) else folder / video)
