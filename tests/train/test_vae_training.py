"""VAE training pieces: the reconstruction losses, the reconstruction step, and causal decoder distillation."""

from __future__ import annotations

import math

import pytest
import torch

from sana_streaming.train.vae_losses import (
    ReconstructionLoss,
    charbonnier,
    haar_dwt2d,
    haar_highband_l1,
    kl_divergence,
)
from sana_streaming.train.vae_training import (
    capture_decoder_features,
    decoder_distillation_step,
    init_causal_student,
    vae_reconstruction_step,
)
from sana_streaming.vae.autoencoder import VideoAutoencoder, remap_decoder_to_causal
from sana_streaming.vae.config import VAEConfig

SINGLE_FRAME_ATOL = 1e-5  # fp32: a causal decode with remapped taps [0, a, b + c] vs (a + b + c), rounding only
FEATURE_ATOL = 1e-6  # fp32: the same MSE computed through hooks and through explicit block calls

# 16x spatial / 8x temporal like the "tiny" preset, at a quarter of its widths; bidirectional so it can teach.
MICRO = VAEConfig(
    latent_channels=8,
    block_out_channels=(8, 16, 16),
    downsample_type=("temporal", "spatiotemporal", "spatiotemporal"),
    layers_per_block=(1, 1, 1, 1),
    decoder_block_out_channels=(8, 16, 32),
    decoder_layers_per_block=(1, 1, 1, 1),
    upsample_type=("spatiotemporal", "spatiotemporal", "temporal"),
    decoder_causal=False,
    name="micro",
)


@pytest.fixture
def single_thread():
    """These models are so small that extra threads only add overhead (and contention on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def micro_vae(seed: int = 0) -> VideoAutoencoder:
    torch.manual_seed(seed)
    return VideoAutoencoder(MICRO)


def smooth_clip(frames: int = 17, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    """(1, 3, frames, height, width) in [-1, 1]: a few moving low-frequency waves per channel."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, frames).view(frames, 1, 1)
    y = torch.linspace(-1, 1, height).view(1, height, 1)
    x = torch.linspace(-1, 1, width).view(1, 1, width)
    channels = []
    for _ in range(3):
        fx, fy, ft, phase = (torch.rand(4, generator=gen) * torch.tensor([3.0, 3.0, 4.0, 6.28])).tolist()
        channels.append(0.8 * torch.sin(fx * x + fy * y + ft * t + phase))
    return torch.stack(channels)[None]


def no_hooks(*models: torch.nn.Module) -> bool:
    return all(not m._forward_hooks for model in models for m in model.modules())


# -- losses -----------------------------------------------------------------------------------------------------


def test_charbonnier_is_eps_for_identical_inputs_and_about_l1_otherwise():
    x = torch.randn(2, 3, 5, 8, 8)
    assert charbonnier(x, x).item() == pytest.approx(1e-6, rel=1e-6)
    y = x + 0.3 * torch.randn_like(x)
    assert charbonnier(x, y).item() == pytest.approx((x - y).abs().mean().item(), rel=1e-4)
    half = x.half().requires_grad_()
    charbonnier(half, x.half()).backward()  # eps^2 underflows in float16: the loss runs in float32
    assert torch.isfinite(half.grad).all()


def test_haar_transform_by_hand_and_orthonormal():
    block = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).view(1, 1, 1, 2, 2)
    ll, lh, hl, hh = (band.item() for band in haar_dwt2d(block))
    assert (ll, lh, hl, hh) == (5.5, -2.5, -1.5, 0.5)  # (a+b+c+d)/2, (a+b-c-d)/2, (a-b+c-d)/2, (a-b-c+d)/2
    video = torch.randn(2, 3, 4, 10, 12)
    bands = haar_dwt2d(video)
    energy = sum(band.square().sum() for band in bands)
    torch.testing.assert_close(energy, video.square().sum(), rtol=1e-5, atol=0)
    assert all(band.shape == (2, 3, 4, 5, 6) for band in bands)
    assert all(band.shape == (2, 3, 4, 6, 4) for band in haar_dwt2d(torch.randn(2, 3, 4, 11, 7)))
    noise = 0.1 * torch.randn(1, 3, 9, 64, 64)  # white errors: high bands on the scale of the per-pixel L1
    assert haar_highband_l1(noise, torch.zeros_like(noise)).item() == pytest.approx(noise.abs().mean().item(), rel=0.03)


