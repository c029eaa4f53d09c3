"""Streams at different points of their videos, edited in one model call (StreamBatch), give what each stream
gives alone: their own RoPE positions, cache contexts, ring slots and prompts."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.state import CacheWindow, StreamBatch
from sana_streaming.models.transformer import TextCondition

LATENT = (4, 6)
CHUNK = 3
# float32 on the CPU: a batched matmul may sum in another order than the same rows alone
ATOL = 2e-5


def _streams(model, count: int, chunks: int):
    gen = torch.Generator().manual_seed(1)
    cfg = model.cfg
    streams = []
    for i in range(count):
        noise = torch.randn(chunks, 1, cfg.in_channels, CHUNK, *LATENT, generator=gen)
        source = torch.randn(chunks, 1, cfg.source_channels, CHUNK, *LATENT, generator=gen)
        words = 5 - 2 * (i % 2)  # prompts of 5 and 3 tokens, the second padded in a batch
        text = model.encode_text(torch.randn(1, words, cfg.caption_channels, generator=gen))
        streams.append((noise, source, text))
    return streams


@torch.no_grad()
def test_streams_at_different_chunks_batched_equal_each_stream_alone(small_model):
    # a window of 3 chunks with the sink: two ring slots, so streams at chunks of different parity write
    # different slots, and each chunk from the third on reads the same context length
    sampler = StreamingSampler(small_model, SamplerConfig(chunk_frames=CHUNK, window=CacheWindow(3)))
    chunks = 7
    streams = _streams(small_model, 3, chunks)
    alone = []
    for noise, source, text in streams:
        state = sampler.init_state(1, LATENT, CHUNK)
        alone.append([sampler.denoise_chunk(noise[c], source[c], text, state) for c in range(chunks)])

    # stream k starts k chunks late: the first chunks (of differing context lengths) alone, then 3 calls together
    states = [sampler.init_state(1, LATENT, CHUNK) for _ in streams]
    done = [4, 3, 3]
    got = [[], [], []]
    for k, (noise, source, text) in enumerate(streams):
        for c in range(done[k]):
            got[k].append(sampler.denoise_chunk(noise[c], source[c], text, states[k]))
    for _ in range(3):
        batch = StreamBatch(states)
        noise = torch.cat([s[0][c] for s, c in zip(streams, done, strict=True)])
        source = torch.cat([s[1][c] for s, c in zip(streams, done, strict=True)])
        text = TextCondition.cat([s[2] for s in streams])
        out = sampler.denoise_chunk(noise, source, text, batch)
        for k, part in enumerate(out.split(1)):
            got[k].append(part)
            done[k] += 1
    assert [s.num_chunks for s in states] == [7, 6, 6]
    for k in range(3):
        for c, (a, b) in enumerate(zip(got[k], alone[k], strict=False)):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=1e-5, msg=f"stream {k}, chunk {c}")


@torch.no_grad()
def test_streams_whose_chunks_read_different_context_lengths_cannot_share_a_call(small_model):
    sampler = StreamingSampler(small_model, SamplerConfig(chunk_frames=CHUNK))
    noise, source, text = _streams(small_model, 1, 1)[0]
    early, late = sampler.init_state(1, LATENT, CHUNK), sampler.init_state(1, LATENT, CHUNK)
    for _ in range(2):
        sampler.denoise_chunk(noise[0], source[0], text, late)
    sampler.denoise_chunk(noise[0], source[0], text, early)
    assert StreamBatch.key(early) != StreamBatch.key(late)
    with pytest.raises(ValueError, match="chunks 1, 2 read caches of different sizes"):
        StreamBatch([early, late])
    # from the window's last first chunk on, every chunk reads the same context
    sampler.denoise_chunk(noise[0], source[0], text, early)
    assert StreamBatch.key(early) == StreamBatch.key(late)


def test_text_conditions_of_different_lengths_stack_with_padding(small_model):
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 5, small_model.cfg.caption_channels, generator=gen)
    long, short = small_model.encode_text(feats), small_model.encode_text(feats[:, :3])
    both = TextCondition.cat([long, short])
    assert both.context[0][0].shape[2] == 5
    assert both.bias is not None and (both.bias[0] == 0).all() and (both.bias[1, 0, 0, 3:] < -1e3).all()
