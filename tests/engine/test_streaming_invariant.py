"""The streaming invariant: the cached chunk-by-chunk run equals a cache-free reference that recomputes
each chunk's context from the full history (the chunk-causal full-sequence forward), on long streams."""

from __future__ import annotations

import itertools

import pytest
import torch

from sana_streaming.diffusion.flow import chunk_boundaries
from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.eval.official_fixtures import CallRecorder
from sana_streaming.models.state import CacheWindow

ATOL = 1e-5  # fp32: same math, different summation order
NUM_LATENT_FRAMES = 5 + 3 * 9  # a first chunk of 5 frames (it absorbs 32 mod 3), then 9 chunks of 3


def stream(model, config, noise, source, text):
    """Run the sampler chunk by chunk; return per-chunk denoised latents and the calls of every chunk."""
    recorder = CallRecorder(model)
    sampler = StreamingSampler(recorder, config)
    bounds = chunk_boundaries(noise.shape[2], config.chunk_frames)
    state = sampler.init_state(noise.shape[0], tuple(noise.shape[-2:]), bounds[1])
    chunks, calls = [], []
    for c, (a, b) in enumerate(itertools.pairwise(bounds)):
        before = len(recorder.calls)
        last = c == len(bounds) - 2
        chunks.append(sampler.denoise_chunk(noise[:, :, a:b], source[:, :, a:b], text, state, write_cache=not last))
        calls.append(recorder.calls[before:])
    return bounds, chunks, calls


def inputs(model, seed=0, frames=NUM_LATENT_FRAMES):
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    noise = torch.randn(1, cfg.in_channels, frames, 4, 5, generator=gen)
    source = torch.randn(1, cfg.source_channels, frames, 4, 5, generator=gen)
    text = model.encode_text(torch.randn(1, 6, cfg.caption_channels, generator=gen), torch.tensor([[1] * 5 + [0]]))
    return noise, source, text


@pytest.mark.parametrize(
    "window",
    [
        CacheWindow(2, sink=True),
        CacheWindow(3, sink=True),
        CacheWindow(1, sink=True),
        CacheWindow(2, sink=False),
        CacheWindow(None),
    ],
    ids=["sink+1", "sink+2", "sink-only", "last-2-no-sink", "full-history"],
)
@pytest.mark.parametrize("efficient_cache", [False, True], ids=["refresh", "efficient"])
@torch.no_grad()
def test_cached_stream_equals_full_history_recomputation(small_model, window, efficient_cache):
    config = SamplerConfig(window=window, efficient_cache=efficient_cache)
    noise, source, text = inputs(small_model)
    bounds, chunks, calls = stream(small_model, config, noise, source, text)
    assert len(bounds) - 1 == 10
    sizes = tuple(b - a for a, b in itertools.pairwise(bounds))
    for c in range(1, len(sizes)):
        # History as the caches saw it: the clean chunk at t=0 (refresh) or the last step's input (efficient).
        history = [calls[j][-1] if efficient_cache else None for j in range(c)]
        past = [h.x_in if h else chunks[j] for j, h in enumerate(history)]
        past_t = [h.timestep if h else 0.0 for h in history]
        for call in calls[c][: len(config.timesteps)]:
            x_all = torch.cat([*past, call.x_in], dim=2)
            t_all = torch.tensor([past_t[j] for j in range(c) for _ in range(sizes[j])] + [call.timestep] * sizes[c])
            ref = small_model(
                x_all, source[:, :, : bounds[c + 1]], t_all[None], text, chunks=sizes[: c + 1], window=window
            )
            torch.testing.assert_close(call.velocity, ref[:, :, bounds[c] :], atol=ATOL, rtol=ATOL)


@torch.no_grad()
def test_state_memory_does_not_grow_with_the_stream(small_model):
    sampler = StreamingSampler(small_model)
    noise, source, text = inputs(small_model, frames=3)
    state = sampler.init_state(1, (4, 5), 3)
    sizes = []
    for _ in range(30):
        sampler.denoise_chunk(noise, source, text, state)
        sizes.append(state.nbytes())
    assert state.num_chunks == 30 and state.frame_offset == 90
    assert len(set(sizes)) == 1
    # GDN: H (D^2 + D) floats per block; softmax: sink + one window chunk of keys and values per block.
    cfg = small_model.cfg
    heads, d, tokens = cfg.hidden_size // cfg.head_dim, cfg.head_dim, 4 * 5
    expected = 4 * len(cfg.gdn_layers) * heads * (d * d + d) + 4 * cfg.depth * tokens * cfg.hidden_size
    expected += 4 * len(cfg.softmax_layers) * 2 * heads * d * (3 + 3) * tokens
    assert sizes[0] == expected


