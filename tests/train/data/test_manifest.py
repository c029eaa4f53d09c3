"""Manifests: exact round trip, portable relative paths, and one-line errors naming the file, line and field."""

import json
import os

import pytest

from sana_streaming.train.data.manifest import LongRecord, ManifestError, PairRecord, read_manifest, write_manifest


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


@pytest.fixture
def records(tmp_path):
    outside = tmp_path / "elsewhere" / "long.mp4"
    return [
        PairRecord(
            source=touch(tmp_path / "data" / "clips" / "a_source.mkv"),
            edited=touch(tmp_path / "data" / "clips" / "a_edited.mkv"),
            prompt="make it a pencil sketch",
            reverse_prompt="turn the pencil sketch back into a colour photo",
            fps=16.0,
            start=2,
            end=35,
            family="pencil_sketch",
            params={"sigma": 2.5, "levels": 4},
            origin="bikes.mp4: frames 10..42 at 16 fps",
        ),
        PairRecord(
            source=touch(tmp_path / "data" / "b_source.mkv"),
            edited=touch(tmp_path / "data" / "b_edited.mkv"),
            prompt="make it night",
            reverse_prompt="make it daytime",
            fps=12.5,
        ),
        LongRecord(touch(outside), "make it black and white", "bring back the original colours", "black_and_white"),
    ]


def test_round_trip_is_exact_and_paths_inside_are_relative(tmp_path, records):
    path = write_manifest(tmp_path / "data" / "manifest.jsonl", records)
    assert read_manifest(path) == records
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [row["kind"] for row in rows] == ["pair", "pair", "long"]
    assert rows[0]["source"] == "clips/a_source.mkv" and rows[1]["edited"] == "b_edited.mkv"
    assert rows[2]["video"] == records[2].video  # outside the manifest's folder: kept absolute


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path, records, monkeypatch):
    path = write_manifest(tmp_path / "data" / "manifest.jsonl", records)
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)
    monkeypatch.chdir(tmp_path / "elsewhere")  # not the manifest's folder
    first = read_manifest(moved / path.name)[0]
    assert first.source == os.path.join(str(moved), "clips", "a_source.mkv")


def test_kind_is_inferred_and_blank_lines_are_skipped(tmp_path):
    video = touch(tmp_path / "v.mp4")
    line = json.dumps({"video": "v.mp4", "prompt": "make it night", "reverse_prompt": "make it day"})
    (tmp_path / "m.jsonl").write_text(f"\n{line}\n\n")
    assert read_manifest(tmp_path / "m.jsonl") == [LongRecord(video, "make it night", "make it day")]


GOOD = {"source": "s.mkv", "edited": "e.mkv", "prompt": "p", "reverse_prompt": "r", "fps": 16}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        (json.dumps({**GOOD, "kind": "triple"}), "line 2: field 'kind' must be 'pair' or 'long', got 'triple'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "prompt"}), "line 2: missing field 'prompt'"),
        (json.dumps({**GOOD, "fps": "fast"}), "line 2: field 'fps' must be a positive number, got 'fast'"),
        (json.dumps({**GOOD, "start": -1}), "line 2: field 'start' must be an int >= 0, got -1"),
        (json.dumps({**GOOD, "end": 0}), "line 2: field 'end' must be null or an int > start (0), got 0"),
        (json.dumps({**GOOD, "prompt": " "}), "line 2: field 'prompt' must be a non-empty string, got ' '"),
        (json.dumps({**GOOD, "params": [1]}), "line 2: field 'params' must be an object, got list"),
        (json.dumps({**GOOD, "colour": 1}), "line 2: unknown field 'colour' for a pair record (fields: source, "),
    ],
)
def test_bad_lines_name_the_line_and_field(tmp_path, line, message):
    touch(tmp_path / "s.mkv")
    touch(tmp_path / "e.mkv")
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(info.value).startswith(f"{path} {message}")
    assert "\n" not in str(info.value)


def test_missing_files_and_empty_manifest(tmp_path):
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "nope.jsonl")
    assert str(info.value) == f"manifest not found: {tmp_path / 'nope.jsonl'}"
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(info.value) == f"{path} line 1: source video not found: {tmp_path / 's.mkv'}"
    assert read_manifest(path, check_files=False)[0].edited == str(tmp_path / "e.mkv")
    path.write_text("\n  \n")
    with pytest.raises(ManifestError, match="has no records"):
        read_manifest(path)


def test_write_errors(tmp_path, records):
    bad = PairRecord("s.mkv", "e.mkv", "p", "r", 16.0, params={"x": object()})
    with pytest.raises(ManifestError, match=r"m.jsonl: record 2 cannot be written as JSON"):
        write_manifest(tmp_path / "m.jsonl", [records[0], bad])
    with pytest.raises(ManifestError, match="record 1 is a dict, not a PairRecord/LongRecord"):
        write_manifest(tmp_path / "m.jsonl", [{"source": "x"}])
    with pytest.raises(ManifestError, match="field 'fps' must be a positive number, got 0"):
        PairRecord("s.mkv", "e.mkv", "p", "r", 0)