@pytest.mark.parametrize("size", [(32, 32), (33, 31)], ids=["even", "odd"])
def test_haar_highband_is_zero_for_identical_or_flat_offset_and_positive_otherwise(size):
    x = torch.rand(1, 3, 9, *size) * 2 - 1
    assert haar_highband_l1(x, x).item() == 0.0
    assert haar_highband_l1(x, x + 0.25).item() < 1e-7  # a flat offset has no high band (odd edges replicated)
    assert haar_highband_l1(x, x + 0.1 * torch.randn_like(x)).item() > 0.01


def test_haar_sees_a_checkerboard_that_a_pixel_loss_weighs_like_a_smooth_offset():
    frames, height, width = 9, 32, 32
    x = smooth_clip(frames, height, width)
    rows, cols = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    checker = 0.1 * (1 - 2 * ((rows + cols) % 2)).float().expand(1, 3, frames, height, width)
    ramp = torch.sin(math.pi * torch.linspace(0, 1, width)).expand(1, 3, frames, height, width)
    smooth = ramp * checker.norm() / ramp.norm()  # same L2 norm as the checkerboard, slowly varying
    assert charbonnier(x, x + checker).item() == pytest.approx(0.1, rel=1e-3)
    assert charbonnier(x, x + smooth).item() == pytest.approx(0.1, rel=0.2)  # pixel losses: about the same
    high, low = haar_highband_l1(x, x + checker).item(), haar_highband_l1(x, x + smooth).item()
    assert high == pytest.approx(2 * 0.1 / 3, rel=1e-4)  # all in HH: (a - b - c + d) / 2 = 2 * 0.1, 1 band of 3
    assert high > 10 * low  # measured: about 21x


def test_kl_is_zero_at_the_prior_and_matches_torch_distributions():
    zeros = torch.zeros(2, 8, 3, 2, 2)
    assert kl_divergence(zeros, zeros).item() == 0.0
    mean, logvar = torch.randn(2, 8, 3, 2, 2), torch.randn(2, 8, 3, 2, 2)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(posterior, prior).mean()
    torch.testing.assert_close(kl_divergence(mean, logvar), expected, rtol=1e-5, atol=1e-6)
    assert kl_divergence(mean, logvar).item() > 0