@torch.no_grad()
def test_full_history_window_grows_by_one_chunk_per_chunk(small_model):
    sampler = StreamingSampler(small_model, SamplerConfig(window=CacheWindow(None)))
    noise, source, text = inputs(small_model, frames=3)
    state = sampler.init_state(1, (4, 5), 3)
    sizes = []
    for _ in range(4):
        sampler.denoise_chunk(noise, source, text, state)
        sizes.append(state.nbytes())
    steps = {b - a for a, b in itertools.pairwise(sizes)}
    assert len(steps) == 1 and steps.pop() > 0


@torch.no_grad()
def test_prompt_change_takes_effect_from_its_chunk_on(small_model):
    noise, source, text_a = inputs(small_model, seed=1)
    text_b = small_model.encode_text(torch.randn(1, 6, small_model.cfg.caption_channels))
    sampler = StreamingSampler(small_model)
    num_chunks = len(chunk_boundaries(noise.shape[2])) - 1
    same = sampler.sample(noise, source, text_a)
    switched = sampler.sample(noise, source, [text_a] * 4 + [text_b] * (num_chunks - 4))
    cut = chunk_boundaries(noise.shape[2])[4]
    assert torch.equal(same[:, :, :cut], switched[:, :, :cut])
    assert (same[:, :, cut:] - switched[:, :, cut:]).abs().amax() > 1e-2
    with pytest.raises(ValueError, match="prompts for"):
        sampler.sample(noise, source, [text_a, text_b])


@torch.no_grad()
def test_a_chunk_of_the_wrong_size_is_refused_before_any_cache_is_written(small_model):
    sampler = StreamingSampler(small_model)
    noise, source, text = inputs(small_model, frames=5)
    state = sampler.init_state(1, (4, 5), 5)
    sampler.denoise_chunk(noise, source, text, state)
    before = state.gdn_kv.clone()
    with pytest.raises(ValueError, match="chunk 1 has 100 tokens but the stream state was made for 60"):
        sampler.denoise_chunk(noise, source, text, state)
    assert torch.equal(state.gdn_kv, before) and state.num_chunks == 1


@pytest.mark.gpu
@torch.no_grad()
def test_gpu_memory_is_the_same_at_chunk_100_as_at_chunk_5(small_model):
    noise, source, _ = inputs(small_model, frames=3)
    model = small_model.cuda()
    sampler = StreamingSampler(model)
    noise, source = noise.cuda(), source.cuda()
    text = model.encode_text(torch.randn(1, 6, model.cfg.caption_channels, device="cuda"))
    state = sampler.init_state(1, (4, 5), 3)
    peaks = {}
    for chunk in range(1, 101):
        torch.cuda.reset_peak_memory_stats()
        sampler.denoise_chunk(noise, source, text, state)
        if chunk in (5, 100):
            peaks[chunk] = (torch.cuda.max_memory_allocated(), torch.cuda.memory_allocated())
    assert peaks[5] == peaks[100]


@torch.no_grad()
def test_a_reset_state_streams_like_a_fresh_one(small_model):
    """``reset_`` empties every cache in place: a second stream on the same buffers equals one on new buffers."""
    config = SamplerConfig(window=CacheWindow(2, sink=True))
    sampler = StreamingSampler(small_model, config)
    noise, source, text = inputs(small_model, frames=5 + 3 * 3)
    bounds = chunk_boundaries(noise.shape[2], config.chunk_frames)

    def run(state):
        return [
            sampler.denoise_chunk(noise[:, :, a:b], source[:, :, a:b], text, state)
            for a, b in itertools.pairwise(bounds)
        ]

    fresh = sampler.init_state(1, (4, 5), bounds[1])
    expected = run(fresh)
    used = sampler.init_state(1, (4, 5), bounds[1])
    run(used)
    buffers = [used.gdn_kv, used.tconv, *used.kv.keys]
    pointers = [t.data_ptr() for t in buffers]
    used.reset_()
    assert used.num_chunks == used.frame_offset == int(used.position) == 0
    assert all(not t.any() for t in buffers) and [t.data_ptr() for t in buffers] == pointers
    for got, want in zip(run(used), expected, strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
