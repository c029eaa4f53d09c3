"""The causal VAE stage: train the autoencoder by reconstruction, or distil a causal decoder (paper_notes 3.6).

``vae_train.mode = "reconstruct"``: encoder and decoder learn Charbonnier + Haar high-band L1 (+ a tiny KL)
on the training clips, decoding causally as the streaming path does. ``"decoder"``: the same losses, but only
the decoder of the VAE in ``vae.path`` learns (its encoder, hence its latents and every model trained on them,
stay as they are); ``vae_train.decoder`` names a preset with the same encoder whose new decoder (e.g. a wider
one) is trained in place of the saved one. ``"distill"``: a bidirectional teacher
(``vae_train.teacher``) is frozen; the student is its copy with remapped causal kernels; only the student's
decoder learns, from the real clips and the teacher's mid/up-block features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sana_streaming.train.common import batch_items, seeded, stack_to
from sana_streaming.train.distributed import World, average_gradients
from sana_streaming.train.optim import EMA, clip_and_step, make_optimizer
from sana_streaming.train.recipe import Recipe
from sana_streaming.train.vae_losses import ReconstructionLoss
from sana_streaming.train.vae_training import decoder_distillation_step, init_causal_student, vae_reconstruction_step
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import ENCODER_FIELDS, get_vae_config


class VAEStage:
    """Owns the trained VAE (or the student and its frozen teacher), the optimiser and an EMA."""

    def __init__(
        self,
        recipe: Recipe,
        device: torch.device,
        world: World,
        *,
        dataset: Sequence,
        vae=None,
        teacher=None,
        **_unused,
    ) -> None:
        self.recipe, self.device, self.world, self.dataset = recipe, device, world, dataset
        self.items = batch_items(recipe, dataset, world, device)
        cfg = recipe.vae_train
        if not 0.0 <= cfg.edited <= 1.0:
            raise ValueError(f"vae_train.edited is a share of the samples, between 0 and 1; got {cfg.edited}")
        self.loss = ReconstructionLoss(
            charbonnier=cfg.charbonnier,
            haar=cfg.haar,
            kl=cfg.kl,
            temporal=cfg.temporal,
            warped_temporal=cfg.warped_temporal,
        )
        if cfg.decoder and cfg.mode != "decoder":
            raise ValueError("vae_train.decoder replaces a trained VAE's decoder: it needs vae_train.mode = 'decoder'")
        if cfg.mode == "distill":
            self.teacher = (
                teacher
                if teacher is not None
                else VideoAutoencoder.from_pretrained(cfg.teacher, causal_decoder=False, device=device)
            )
            self.teacher.eval().requires_grad_(False)
            self.vae = init_causal_student(self.teacher).train()
            self.vae.encoder.requires_grad_(False)
            trainable = list(self.vae.decoder.parameters())
        elif cfg.mode in ("reconstruct", "decoder"):
            if cfg.mode == "decoder" and vae is None and not recipe.vae.path:
                raise ValueError("vae_train.mode = 'decoder' fine-tunes a trained VAE: set vae.path")
            self.teacher = None
            self.vae = vae if vae is not None else self._new_vae()
            self.vae.train().requires_grad_(True)
            if cfg.mode == "decoder":
                self.vae.encoder.eval().requires_grad_(False)
            trainable = [p for p in self.vae.parameters() if p.requires_grad]
        else:
            raise ValueError(f"vae_train.mode must be reconstruct, decoder or distill, got {cfg.mode!r}")
        self.trainable = trainable
        self.optimizer, self.scheduler = make_optimizer(trainable, recipe.optim, total_steps=recipe.run.steps)
        self.ema = EMA(self.vae, recipe.optim.ema_decay, recipe.optim.ema_start)

    def _new_vae(self) -> VideoAutoencoder:
        if self.recipe.vae.path and self.recipe.vae_train.decoder:
            return self._with_new_decoder(VideoAutoencoder.from_pretrained(self.recipe.vae.path))
        if self.recipe.vae.path:
            return VideoAutoencoder.from_pretrained(self.recipe.vae.path, device=self.device)
        torch.manual_seed(self.recipe.run.seed)
        return VideoAutoencoder(get_vae_config(self.recipe.vae.preset)).to(self.device)

    def _with_new_decoder(self, trained: VideoAutoencoder) -> VideoAutoencoder:
        """The trained encoder (and latent statistics) with the freshly initialised decoder of a preset."""
        name = self.recipe.vae_train.decoder
        cfg = get_vae_config(name)
        differ = [f for f in ENCODER_FIELDS if getattr(cfg, f) != getattr(trained.cfg, f)]
        if differ:
            raise ValueError(
                f"VAE preset {name!r} has another encoder than {self.recipe.vae.path} ({', '.join(differ)})"
            )
        torch.manual_seed(self.recipe.run.seed)
        vae = VideoAutoencoder(cfg)
        kept = {k: v for k, v in trained.state_dict().items() if not k.startswith("decoder.")}
        missing = vae.load_state_dict(kept, strict=False).missing_keys
        assert all(k.startswith("decoder.") for k in missing), missing
        return vae.to(self.device)

    def _video(self, step: int) -> tuple[torch.Tensor, list[int]]:
        """The step's clips: long videos, or pairs' sources with each sample's edited video in their place with
        probability ``vae_train.edited`` (drawn per global sample number: the same whatever the process count)."""
        numbered = self.items(step)
        edited, seed = self.recipe.vae_train.edited, self.recipe.run.seed

        def clip(number: int, item: dict) -> torch.Tensor:
            if "video" in item:
                return item["video"]
            take = edited > 0 and float(torch.rand((), generator=seeded(seed, 11, number))) < edited
            return item["edited" if take else "source"]

        videos = [clip(n, item) for n, item in numbered]
        return stack_to(videos, self.device), [n for n, _ in numbered]

    def train_step(self, step: int) -> dict[str, float]:
        video, numbers = self._video(step)
        if self.teacher is not None:
            loss, parts = decoder_distillation_step(
                self.vae, self.teacher, video, self.loss, feature_weight=self.recipe.vae_train.feature_weight
            )
        else:
            loss, parts = vae_reconstruction_step(
                self.vae, video, self.loss, generator=seeded(self.recipe.run.seed, 7, numbers[0])
            )
        loss.backward()
        average_gradients(self.vae, self.world)
        norm = clip_and_step(self.trainable, self.optimizer, self.scheduler, self.recipe.optim.grad_clip)
        self.ema.update(self.vae, step)
        return {"loss": float(loss.detach()), "grad_norm": norm, **{f"recon/{k}": v for k, v in parts.items()}}

    def weights(self) -> dict[str, torch.Tensor]:
        return {f"vae.{k}": v for k, v in self.vae.state_dict().items()}

    def state(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict(),
        }

    def load(self, weights: dict, state: dict) -> None:
        self.vae.load_state_dict({k.removeprefix("vae."): v for k, v in weights.items()})
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema.load_state_dict(state["ema"])

    def export(self, folder) -> None:
        """The EMA weights as a VAE folder (config.json + model.safetensors), written by process 0."""
        if self.world.main:
            vae = VideoAutoencoder(self.vae.cfg)
            self.ema.copy_to(vae)
            vae.save_pretrained(folder)
