"""CUDA-graph replay of the streaming calls equals eager execution (GPU only)."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.engine.graphs import CudaGraphRunner
from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.state import CacheWindow
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.conftest import randomize_, small_config

pytestmark = pytest.mark.gpu


def stream(model, runner_cls, window, chunks=8, dtype=torch.float32):
    sampler = StreamingSampler(runner_cls(model) if runner_cls else model, SamplerConfig(window=window))
    gen = torch.Generator().manual_seed(0)
    cfg = model.cfg
    text = model.encode_text(torch.randn(1, 6, cfg.caption_channels, generator=gen).cuda().to(dtype))
    state = sampler.init_state(1, (4, 6), 5)
    outs = []
    for c in range(chunks):
        frames = 5 if c == 0 else 3
        noise = torch.randn(1, cfg.in_channels, frames, 4, 6, generator=gen).cuda()
        source = torch.randn(1, cfg.source_channels, frames, 4, 6, generator=gen).cuda()
        outs.append(sampler.denoise_chunk(noise, source, text, state).clone())
    return torch.cat(outs, dim=2), sampler


@pytest.mark.parametrize(
    "window", [CacheWindow(2, True), CacheWindow(3, True), CacheWindow(2, False)], ids=["sink+1", "sink+2", "no-sink"]
)
@torch.no_grad()
def test_graphed_stream_equals_eager(window):
    model = randomize_(SanaStreamingTransformer(small_config())).cuda().eval()
    eager, _ = stream(model, None, window)
    graphed, sampler = stream(model, CudaGraphRunner, window)
    assert sampler.model.replays > 0
    torch.testing.assert_close(graphed, eager, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_graphed_stream_follows_a_prompt_change():
    model = randomize_(SanaStreamingTransformer(small_config())).cuda().eval()
    runner = CudaGraphRunner(model)
    for m in (model, runner):
        sampler = StreamingSampler(m)
        state = sampler.init_state(1, (4, 6), 3)
        gen = torch.Generator().manual_seed(1)
        texts = [model.encode_text(torch.randn(1, 6, 24, generator=gen).cuda()) for _ in range(2)]
        outs = []
        for c in range(6):
            noise = torch.randn(1, 8, 3, 4, 6, generator=gen).cuda()
            outs.append(sampler.denoise_chunk(noise, noise, texts[c >= 4], state).clone())
        if m is model:
            eager = torch.cat(outs, 2)
    torch.testing.assert_close(torch.cat(outs, 2), eager, atol=1e-4, rtol=1e-4)
