"""Each training stage on CUDA gives the losses it gives on the CPU (same seeded draws, fp32)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from sana_streaming.train.distributed import World
from sana_streaming.train.stages.bidirectional import BidirectionalStage
from sana_streaming.train.stages.streaming import StreamingStage
from sana_streaming.train.stages.vae import VAEStage
from sana_streaming.vae.autoencoder import VideoAutoencoder
from tests.conftest import randomize_
from tests.train.helpers import MICRO_VAE, parts, recipe, synthetic_pairs
from tests.train.test_streaming import long_pairs, long_videos, stage_parts, streaming_recipe

pytestmark = pytest.mark.gpu
RTOL = 1e-2  # cuDNN convolutions use TF32 by default


def on(device: str, modules: dict) -> dict:
    return {k: copy.deepcopy(v).to(device) if isinstance(v, nn.Module) else v for k, v in modules.items()}


def run_twice(make, modules: dict) -> list[list[dict]]:
    """Two optimizer steps on each device (the second sees the first's update)."""
    out = []
    for device in ("cpu", "cuda"):
        stage = make(torch.device(device), on(device, modules))
        out.append([{k: float(v) for k, v in stage.train_step(step).items()} for step in (0, 1)])
    return out


def assert_same(cpu: list[dict], cuda: list[dict], keys) -> None:
    for step, (a, b) in enumerate(zip(cpu, cuda, strict=True)):
        for key in keys:
            assert b[key] == pytest.approx(a[key], rel=RTOL), (step, key)


def test_bidirectional_stage_on_cuda(tmp_path):
    p = parts()
    randomize_(p["model"])
    cfg = recipe(tmp_path, run={"precision": "fp32"})
    cpu, cuda = run_twice(lambda d, m: BidirectionalStage(cfg, d, World(), dataset=synthetic_pairs(2), **m), p)
    assert_same(cpu, cuda, ["loss"])


def test_streaming_stage_on_cuda(tmp_path):
    cfg = streaming_recipe(tmp_path)
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, precision="fp32"))
    p = stage_parts()
    cpu, cuda = run_twice(lambda d, m: StreamingStage(cfg, d, World(), dataset=long_videos(1), **m), p)
    assert_same(cpu, cuda, ["loss_dmd", "loss_critic", "loss_reverse"])


def test_streaming_pixel_terms_on_cuda(tmp_path):
    """The pixel term and the warped temporal term (the ground truth's flow on a thread, from a CUDA clip) give on
    CUDA what they give on the CPU."""
    cfg = streaming_recipe(tmp_path, weight=0.0, reverse_weight=0.0, regression=0.0, pixels=1.0, warped_temporal=0.5)
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, precision="fp32"))
    p = stage_parts()
    p["model"] = p.pop("teacher")  # no teacher: the generator starts from it
    cpu, cuda = run_twice(lambda d, m: StreamingStage(cfg, d, World(), dataset=long_pairs(1), **m), p)
    assert_same(cpu, cuda, ["loss_pixels", "loss_warped_temporal"])


def test_vae_stage_on_cuda(tmp_path):
    cfg = recipe(tmp_path, stage="vae", run={"precision": "fp32"})
    vae = VideoAutoencoder(MICRO_VAE)
    cpu, cuda = run_twice(lambda d, m: VAEStage(cfg, d, World(), dataset=synthetic_pairs(2), **m), {"vae": vae})
    assert_same(cpu, cuda, ["loss"])


def test_pinned_loading_threads_give_the_same_batches(tmp_path):
    """data.pin_memory on CUDA: the loading threads pin each clip, and the clips copied to the GPU one by one and
    stacked there (stack_to) equal the clips stacked on the CPU and copied; the VAE stage's batches too."""
    from sana_streaming.train.common import BatchItems, batch_items, stack_to

    dataset = synthetic_pairs(3)
    inline = BatchItems(dataset, 2, 0, World())
    pinned = batch_items(recipe(tmp_path, data={"num_workers": 2}), dataset, World(), torch.device("cuda"))
    try:
        assert pinned.pin
        for step in (0, 1, 5):
            want, got = inline(step), pinned(step)
            for (_, a), (_, b) in zip(want, got, strict=True):
                assert b["source"].is_pinned() and b["edited"].is_pinned() and not a["source"].is_pinned()
            stacked = stack_to([item["source"] for _, item in got], torch.device("cuda"))
            assert torch.equal(stacked.cpu(), torch.stack([item["source"] for _, item in want]))
    finally:
        pinned.close()
    cfg = recipe(tmp_path, stage="vae", data={"num_workers": 2}, vae_train={"edited": 0.5})
    unpinned = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, pin_memory=False))
    vae = VideoAutoencoder(MICRO_VAE).cuda()
    stages = [VAEStage(c, torch.device("cuda"), World(), dataset=dataset, vae=vae) for c in (cfg, unpinned)]
    videos = [stage._video(3)[0] for stage in stages]
    assert videos[0].is_cuda and torch.equal(videos[0], videos[1])
