"""Training data from classical, deterministic edits: paired clips for stage 1 and long videos for stage 2.

edits       FAMILIES of edits (prompts, per-clip parameters, a per-frame edit); styles/filters hold the math
camera      still images to videos with a smooth synthetic camera move
make_pairs  inputs -> lossless source/edited clips + manifest.jsonl; long videos -> a stage 2 manifest
manifest    PairRecord / LongRecord as JSON Lines
datasets    PairClipDataset, LongVideoDataset, collate, BucketBatchSampler
video       lossless clip files, probing, windowed reading
"""

from sana_streaming.train.data.batching import BucketBatchSampler, collate
from sana_streaming.train.data.camera import camera_path_video
from sana_streaming.train.data.datasets import LongVideoDataset, PairClipDataset
from sana_streaming.train.data.edits import FAMILIES, EditFamily
from sana_streaming.train.data.make_pairs import make_long_manifest, make_pairs
from sana_streaming.train.data.manifest import LongRecord, ManifestError, PairRecord, read_manifest, write_manifest

__all__ = [
    "FAMILIES",
    "BucketBatchSampler",
    "EditFamily",
    "LongRecord",
    "LongVideoDataset",
    "ManifestError",
    "PairClipDataset",
    "PairRecord",
    "camera_path_video",
    "collate",
    "make_long_manifest",
    "make_pairs",
    "read_manifest",
    "write_manifest",
]