def test_reconstruction_loss_weights_parts_and_perceptual_hook():
    recon, target = torch.rand(2, 3, 9, 16, 16), torch.rand(2, 3, 9, 16, 16)
    mean, logvar = torch.randn(2, 8, 2, 1, 1), torch.randn(2, 8, 2, 1, 1)
    total, parts = ReconstructionLoss()(recon, target, mean, logvar)
    assert set(parts) == {"charbonnier", "haar", "kl"}
    torch.testing.assert_close(total, parts["charbonnier"] + 0.5 * parts["haar"] + 1e-6 * parts["kl"])
    _, parts = ReconstructionLoss()(recon, target)
    assert "kl" not in parts  # no posterior given (decoder-only training)

    seen = []

    def fake_lpips(x, y):  # per-frame inputs, one distance per frame like LPIPS
        seen.append(x.shape)
        return (x - y).abs().mean(dim=(1, 2, 3))

    total, parts = ReconstructionLoss(haar=0.0, kl=0.0, perceptual=0.2, perceptual_net=fake_lpips)(recon, target)
    assert seen == [(18, 3, 16, 16)]
    assert set(parts) == {"charbonnier", "perceptual"}
    torch.testing.assert_close(total, parts["charbonnier"] + 0.2 * parts["perceptual"])
    # temporal: the Charbonnier of the frame-to-frame differences, by hand
    total, parts = ReconstructionLoss(haar=0.0, kl=0.0, temporal=0.3)(recon, target)
    by_hand = torch.sqrt((recon[:, :, 1:] - recon[:, :, :-1] - target[:, :, 1:] + target[:, :, :-1]) ** 2 + 1e-12)
    torch.testing.assert_close(parts["temporal"], by_hand.mean())
    torch.testing.assert_close(total, parts["charbonnier"] + 0.3 * parts["temporal"])
    # a constant per-video offset changes no difference: the temporal term stays at eps, flicker raises it
    offset = target + 0.1
    flicker = target + 0.1 * torch.tensor([1.0, -1.0] * 4 + [1.0]).view(1, 1, 9, 1, 1)
    steady, _ = ReconstructionLoss(charbonnier=0.0, haar=0.0, kl=0.0, temporal=1.0)(offset, target)
    flickering, _ = ReconstructionLoss(charbonnier=0.0, haar=0.0, kl=0.0, temporal=1.0)(flicker, target)
    assert steady < 1e-5 < 0.19 < flickering
    with pytest.raises(ValueError, match="needs a perceptual_net"):
        ReconstructionLoss(perceptual=0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        ReconstructionLoss(haar=-1.0)
    with pytest.raises(ValueError, match="does not match the target"):
        ReconstructionLoss()(recon, target[:, :, :5])


# -- reconstruction step ----------------------------------------------------------------------------------------


def test_reconstruction_step_is_finite_and_trains_encoder_and_decoder(single_thread):
    vae, video = micro_vae(), torch.rand(2, 3, 17, 32, 32) * 2 - 1
    loss = ReconstructionLoss()
    total, parts = vae_reconstruction_step(vae, video, loss, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(total) and total.dim() == 0
    assert set(parts) == {"charbonnier", "haar", "kl", "total"}
    assert parts["total"] == pytest.approx(total.item())
    total.backward()
    for part in (vae.encoder, vae.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.square().sum() for g in grads) > 0
    again, _ = vae_reconstruction_step(vae, video, loss, generator=torch.Generator().manual_seed(0))
    assert again.item() == total.item()  # the generator fixes the posterior sample


@torch.no_grad()
def test_reconstruction_step_without_sampling_decodes_the_mode_causally(single_thread):
    vae, video = micro_vae(), smooth_clip()
    loss = ReconstructionLoss(kl=0.0)
    total, _ = vae_reconstruction_step(vae, video, loss, sample_posterior=False)
    z = vae.encode(video)  # 3 latent frames: causal and bidirectional decodes differ
    assert total.item() == pytest.approx(loss(vae.decode(z, causal=True), video)[0].item(), rel=1e-6)
    assert total.item() != pytest.approx(loss(vae.decode(z, causal=False), video)[0].item(), rel=1e-3)


@pytest.mark.slow
def test_reconstruction_step_overfits_one_clip_tenfold_in_200_adam_steps(single_thread):
    # Adam lr 1e-2 on one 17-frame 32x32 clip (3 latent frames of 2x2x8). Measured on CPU over seeds 0-3 (model
    # and clip): 8-15x at step 150, 13-19x at step 200 (seed 0: 17x); about 10 s on one thread.
    vae, video = micro_vae(), smooth_clip()
    loss = ReconstructionLoss()
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        first, _ = vae_reconstruction_step(vae, video, loss, sample_posterior=False)
    for _ in range(200):
        total, _ = vae_reconstruction_step(vae, video, loss, generator=gen)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
    with torch.no_grad():
        last, _ = vae_reconstruction_step(vae, video, loss, sample_posterior=False)
    assert torch.isfinite(last)
    assert last.item() < first.item() / 10, (first.item(), last.item())


# -- causal student -----------------------------------------------------------------------------------------------


def test_init_causal_student_remaps_the_decoder_and_copies_the_rest():
    teacher = micro_vae()
    student = init_causal_student(teacher)
    assert student.cfg.decoder_causal and not teacher.cfg.decoder_causal
    expected = remap_decoder_to_causal(teacher.state_dict())
    state = student.state_dict()
    assert set(state) == set(expected)
    for key, value in state.items():
        assert torch.equal(value, expected[key]), key
    remapped = [k for k in state if k.startswith("decoder.") and k.endswith("conv.weight")]
    assert remapped and all(torch.all(state[k][:, :, 0] == 0) for k in remapped)  # oldest tap zeroed
    assert all(torch.equal(state[k], teacher.state_dict()[k]) for k in state if k.startswith("encoder."))
    teacher_ptrs = {p.data_ptr() for p in teacher.parameters()}
    assert not any(p.data_ptr() in teacher_ptrs for p in student.parameters())  # copies, not shared
    assert all(p.requires_grad for p in student.parameters())
    with pytest.raises(ValueError, match="teacher must be bidirectional"):
        init_causal_student(student)


@torch.no_grad()
def test_causal_student_decodes_one_latent_frame_like_the_bidirectional_teacher():
    teacher = micro_vae()
    student = init_causal_student(teacher)
    one = torch.randn(1, MICRO.latent_channels, 1, 2, 3)
    torch.testing.assert_close(student.decode(one), teacher.decode(one), atol=SINGLE_FRAME_ATOL, rtol=0)
    three = torch.randn(1, MICRO.latent_channels, 3, 2, 3)  # from 2 latent frames on, the remap is not exact
    assert (student.decode(three) - teacher.decode(three)).abs().max() > 1e-3


# -- decoder distillation -------------------------------------------------------------------------------------------


def test_distillation_step_trains_only_the_student_decoder(single_thread):
    teacher = micro_vae()
    student = init_causal_student(teacher)
    total, parts = decoder_distillation_step(student, teacher, smooth_clip(), ReconstructionLoss())
    assert torch.isfinite(total)
    assert all(math.isfinite(v) for v in parts.values())
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.decoder.parameters())
    assert sum(p.grad.square().sum() for p in student.decoder.parameters()) > 0
    assert all(p.grad is None for p in student.encoder.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    assert no_hooks(student, teacher)


@torch.no_grad()
def test_distillation_features_are_the_mid_and_up_block_outputs(single_thread):
    teacher = micro_vae()
    student = init_causal_student(teacher)
    video = smooth_clip()
    loss = ReconstructionLoss(kl=0.0)
    _, parts = decoder_distillation_step(student, teacher, video, loss, feature_weight=1.0, output_weight=0.5)
    z = teacher.encode(video)

    def block_outputs(decoder, causal):  # the decoder's forward, block by block
        x = decoder.mid_block(decoder.conv_in(z, causal), causal, None)
        outputs = {"mid_block": x}
        for i, block in enumerate(decoder.up_blocks):
            x = block(x, causal, None)
            outputs[f"up_blocks.{i}"] = x
        return outputs

    ours, theirs = block_outputs(student.decoder, True), block_outputs(teacher.decoder, False)
    names = ["mid_block", "up_blocks.0", "up_blocks.1", "up_blocks.2"]
    assert [k for k in parts if k.startswith("feature/")] == [f"feature/{name}" for name in names]
    for name in names:
        expected = torch.nn.functional.mse_loss(ours[name], theirs[name]).item()
        assert parts[f"feature/{name}"] == pytest.approx(expected, abs=FEATURE_ATOL, rel=1e-5)
    assert parts["feature"] == pytest.approx(sum(parts[f"feature/{n}"] for n in names) / 4, rel=1e-5)
    output = torch.nn.functional.mse_loss(student.decode(z, causal=True), teacher.decode(z, causal=False)).item()
    assert parts["output"] == pytest.approx(output, rel=1e-5)
    recon_total = loss(student.decode(z, causal=True), video)[0].item()
    assert parts["total"] == pytest.approx(recon_total + parts["feature"] + 0.5 * output, rel=1e-5)
    assert no_hooks(student, teacher)


def test_feature_hooks_are_removed_when_the_forward_fails(monkeypatch):
    teacher = micro_vae()
    student = init_causal_student(teacher)

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(student.decoder.conv_out, "forward", fail)
    with pytest.raises(RuntimeError, match="boom"):
        decoder_distillation_step(student, teacher, smooth_clip(9), ReconstructionLoss())
    assert no_hooks(student, teacher)
    with capture_decoder_features(teacher.decoder) as features:
        assert not no_hooks(teacher)
    assert features == {} and no_hooks(teacher)


def test_distillation_steps_reduce_the_loss(single_thread):
    teacher = micro_vae()
    student = init_causal_student(teacher)
    video, loss = smooth_clip(), ReconstructionLoss()
    optimizer = torch.optim.Adam(student.decoder.parameters(), lr=3e-3)
    history = []
    for _ in range(50):  # measured: the total falls about 4x (0.90 -> 0.23) over these 50 steps
        total, parts = decoder_distillation_step(student, teacher, video, loss)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        history.append(parts)
    assert history[-1]["total"] < 0.5 * history[0]["total"]
    assert history[-1]["charbonnier"] < 0.5 * history[0]["charbonnier"]
    assert history[-1]["feature"] < history[0]["feature"]


def test_distillation_rejects_different_architectures():
    teacher = micro_vae()
    other = VideoAutoencoder(VAEConfig(**{**MICRO.__dict__, "latent_channels": 16, "decoder_causal": True}))
    with pytest.raises(ValueError, match="same architecture"):
        decoder_distillation_step(other, teacher, smooth_clip(9), ReconstructionLoss())
