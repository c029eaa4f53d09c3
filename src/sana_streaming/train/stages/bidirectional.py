"""Stage 1: the bidirectional editor, trained by rectified flow matching on paired clips (paper_notes 3.8).

Target velocity noise - x0 of the edited latent, conditioned on the source latent (channel concatenation)
and the prompt; logit-normal noise levels shifted by 3; the prompt dropped to the null caption 10% of the
time (for guidance); AdamW, constant learning rate after warm-up, gradient clipping, EMA.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from sana_streaming.diffusion.training import noise_to, sample_sigmas, velocity_target
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.train.common import (
    batch_items,
    build_model,
    build_text_encoder,
    build_vae,
    encode_latents,
    seeded,
    stack_to,
    text_batch,
)
from sana_streaming.train.distributed import (
    World,
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
    shard_dit,
    wrap,
)
from sana_streaming.train.optim import EMA, clip_and_step, make_optimizer, trainable
from sana_streaming.train.recipe import Recipe


class BidirectionalStage:
    """Owns the model, its EMA, the optimiser; ``train_step`` draws everything from (seed, step, sample)."""

    def __init__(
        self,
        recipe: Recipe,
        device: torch.device,
        world: World,
        *,
        dataset: Sequence,
        model=None,
        vae=None,
        text_encoder=None,
    ) -> None:
        self.recipe, self.device, self.world, self.dataset = recipe, device, world, dataset
        model = model if model is not None else build_model(recipe, device)
        self.model = shard_dit(model, world, device, recipe.run.fsdp_param_dtype, recipe.run.fsdp_reshard_after_forward)
        self.model.gradient_checkpointing = recipe.run.grad_checkpointing
        self.vae = vae if vae is not None else build_vae(recipe, device)
        self.text = text_encoder if text_encoder is not None else build_text_encoder(recipe, device, self.model)
        params = trainable(self.model, recipe.optim.train_only)  # frozen before DDP wraps it
        self.trainee = wrap(self.model, world, device)
        self.optimizer, self.scheduler = make_optimizer(params, recipe.optim, total_steps=recipe.run.steps)
        self.ema = EMA(self.model, recipe.optim.ema_decay, recipe.optim.ema_start)
        self.autocast = _autocast_dtype(recipe, device)
        self.items = batch_items(recipe, dataset, world, device)

    def loss(self, step: int) -> torch.Tensor:
        items = self.items(step)
        groups = defaultdict(list)  # clips of different resolution buckets cannot be stacked together
        for number, item in items:
            groups[tuple(item["source"].shape)].append((number, item))
        total = 0.0
        for group in groups.values():
            total = total + self._group_loss(group) * len(group)
        return total / len(items)

    def _group_loss(self, group) -> torch.Tensor:
        flow, seed = self.recipe.flow, self.recipe.run.seed
        gens = [seeded(seed, 1, number) for number, _ in group]
        source = stack_to([item["source"] for _, item in group], self.device)
        edited = stack_to([item["edited"] for _, item in group], self.device)
        z_src, z_edit = encode_latents(self.vae, source), encode_latents(self.vae, edited)
        sigma = torch.cat(
            [sample_sigmas(1, g, logit_mean=flow.logit_mean, logit_std=flow.logit_std, shift=flow.shift) for g in gens]
        ).to(self.device)
        noise = torch.stack([torch.randn(z_edit.shape[1:], generator=g) for g in gens]).to(self.device)
        drop = [bool(torch.rand(1, generator=g) < flow.text_dropout) for g in gens]
        features, mask = text_batch(
            self.text, [item["prompt"] for _, item in group], self.model.y_embedder.y_embedding, drop
        )
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            text = self.model.encode_text(features.to(self.device), mask.to(self.device))
            velocity = self.trainee(noise_to(z_edit, noise, sigma), z_src, sigma * 1000, text)
        return F.mse_loss(velocity.float(), velocity_target(z_edit, noise))

    def train_step(self, step: int) -> dict[str, float]:
        loss = self.loss(step)
        loss.backward()
        norm = clip_and_step(self.model.parameters(), self.optimizer, self.scheduler, self.recipe.optim.grad_clip)
        self.ema.update(self.model, step)
        return {"loss": float(loss.detach()), "grad_norm": norm, "lr": self.scheduler.get_last_lr()[0]}

    # -- checkpoints --------------------------------------------------------------------------------------

    # Under FSDP2 these gather or scatter whole tensors: every process calls them.

    def weights(self) -> dict[str, torch.Tensor]:
        return {f"model.{k}": v for k, v in model_state(self.model).items()}

    def state(self) -> dict:
        return {
            "optimizer": optimizer_state(self.model, self.optimizer, self.world),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict(),
        }

    def load(self, weights: dict, state: dict) -> None:
        load_model_state(self.model, {k.removeprefix("model."): v for k, v in weights.items()})
        load_optimizer_state(self.model, self.optimizer, state["optimizer"], self.world)
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema.load_state_dict(state["ema"])

    def export(self, folder) -> None:
        """The EMA weights as a model folder (config.json + model.safetensors), written by process 0."""
        model = SanaStreamingTransformer(self.model.cfg)
        self.ema.copy_to(model)
        if self.world.main:
            model.save_pretrained(folder)


def _autocast_dtype(recipe: Recipe, device: torch.device) -> torch.dtype | None:
    precision = recipe.run.precision
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if precision == "bf16" else None
