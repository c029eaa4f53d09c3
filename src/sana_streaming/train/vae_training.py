"""Training steps of the video autoencoder: reconstruction, and causal decoder distillation (paper_notes 3.6).

Both are pure step functions: they take the models and a batch, run the forward passes and return the loss
(the caller runs backward and the optimiser) plus its parts as floats for logging. The decoder is always run
causally on the trained side, because the streaming path decodes causally.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from sana_streaming.models.checkpoint import build_with_weights
from sana_streaming.train.vae_losses import ReconstructionLoss, mse
from sana_streaming.vae.autoencoder import VideoAutoencoder, remap_decoder_to_causal


def vae_reconstruction_step(
    vae: VideoAutoencoder,
    video: Tensor,
    loss: ReconstructionLoss,
    *,
    sample_posterior: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Encode, decode causally and score the reconstruction; gradients reach encoder and decoder.

    Args:
        vae: the autoencoder being trained.
        video: (B, C, 1 + 8k, H, W) clip in [-1, 1], H and W multiples of the spatial compression.
        loss: the weighted reconstruction terms (KL on the posterior included).
        sample_posterior: decode a reparameterised sample ``mean + exp(logvar / 2) * noise`` (True) or the
            posterior mode (False).
        generator: the noise generator (any device); None uses the global one.

    Returns:
        (float32 scalar loss, {"charbonnier", "haar", "kl", ... , "total": float}) with unweighted parts.
    """
    mean, logvar = vae.posterior(video)  # (B, latent, 1 + k, h, w) each
    z = mean
    if sample_posterior:
        where = mean.device if generator is None else generator.device  # seeded CPU generators train on GPU too
        noise = torch.randn(mean.shape, generator=generator, device=where, dtype=mean.dtype).to(mean.device)
        z = mean + torch.exp(0.5 * logvar) * noise
    recon = vae.decode(z, causal=True)  # (B, C, 1 + 8k, H, W)
    total, parts = loss(recon, video, mean, logvar)
    return total, _as_floats(parts, total)


def init_causal_student(teacher: VideoAutoencoder) -> VideoAutoencoder:
    """A causal-decoder copy of a bidirectional VAE: the paper's initialisation for decoder distillation.

    Every 3-tap temporal kernel [a, b, c] of the decoder becomes [0, a, b + c]; the encoder, biases and latent
    statistics are copied unchanged. The copy owns its tensors (nothing is shared with the teacher), has the
    teacher's device, dtype and train/eval mode, and ``decoder_causal=True`` in its config.

    Args:
        teacher: a VAE whose decoder is bidirectional (``cfg.decoder_causal`` False).

    Returns:
        The student VAE.
    """
    if teacher.cfg.decoder_causal:
        raise ValueError(
            f"init_causal_student: the teacher's config {teacher.cfg.name!r} has decoder_causal=True; the remap "
            "[a, b, c] -> [0, a, b + c] turns a bidirectional decoder into a causal one, so the teacher must be "
            "bidirectional"
        )
    cfg = dataclasses.replace(teacher.cfg, decoder_causal=True)
    state = {key: value.detach().clone() for key, value in remap_decoder_to_causal(teacher.state_dict()).items()}
    reference = teacher.encoder.conv_in.conv.weight
    student = build_with_weights(
        lambda: VideoAutoencoder(cfg), state, "init_causal_student", dtype=reference.dtype, device=reference.device
    )
    return student.train(teacher.training)


def decoder_distillation_step(
    student: VideoAutoencoder,
    teacher: VideoAutoencoder,
    video: Tensor,
    loss: ReconstructionLoss,
    *,
    feature_weight: float = 1.0,
    output_weight: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    """Causal decoder distillation: the student's causal decode learns from the real video and the teacher.

    The latent is the frozen teacher encoder's posterior mode. The teacher decodes it bidirectionally and the
    student causally; the loss is ``loss(student decode, real video)`` (its KL term does not apply: the encoder
    is frozen), plus ``feature_weight`` times the mean over decoder.mid_block and every decoder.up_blocks[i] of
    the MSE between the student's and the teacher's outputs of that block, plus ``output_weight`` times the MSE
    between the two decodes. Only the student's decoder parameters get gradients.

    Args:
        student: the causal VAE being trained (from :func:`init_causal_student`).
        teacher: the bidirectional VAE with the same architecture; run without grad.
        video: (B, C, 1 + 8k, H, W) clip in [-1, 1].
        loss: the reconstruction terms against the real video (paper: Charbonnier + Haar + LPIPS).
        feature_weight: weight of the feature MSE (paper: lambda_distill, not published); 0 skips it.
        output_weight: weight of the output MSE against the teacher's decode; 0 (default) skips it.

    Returns:
        (float32 scalar loss, unweighted parts as floats: the reconstruction terms, "feature" and
        "feature/<block>" per hooked block, "output" when used, and "total").
    """
    _check_same_architecture(student, teacher)
    with torch.no_grad():
        z, _ = teacher.posterior(video)  # the mode: (B, latent, 1 + k, h, w)
        with capture_decoder_features(teacher.decoder) as teacher_features:
            teacher_video = teacher.decode(z, causal=False)
    with capture_decoder_features(student.decoder) as student_features:
        recon = student.decode(z, causal=True)
    total, parts = loss(recon, video)
    if feature_weight > 0:
        per_block = {name: mse(student_features[name], teacher_features[name]) for name in teacher_features}
        parts["feature"] = torch.stack(list(per_block.values())).mean()
        parts.update({f"feature/{name}": value.detach() for name, value in per_block.items()})
        total = total + feature_weight * parts["feature"]
        parts["feature"] = parts["feature"].detach()
    if output_weight > 0:
        output = mse(recon, teacher_video)
        total = total + output_weight * output
        parts["output"] = output.detach()
    return total, _as_floats(parts, total)


def decoder_feature_modules(decoder: nn.Module) -> dict[str, nn.Module]:
    """The decoder blocks whose outputs are distilled: ``mid_block`` and ``up_blocks.<i>`` in forward order."""
    blocks = {f"up_blocks.{i}": block for i, block in enumerate(decoder.up_blocks)}
    return {"mid_block": decoder.mid_block, **blocks}


@contextmanager
def capture_decoder_features(decoder: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Record the outputs of the blocks of :func:`decoder_feature_modules` during the forwards run inside.

    Yields a dict filled by forward hooks (the last forward wins); the hooks are removed on exit, also when the
    forward raises.
    """
    features: dict[str, Tensor] = {}
    handles = []
    try:
        for name, module in decoder_feature_modules(decoder).items():
            handles.append(module.register_forward_hook(_recorder(features, name)))
        yield features
    finally:
        for handle in handles:
            handle.remove()


def _recorder(features: dict[str, Tensor], name: str):
    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        features[name] = output

    return hook


def _check_same_architecture(student: VideoAutoencoder, teacher: VideoAutoencoder) -> None:
    if dataclasses.replace(student.cfg, decoder_causal=teacher.cfg.decoder_causal) != teacher.cfg:
        raise ValueError(
            f"decoder distillation needs student and teacher of the same architecture (only decoder_causal may "
            f"differ); got student {student.cfg} and teacher {teacher.cfg}"
        )


def _as_floats(parts: dict[str, Tensor], total: Tensor) -> dict[str, float]:
    """Detached scalars -> floats with a single device-to-host copy."""
    names = [*parts, "total"]
    values = torch.stack([*(parts[name].float() for name in parts), total.detach().float()]).tolist()
    return dict(zip(names, values, strict=True))
