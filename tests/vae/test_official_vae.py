"""Our LTX-2 VAE against tensors recorded from the official causal VAE (tests/fixtures/official_vae)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sana_streaming.models.checkpoint import CheckpointError
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import VAEConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "official_vae"
DECODE_TOL = dict(atol=2e-5, rtol=0)  # the fixtures README's suggested float32 tolerances
ENCODE_TOL = dict(atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def vae() -> VideoAutoencoder:
    cfg = VAEConfig.from_diffusers(json.loads((FIXTURES / "config.json").read_text()))
    model = VideoAutoencoder(cfg).eval()
    model.load_state_dict({k: v.float() for k, v in load_file(str(FIXTURES / "vae.safetensors")).items()})
    return model


@pytest.fixture(scope="module")
def decode_case():
    return load_file(str(FIXTURES / "case_decode.safetensors"))


@torch.no_grad()
def test_encode_and_normalisation(vae):
    case = load_file(str(FIXTURES / "case_encode.safetensors"))
    video = case["video"].float()
    torch.testing.assert_close(vae.encoder(video, True), case["enc_raw"], **ENCODE_TOL)
    mean, logvar = vae.posterior(video)
    torch.testing.assert_close(mean, case["posterior_mean"], **ENCODE_TOL)
    torch.testing.assert_close(logvar, case["posterior_logvar"], **ENCODE_TOL)
    torch.testing.assert_close(vae.normalize(vae.encode(video)), case["latent_norm"], **ENCODE_TOL)


@torch.no_grad()
@pytest.mark.parametrize("chunks", [(1, 8, 8, 8), (9, 16), (1, 24), (17, 8), (5, 7, 13)])
def test_streaming_encode_equals_whole_clip(vae, chunks):
    video = load_file(str(FIXTURES / "case_encode.safetensors"))["video"].float()
    cache = vae.encoder_stream()
    parts, start = [], 0
    for size in chunks:
        parts.append(vae.encode_chunk(video[:, :, start : start + size], cache))
        start += size
    assert all(cache.pending[i] is None for i in range(len(cache.pending)))
    torch.testing.assert_close(torch.cat(parts, dim=2), vae.encode(video), **ENCODE_TOL)


@torch.no_grad()
def test_whole_causal_decode(vae, decode_case):
    torch.testing.assert_close(vae.decode(decode_case["z_raw"]), decode_case["causal_whole"], **DECODE_TOL)


@torch.no_grad()
def test_streaming_decode_chunks_and_caches(vae, decode_case, same_conv_kernels):
    # the inner activations with PyTorch's kernels, as recorded: through oneDNN's an AVX-512 CPU gave 2.03e-5 on
    # one cache entry (1.6e-5 with PyTorch's); the encode and the whole decode above run with oneDNN on
    cache_case = load_file(str(FIXTURES / "case_cache.safetensors"))
    slot_of = {name: m.slot for name, m in vae.decoder.named_modules() if hasattr(m, "slot")}
    cache = vae.decoder_stream()
    z = decode_case["z_norm"]
    for chunk, (a, b) in enumerate([(0, 4), (4, 7)]):
        frames = vae.decode_chunk(vae.denormalize(z[:, :, a:b]), cache)
        torch.testing.assert_close(frames, decode_case[f"stream_chunk{chunk}"], **DECODE_TOL)
        recorded = {k: v for k, v in cache_case.items() if k.startswith(f"after_chunk{chunk}.")}
        assert len(recorded) == 13  # every tensor slot of the official decoder cache
        for key, value in recorded.items():
            module = key.split(".", 2)[2]
            torch.testing.assert_close(cache.convs[slot_of[module]], value, **DECODE_TOL, msg=key)


@torch.no_grad()
def test_bidirectional_decode(vae, decode_case):
    out = vae.decode(decode_case["z_raw"], causal=False)
    torch.testing.assert_close(out, decode_case["bidir_diffusers"].float(), atol=2e-3, rtol=0)  # float16 record
    assert (out - decode_case["causal_whole"]).abs().max() > 1.0  # the two modes really differ here


@torch.no_grad()
def test_bidirectional_checkpoint_remapped_to_causal(tmp_path, decode_case):
    """A bidirectional checkpoint loaded as a causal decoder gets [a, b, c] -> [0, a, b + c] (the paper's init)."""
    folder = tmp_path / "bidirectional_vae"
    folder.mkdir()
    config = json.loads((FIXTURES / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_causal": False}))
    shutil.copy(FIXTURES / "vae.safetensors", folder / "diffusion_pytorch_model.safetensors")
    remapped = VideoAutoencoder.from_pretrained(folder, causal_decoder=True)
    assert remapped.cfg.decoder_causal
    torch.testing.assert_close(remapped.decode(decode_case["z_raw"]), decode_case["remap_causal"], **DECODE_TOL)
    as_is = VideoAutoencoder.from_pretrained(folder, causal_decoder=False)
    torch.testing.assert_close(
        as_is.decode(decode_case["z_raw"]), decode_case["bidir_diffusers"].float(), atol=2e-3, rtol=0
    )


def test_release_folder_layout_loads(tmp_path, vae):
    folder = tmp_path / "ltx2_causal_vae_0516"
    folder.mkdir()
    shutil.copy(FIXTURES / "config.json", folder / "config.json")
    shutil.copy(FIXTURES / "vae.safetensors", folder / "diffusion_pytorch_model.safetensors")
    loaded = VideoAutoencoder.from_pretrained(folder)
    for (name, a), (_, b) in zip(loaded.state_dict().items(), vae.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_missing_and_mismatched_vae_folders_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"no config.json \(expected a VAE folder in diffusers layout\)$"):
        VideoAutoencoder.from_pretrained(tmp_path / "nowhere")
    folder = tmp_path / "wrong"
    folder.mkdir()
    config = json.loads((FIXTURES / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "latent_channels": 8}))
    shutil.copy(FIXTURES / "vae.safetensors", folder / "diffusion_pytorch_model.safetensors")
    with pytest.raises(CheckpointError, match=r"wrong shape: decoder.conv_in.conv.weight \(32, 16, 3, 3, 3\)") as err:
        VideoAutoencoder.from_pretrained(folder)
    assert "\n" not in str(err.value)
