"""Stage 2: the streaming student, by Self-Forcing rollouts, DMD and Cycle-Reverse Regularization.

Per generator step (paper_notes 3.8-3.9):

1. Rollout: the student generates the clip chunk by chunk through its own stream caches (first chunk 5 latent
   frames, then 3), 4 steps per chunk at t = 1000, 961, 893, 743 with x0 prediction and fresh re-noising
   between steps; only the last step of each chunk keeps its gradient; each finished chunk refreshes the
   caches at t = 0 from the generated (detached) latents.
2. DMD: the generated clip is noised at a shifted timestep; the frozen bidirectional teacher (with guidance
   3.0 against the null caption) and the fake-score critic give x0 estimates; their difference, normalised by
   mean |x0 - x0_real|, is the gradient, applied as 0.5 * MSE(x, x - grad).
3. Cycle-Reverse: each generated chunk, detached, conditions a reverse pass with the reverse prompt; the target
   is the real source chunk noised at one of the denoising steps; flow-matching loss; the reverse stream keeps
   its own caches, refreshed at t = 0 from its own x0 prediction. Weight ``dmd.reverse_weight`` (0 = off).
4. Regression (``dmd.regression``, default 0; needs paired clips): the rollout's x0 at every denoising step
   against the ground-truth edit's latent (MSE, in the DiT's normalised units or, with ``dmd.regression_units =
   "raw"``, the VAE's own), each step then keeping its gradient. With ``dmd.weight = 0``
   it is the only generator loss besides Cycle-Reverse: no teacher, no critic (about half the time a step).
5. Pixels (``dmd.pixels``, default 0; needs paired clips): the rollout's clip decoded by the frozen VAE against
   the ground-truth edit's pixels (MSE), the gradient through the decoder into the last step of each chunk.
6. Warped temporal (``dmd.warped_temporal``, default 0; needs paired clips): that decoded clip's change from frame
   to frame along the ground truth's motion against the ground truth's own change (the warp error's flicker).

The critic (initialised from the teacher; the generator from ``model.init`` or the teacher) learns flow
matching on generated clips, ``dmd.critic_ratio`` updates per generator update.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import Tensor

from sana_streaming.diffusion.flow import STREAMING_TIMESTEPS, chunk_boundaries, sigmas_for
from sana_streaming.diffusion.training import noise_to, sample_dmd_timesteps, x0_from_velocity
from sana_streaming.models.state import CacheWindow
from sana_streaming.models.transformer import SanaStreamingTransformer, TextCondition
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
    average_gradients,
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
    shard_dit,
)
from sana_streaming.train.optim import EMA, clip_and_step, make_optimizer, trainable
from sana_streaming.train.recipe import Recipe
from sana_streaming.train.vae_losses import motion_grids, warped_change


class StreamingStage:
    """Generator (the streaming student), critic (fake score) and frozen teacher (real score)."""

    def __init__(
        self,
        recipe: Recipe,
        device: torch.device,
        world: World,
        *,
        dataset: Sequence,
        model=None,
        teacher=None,
        vae=None,
        text_encoder=None,
        val_dataset: Sequence | None = None,
    ) -> None:
        self.recipe, self.device, self.world, self.dataset = recipe, device, world, dataset
        self.val_dataset = val_dataset
        self.items = batch_items(recipe, dataset, world, device)
        dmd = recipe.dmd
        self.teacher = self.critic = None  # without distribution matching (dmd.weight = 0) neither exists
        if dmd.weight > 0:
            if teacher is None:
                teacher = build_model(recipe, device, init=dmd.teacher, preset=dmd.teacher_preset or None)
            self.teacher = teacher.eval().requires_grad_(False)
        # The generator starts from model.init (e.g. the streaming-architecture AR model, as the paper does),
        # else from the teacher; the critic (fake score) always starts from the teacher.
        if model is None:
            if not recipe.model.init and self.teacher is None:
                raise ValueError("dmd.weight = 0 needs model.init: there is no teacher to start the generator from")
            model = build_model(recipe, device) if recipe.model.init else copy.deepcopy(self.teacher)
        self.generator = model.requires_grad_(True)
        # Recomputes blocks of whole-clip passes (the critic's flow matching); rollouts stream chunk by chunk.
        self.generator.gradient_checkpointing = recipe.run.grad_checkpointing
        if self.teacher is not None:
            self.critic = copy.deepcopy(self.teacher).requires_grad_(True).train()
            self.critic.gradient_checkpointing = recipe.run.grad_checkpointing
        for module in (self.teacher, self.generator, self.critic):
            if module is not None:
                shard_dit(module, world, device, recipe.run.fsdp_param_dtype, recipe.run.fsdp_reshard_after_forward)
        self.generator.train()
        self.vae = vae if vae is not None else build_vae(recipe, device)
        # the ground truth's optical flow for dmd.warped_temporal (OpenCV, CPU), on a thread during the rollout
        self._flows = ThreadPoolExecutor(1, thread_name_prefix="flow") if dmd.warped_temporal > 0 else None
        # each latent channel's weight in the regression's and the validation's squared error (None: all 1)
        self.channel_weights = None
        if dmd.regression_units == "raw":  # normalised -> raw multiplies a channel by latents_std / scaling_factor
            scale = self.vae.latents_std.float().to(device) / self.vae.cfg.scaling_factor
            self.channel_weights = scale.square().view(1, -1, 1, 1, 1)
        self.text = text_encoder if text_encoder is not None else build_text_encoder(recipe, device, self.generator)
        self.gen_opt, self.gen_sched = make_optimizer(
            trainable(self.generator, recipe.optim.train_only), recipe.optim, total_steps=recipe.run.steps
        )
        self.critic_opt = self.critic_sched = None
        if self.critic is not None:
            self.critic_opt, self.critic_sched = make_optimizer(  # its scheduler steps critic_ratio times a step
                self.critic.parameters(),
                recipe.optim,
                lr=recipe.dmd.critic_lr,
                total_steps=recipe.run.steps * recipe.dmd.critic_ratio,
            )
        self.ema = EMA(self.generator, recipe.optim.ema_decay, recipe.optim.ema_start)
        self.sigmas = sigmas_for(STREAMING_TIMESTEPS).to(device)
        self.window = CacheWindow(recipe.dmd.num_cached_chunks, sink=True)

    # -- data and conditioning -------------------------------------------------------------------------------

    def _batch(self, step: int):
        """(global sample numbers, source latents, text conditions, ground-truth edit latents or None, its pixels
        or None): the edit's latents for the regression term, its pixels for the pixel term."""
        numbered = self.items(step)
        items = [item for _, item in numbered]
        # long videos ("video") or pairs ("source", "edited"); the edits are read for the terms on them only
        video = stack_to([item["video"] if "video" in item else item["source"] for item in items], self.device)
        source = encode_latents(self.vae, video)
        dmd, target, edited = self.recipe.dmd, None, None
        if dmd.paired:
            if not all("edited" in item for item in items):
                raise ValueError(
                    "dmd.regression, dmd.pixels and dmd.warped_temporal need paired clips (source and edited): "
                    "set data.manifest to pairs"
                )
            edited = stack_to([item["edited"] for item in items], self.device)
            target = encode_latents(self.vae, edited) if dmd.regression > 0 else None
            edited = edited.float() if dmd.pixels > 0 or dmd.warped_temporal > 0 else None
        null = self.generator.y_embedder.y_embedding
        conds = {}
        for key, field in (("forward", "prompt"), ("reverse", "reverse_prompt")):
            feats, mask = text_batch(self.text, [item[field] for item in items], null, [False] * len(items))
            conds[key] = (feats.to(self.device), mask.to(self.device))
        feats, mask = text_batch(self.text, [items[0]["prompt"]] * len(items), null, [True] * len(items))
        conds["null"] = (feats.to(self.device), mask.to(self.device))
        return [n for n, _ in numbered], source, conds, target, edited

    def _gens(self, numbers: list[int], *keys: int) -> list[torch.Generator]:
        return [seeded(self.recipe.run.seed, *keys, n) for n in numbers]

    @staticmethod
    def _randn(like: Tensor, gens: list[torch.Generator]) -> Tensor:
        return torch.stack([torch.randn(like.shape[1:], generator=g) for g in gens]).to(like)

    # -- the student's rollout ------------------------------------------------------------------------------

    def rollout(
        self,
        source: Tensor,
        text: TextCondition,
        reverse: TextCondition | None,
        gens,
        grad: bool,
        target: Tensor | None = None,
        model: SanaStreamingTransformer | None = None,
    ):
        """Generate the clip chunk by chunk (with the generator, or ``model``); returns (x0 of the whole clip,
        reverse loss or None, regression loss or None). With ``target`` (the ground-truth edit's latents) every
        step keeps its gradient and its x0 is regressed on the target's chunk; otherwise only the last step of
        each chunk keeps its gradient."""
        model = self.generator if model is None else model
        bounds = chunk_boundaries(source.shape[2])
        state = model.init_state(source.shape[0], tuple(source.shape[-2:]), bounds[1], window=self.window)
        rev_state = model.init_state(source.shape[0], tuple(source.shape[-2:]), bounds[1], window=self.window)
        state.copy_reads = rev_state.copy_reads = grad
        chunks, reverse_losses, regression_losses = [], [], []
        for a, b in itertools.pairwise(bounds):
            src = source[:, :, a:b]
            x = self._randn(src, gens)
            for i in range(len(STREAMING_TIMESTEPS)):
                last = i == len(STREAMING_TIMESTEPS) - 1
                with torch.set_grad_enabled(grad and (last or target is not None)):
                    velocity, _ = model.forward_chunk(x, src, self.sigmas[i] * 1000, text, state)
                    x0 = x0_from_velocity(x, velocity.float(), self.sigmas[i].expand(x.shape[0]))
                    if target is not None:
                        regression_losses.append(self.latent_error(x0, target[:, :, a:b]))
                if not last:  # Self-Forcing: re-noise the clean estimate with fresh noise
                    x = noise_to(x0.detach(), self._randn(src, gens), self.sigmas[i + 1].expand(x.shape[0]))
            with torch.no_grad():
                model.forward_chunk(
                    x0.detach(), src, torch.zeros(x.shape[0], device=x.device), text, state, write_cache=True
                )
            if reverse is not None:
                reverse_losses.append(self._reverse_chunk(src, x0.detach(), reverse, rev_state, gens, grad))
            chunks.append(x0)
        reverse_loss = torch.stack(reverse_losses).mean() if reverse_losses else None
        regression_loss = torch.stack(regression_losses).mean() if regression_losses else None
        return torch.cat(chunks, dim=2), reverse_loss, regression_loss

    def latent_error(self, x0: Tensor, target: Tensor) -> Tensor:
        """The mean squared error of normalised latents, in ``dmd.regression_units``."""
        if self.channel_weights is None:
            return F.mse_loss(x0, target)
        return ((x0 - target).square() * self.channel_weights).mean()

    def _reverse_chunk(self, src: Tensor, generated: Tensor, reverse: TextCondition, state, gens, grad: bool):
        """Predict the real source back from the generated chunk under the reverse prompt (flow matching)."""
        # One denoising step per sample, from the sample's own generator (the same draws on any process count).
        index = torch.cat([torch.randint(len(STREAMING_TIMESTEPS), (1,), generator=g) for g in gens])
        sigma = self.sigmas[index.to(self.sigmas.device)]
        noise = self._randn(src, gens)
        x_t = noise_to(src, noise, sigma)
        with torch.set_grad_enabled(grad):
            velocity, _ = self.generator.forward_chunk(x_t, generated, sigma * 1000, reverse, state)
            loss = F.mse_loss(velocity.float(), noise - src)
        with torch.no_grad():  # the reverse stream's caches come from its own prediction, not the clean source
            estimate = x0_from_velocity(x_t, velocity.detach().float(), sigma)
            self.generator.forward_chunk(estimate, generated, torch.zeros_like(sigma), reverse, state, write_cache=True)
        return loss

    # -- losses ---------------------------------------------------------------------------------------------

    def _noised(self, x0: Tensor, gens) -> tuple[Tensor, Tensor, Tensor]:
        dmd = self.recipe.dmd
        t = torch.cat(
            [
                sample_dmd_timesteps(1, g, shift=dmd.timestep_shift, t_min=dmd.timestep_min, t_max=dmd.timestep_max)
                for g in gens
            ]
        ).to(x0.device)
        noise = self._randn(x0, gens)
        return noise_to(x0, noise, t / 1000), t, noise

    def dmd_loss(self, x0: Tensor, source: Tensor, conds: dict, gens) -> Tensor:
        x_t, t, _ = self._noised(x0.detach(), gens)
        sigma = t / 1000
        with torch.no_grad():
            text, null = self.teacher.encode_text(*conds["forward"]), self.teacher.encode_text(*conds["null"])
            v_cond = self.teacher(x_t, source, t, text).float()
            v_uncond = self.teacher(x_t, source, t, null).float()
            v_real = v_uncond + self.recipe.dmd.guidance * (v_cond - v_uncond)
            v_fake = self.critic(x_t, source, t, self.critic.encode_text(*conds["forward"])).float()
            x0_real, x0_fake = x0_from_velocity(x_t, v_real, sigma), x0_from_velocity(x_t, v_fake, sigma)
            scale = (x0.detach() - x0_real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1e-6)
            gradient = (x0_fake - x0_real) / scale
        return 0.5 * F.mse_loss(x0, (x0 - gradient).detach())

    def decode(self, x0: Tensor) -> Tensor:
        """The clip ``x0`` (normalised latents) decoded by the frozen VAE, as the editor decodes it: (B, 3, T, H, W)
        in [-1, 1], float32, with the gradient into ``x0``."""
        return self.vae.decode(self.vae.denormalize(x0.to(self.vae.dtype))).float()

    def critic_loss(self, x0: Tensor, source: Tensor, conds: dict, gens) -> Tensor:
        x_t, t, noise = self._noised(x0.detach(), gens)
        velocity = self.critic(x_t, source, t, self.critic.encode_text(*conds["forward"])).float()
        return F.mse_loss(velocity, noise - x0.detach())

    # -- one step -------------------------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, float]:
        numbers, source, conds, target, edited = self._batch(step)
        dmd = self.recipe.dmd
        grids = self._flows.submit(motion_grids, edited) if self._flows is not None else None
        critic_losses = []
        for k in range(dmd.critic_ratio if self.critic is not None else 0):
            with torch.no_grad():
                text = self.generator.encode_text(*conds["forward"])
                generated, _, _ = self.rollout(source, text, None, self._gens(numbers, 3, step, k), grad=False)
            loss = self.critic_loss(generated, source, conds, self._gens(numbers, 4, step, k))
            loss.backward()
            average_gradients(self.critic, self.world)
            clip_and_step(self.critic.parameters(), self.critic_opt, self.critic_sched, self.recipe.optim.grad_clip)
            critic_losses.append(float(loss.detach()))
        text = self.generator.encode_text(*conds["forward"])
        reverse = self.generator.encode_text(*conds["reverse"]) if dmd.reverse_weight > 0 else None
        generated, reverse_loss, regression_loss = self.rollout(
            source, text, reverse, self._gens(numbers, 5, step), grad=True, target=target
        )
        terms = {}  # name: (weight, loss)
        if self.critic is not None:
            terms["loss_dmd"] = (dmd.weight, self.dmd_loss(generated, source, conds, self._gens(numbers, 6, step)))
        if reverse_loss is not None:
            terms["loss_reverse"] = (dmd.reverse_weight, reverse_loss)
        if regression_loss is not None:
            terms["loss_regression"] = (dmd.regression, regression_loss)
        if edited is not None:  # the pixel terms, on the ground-truth edit's pixels (B, 3, T, H, W) in [-1, 1]
            decoded = self.decode(generated)
            if dmd.pixels > 0:
                terms["loss_pixels"] = (dmd.pixels, F.mse_loss(decoded, edited))
            if dmd.warped_temporal > 0:
                flicker = warped_change(decoded, edited, grid=grids.result())
                terms["loss_warped_temporal"] = (dmd.warped_temporal, flicker)
        loss = sum(weight * term for weight, term in terms.values())
        loss.backward()
        average_gradients(self.generator, self.world)
        norm = clip_and_step(self.generator.parameters(), self.gen_opt, self.gen_sched, self.recipe.optim.grad_clip)
        self.ema.update(self.generator, step)
        values = {"loss": float(loss.detach()), **{name: float(term.detach()) for name, (_, term) in terms.items()}}
        if critic_losses:
            values["loss_critic"] = sum(critic_losses) / len(critic_losses)
        values["grad_norm"] = norm
        return values

    @torch.no_grad()
    def validate(self) -> dict[str, float] | None:
        """The EMA weights' streamed edits of the first ``data.val_samples`` validation pairs against their ground
        truths: the mean squared error of the final latents (in ``dmd.regression_units``), the same noise every
        time (None without pairs).
        Every process calls it (the EMA is gathered)."""
        if self.val_dataset is None:
            return None
        model = self._ema_model().to(self.device).eval()
        null = self.generator.y_embedder.y_embedding
        count = min(len(self.val_dataset), self.recipe.data.val_samples)
        total = 0.0
        for i in range(count):  # one at a time: the pairs may come in several sizes (buckets)
            item = self.val_dataset[i]
            source = encode_latents(self.vae, item["source"][None].to(self.device))
            target = encode_latents(self.vae, item["edited"][None].to(self.device))
            feats, mask = text_batch(self.text, [item["prompt"]], null, [False])
            text = model.encode_text(feats.to(self.device), mask.to(self.device))
            gens = [seeded(self.recipe.run.seed, 7, i)]
            x0, _, _ = self.rollout(source, text, None, gens, grad=False, model=model)
            total += float(self.latent_error(x0.float(), target.float()))
        return {"val_mse": total / count}

    # -- checkpoints ----------------------------------------------------------------------------------------

    # Under FSDP2 these gather or scatter whole tensors: every process calls them.

    def weights(self) -> dict[str, Tensor]:
        out = {f"generator.{k}": v for k, v in model_state(self.generator).items()}
        if self.critic is not None:
            out.update({f"critic.{k}": v for k, v in model_state(self.critic).items()})
        return out

    def state(self) -> dict:
        out = {
            "gen_opt": optimizer_state(self.generator, self.gen_opt, self.world),
            "gen_sched": self.gen_sched.state_dict(),
            "ema": self.ema.state_dict(),
        }
        if self.critic is not None:
            out["critic_opt"] = optimizer_state(self.critic, self.critic_opt, self.world)
            out["critic_sched"] = self.critic_sched.state_dict()
        return out

    def load(self, weights: dict, state: dict) -> None:
        if (self.critic is not None) != ("critic_opt" in state):
            raise ValueError("this checkpoint was written with a different dmd.weight (with or without a critic)")
        for name, module in (("generator", self.generator), ("critic", self.critic)):
            if module is None:
                continue
            prefix = f"{name}."
            load_model_state(module, {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)})
        load_optimizer_state(self.generator, self.gen_opt, state["gen_opt"], self.world)
        self.gen_sched.load_state_dict(state["gen_sched"])
        if self.critic is not None:
            load_optimizer_state(self.critic, self.critic_opt, state["critic_opt"], self.world)
            self.critic_sched.load_state_dict(state["critic_sched"])
        self.ema.load_state_dict(state["ema"])

    def _ema_model(self) -> SanaStreamingTransformer:
        """An unsharded copy of the generator with its EMA weights, on the CPU (every process calls it)."""
        model = SanaStreamingTransformer(self.generator.cfg)
        self.ema.copy_to(model)
        return model

    def export(self, folder) -> None:
        """The generator's EMA weights as a model folder, written by process 0."""
        model = self._ema_model()
        if self.world.main:
            model.save_pretrained(folder)
