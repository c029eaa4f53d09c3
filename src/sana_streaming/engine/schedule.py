"""Prompt schedules: which prompt applies from which time of the stream on."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path


def parse_time(text: str) -> float:
    """Seconds from "12.5", "1:05" (m:ss) or "0:01:05.5" (h:mm:ss)."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"not a time: {text!r}")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if seconds < 0:
        raise ValueError(f"negative time: {text!r}")
    return seconds


@dataclass(frozen=True)
class PromptSchedule:
    """Sorted (time in seconds, prompt) entries; a prompt holds until the next entry's time."""

    entries: tuple[tuple[float, str], ...]

    def prompt_at(self, seconds: float) -> str | None:
        """The prompt in force at ``seconds`` (None before the first entry)."""
        times = [t for t, _ in self.entries]
        i = bisect.bisect_right(times, seconds) - 1
        return self.entries[i][1] if i >= 0 else None

    @classmethod
    def from_pairs(cls, pairs) -> PromptSchedule:
        entries = tuple(sorted((float(t), str(p)) for t, p in pairs))
        if not entries:
            raise ValueError("the prompt schedule is empty")
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path) -> PromptSchedule:
        """Read a schedule file.

        Text: one ``TIME PROMPT`` per line (TIME in seconds, m:ss or h:mm:ss; blank lines and # comments
        ignored). JSON: ``[{"time": 0, "prompt": "..."}, ...]`` or ``{"0": "...", "12.5": "..."}``.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise ValueError(f"cannot read the prompt schedule {path}: {err.strerror or err}") from None
        if path.suffix == ".json":
            return cls._from_json(text, path)
        pairs = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            time_text, _, prompt = line.partition(" ")
            try:
                pairs.append((parse_time(time_text), prompt.strip()))
            except ValueError:
                raise ValueError(f"{path} line {number}: expected 'TIME PROMPT', got {line!r}") from None
            if not prompt.strip():
                raise ValueError(f"{path} line {number}: no prompt after the time")
        return cls.from_pairs(pairs)

    @classmethod
    def _from_json(cls, text: str, path: Path) -> PromptSchedule:
        try:
            data = json.loads(text)
            if isinstance(data, dict):
                return cls.from_pairs((parse_time(str(k)), v) for k, v in data.items())
            return cls.from_pairs((parse_time(str(e["time"])), e["prompt"]) for e in data)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a prompt schedule ({err})") from None
