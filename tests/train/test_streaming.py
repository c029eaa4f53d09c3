"""Stage 2 (Self-Forcing + DMD + Cycle-Reverse + regression) on the CPU: which parameters learn, the ablation
switch, the teacher-free regression, resume."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sana_streaming.train.distributed import World
from sana_streaming.train.stages.streaming import StreamingStage
from sana_streaming.train.trainer import train
from sana_streaming.train.vae_losses import warped_change
from tests.conftest import randomize_
from tests.train.helpers import HEIGHT, WIDTH, parts, recipe

LONG_FRAMES = 1 + 8 * 5  # 6 latent frames: chunks of 3 and 3


def long_videos(count: int, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(count):
        low = torch.rand(1, 3, 3, 4, 4, generator=gen) * 2 - 1
        video = torch.nn.functional.interpolate(low, size=(LONG_FRAMES, HEIGHT, WIDTH), mode="trilinear")[0]
        items.append({"video": video, "prompt": f"make it a pencil sketch {i}", "reverse_prompt": "restore colour"})
    return items


def stage_parts(seed: int = 0):
    p = parts(seed)
    teacher = randomize_(p.pop("model"), seed).eval()
    return {"teacher": teacher, **p}


def streaming_recipe(tmp_path, **dmd):
    return recipe(
        tmp_path,
        stage="streaming",
        data={"batch_size": 1},
        dmd={"latent_frames": 6, "critic_ratio": 2, "critic_lr": 1e-3, **dmd},
    )


def test_generator_critic_and_frozen_teacher(tmp_path):
    p = stage_parts()
    teacher_before = {k: v.clone() for k, v in p["teacher"].state_dict().items()}
    stage = StreamingStage(streaming_recipe(tmp_path), torch.device("cpu"), World(), dataset=long_videos(1), **p)
    gen_before = {k: v.clone() for k, v in stage.generator.state_dict().items()}
    critic_before = {k: v.clone() for k, v in stage.critic.state_dict().items()}
    values = stage.train_step(0)
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert {"loss", "loss_dmd", "loss_critic", "loss_reverse"} <= set(values)

    def changed(before, module):
        return [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]

    assert len(changed(gen_before, stage.generator)) > len(gen_before) // 2
    assert len(changed(critic_before, stage.critic)) > len(critic_before) // 2
    assert changed(teacher_before, p["teacher"]) == []
    assert all(q.grad is None for q in p["teacher"].parameters())
    assert all(q.grad is None for q in p["vae"].parameters())


def test_cooldown_ends_the_generator_and_the_critic_together(tmp_path):
    # the critic's scheduler steps critic_ratio (2) times a training step: both rates reach 0 at the last step
    base = streaming_recipe(tmp_path)
    cooled = dataclasses.replace(base, optim=dataclasses.replace(base.optim, cooldown=0.5))
    stage = StreamingStage(cooled, torch.device("cpu"), World(), dataset=long_videos(1), **stage_parts())
    rates = []
    for step in range(cooled.run.steps):
        stage.train_step(step)
        rates.append((stage.gen_opt.param_groups[0]["lr"], stage.critic_opt.param_groups[0]["lr"]))
    gen_lr, critic_lr = cooled.optim.lr, cooled.dmd.critic_lr
    halfway = cooled.run.steps // 2
    assert rates[halfway - 1][0] == pytest.approx(gen_lr)  # the rates after step `halfway - 1`: still full
    assert rates[halfway - 1][1] == pytest.approx(critic_lr)
    assert rates[-1] == (0.0, 0.0)
    for gen, critic in rates[halfway:]:  # falling together
        assert gen / gen_lr == pytest.approx(critic / critic_lr, abs=0.1)


def test_cycle_reverse_adds_its_gradient_and_can_be_switched_off(tmp_path):
    grads = {}
    for weight in (0.0, 0.5):
        stage = StreamingStage(
            streaming_recipe(tmp_path / str(weight), reverse_weight=weight),
            torch.device("cpu"),
            World(),
            dataset=long_videos(1),
            **stage_parts(),
        )
        numbers, source, conds, target, edited = stage._batch(0)
        assert target is None and edited is None  # no regression terms: the edits are not read
        text = stage.generator.encode_text(*conds["forward"])
        reverse = stage.generator.encode_text(*conds["reverse"]) if weight else None
        generated, reverse_loss, regression = stage.rollout(source, text, reverse, stage._gens(numbers, 5, 0), True)
        assert regression is None
        loss = stage.dmd_loss(generated, source, conds, stage._gens(numbers, 6, 0))
        if weight:
            assert reverse_loss is not None and torch.isfinite(reverse_loss) and reverse_loss.requires_grad
            loss = loss + weight * reverse_loss
        else:
            assert reverse_loss is None
        loss.backward()
        grads[weight] = torch.cat([q.grad.flatten() for q in stage.generator.parameters() if q.grad is not None])
    assert not torch.allclose(grads[0.0], grads[0.5])


def test_streaming_stage_resumes_exactly(tmp_path):
    data = long_videos(2)

    def cfg(folder):
        return recipe(
            folder,
            stage="streaming",
            run={"steps": 4},
            data={"batch_size": 1},
            dmd={"latent_frames": 6, "critic_ratio": 1},
        )

    full = train(cfg(tmp_path / "full"), dataset=data, progress=False, **stage_parts())
    train(cfg(tmp_path / "split"), dataset=data, progress=False, stop_after=2, **stage_parts())
    resumed = train(cfg(tmp_path / "split"), dataset=data, progress=False, **stage_parts())
    for a, b in zip(full[2:], resumed, strict=True):
        for key in ("loss", "loss_dmd", "loss_critic", "loss_reverse"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def long_pairs(count: int, seed: int = 0) -> list[dict]:
    """Long clips and their colour inversion (the ground-truth edit), as paired-clip items."""
    return [
        {"source": item["video"], "edited": -item["video"], "prompt": item["prompt"], "reverse_prompt": "restore"}
        for item in long_videos(count, seed)
    ]


def regression_stage(tmp_path, weight: float = 0.0, train_only: tuple[str, ...] = (), vae=None, **dmd):
    p = stage_parts()
    if vae is not None:
        p["vae"] = vae
    teacher = p.pop("teacher")
    if weight > 0:
        p["teacher"] = teacher
    cfg = streaming_recipe(tmp_path, weight=weight, reverse_weight=0.0, **{"regression": 1.0, **dmd})
    optim = dataclasses.replace(cfg.optim, lr=1e-3, warmup_steps=0, train_only=train_only)
    cfg = dataclasses.replace(cfg, optim=optim)
    return StreamingStage(cfg, torch.device("cpu"), World(), dataset=long_pairs(1), model=teacher, **p)


def test_regression_alone_needs_no_teacher_and_learns_the_edit(tmp_path):
    stage = regression_stage(tmp_path)
    assert stage.teacher is None and stage.critic is None
    numbers, source, conds, target, edited = stage._batch(0)
    assert target is not None and target.shape == source.shape and edited is None  # no pixel term

    def distance() -> float:  # the streamed edit (EMA off: the generator itself) against the ground truth
        with torch.no_grad():
            text = stage.generator.encode_text(*conds["forward"])
            x0, _, _ = stage.rollout(source, text, None, stage._gens(numbers, 9, 0), grad=False)
        return float((x0 - target).pow(2).mean())

    before = distance()
    rows = [stage.train_step(step) for step in range(30)]
    assert set(rows[0]) == {"loss", "loss_regression", "grad_norm"}
    assert rows[0]["loss"] == pytest.approx(rows[0]["loss_regression"])
    assert sum(r["loss"] for r in rows[-5:]) < 0.5 * sum(r["loss"] for r in rows[:5])
    assert distance() < 0.5 * before


def test_train_only_freezes_every_other_parameter_of_the_generator(tmp_path):
    # a grown model's new output rows trained on a frozen model: only final_layer moves, and it learns
    stage = regression_stage(tmp_path, train_only=("final_layer",))
    before = {k: v.clone() for k, v in stage.generator.state_dict().items()}
    rows = [stage.train_step(step) for step in range(12)]
    moved = sorted({k.split(".")[0] for k, v in stage.generator.state_dict().items() if not torch.equal(v, before[k])})
    assert moved == ["final_layer"]
    trained = [p for group in stage.gen_opt.param_groups for p in group["params"]]
    assert len(trained) == len(list(stage.generator.final_layer.parameters()))
    assert sum(r["loss"] for r in rows[-3:]) < sum(r["loss"] for r in rows[:3])
    for bad in ("finale", "final"):  # a whole module's or parameter's name, not any start of one
        message = rf"optim.train_only: {bad} names no parameter \(the model has .*final_layer"
        with pytest.raises(ValueError, match=message):
            regression_stage(tmp_path / bad, train_only=(bad,))


def test_regression_keeps_every_steps_gradient(tmp_path):
    # with a target each denoising step's x0 is regressed and keeps its gradient; without, only the last step's
    stage = regression_stage(tmp_path)
    numbers, source, conds, target, _ = stage._batch(0)
    text = stage.generator.encode_text(*conds["forward"])
    calls = []
    forward_chunk = stage.generator.forward_chunk

    def recording(*args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return forward_chunk(*args, **kwargs)

    stage.generator.forward_chunk = recording
    x0_with, _, loss = stage.rollout(source, text, None, stage._gens(numbers, 5, 0), grad=True, target=target)
    assert calls == [True] * 4 + [False] + [True] * 4 + [False]  # two chunks: 4 steps, then the cache refresh
    assert loss.requires_grad
    calls.clear()
    x0_without, _, none = stage.rollout(source, text, None, stage._gens(numbers, 5, 0), grad=True)
    assert none is None
    assert calls == [False] * 3 + [True, False] + [False] * 3 + [True, False]
    # the regression changes which steps keep a gradient, not the draws nor the edit
    torch.testing.assert_close(x0_with.detach(), x0_without.detach(), rtol=0, atol=0)
    # the mean of eight MSEs (4 steps x 2 chunks), not the last steps' alone
    last_only = float(torch.nn.functional.mse_loss(x0_with.detach(), target))
    assert float(loss.detach()) != pytest.approx(last_only, rel=1e-3)


def test_raw_units_score_the_vaes_own_latents(tmp_path):
    """dmd.regression_units = "raw": the error of the VAE's raw latents (each channel times latents_std /
    scaling_factor), in the rollout's regression and in validation; the same as normalised at statistics 0 / 1."""
    normalized = regression_stage(tmp_path / "normalized")
    raw = regression_stage(tmp_path / "raw", regression_units="raw")
    numbers, source, _, target, _ = raw._batch(0)
    x0 = target + torch.randn(target.shape, generator=torch.Generator().manual_seed(1))
    assert float(raw.latent_error(x0, target)) == pytest.approx(float(normalized.latent_error(x0, target)), rel=1e-6)

    vae = raw.vae  # a VAE whose channels have their own scales: the error of its denormalised latents, by hand
    channels = vae.cfg.latent_channels
    vae.latents_mean.copy_(torch.linspace(-1.0, 1.0, channels))
    vae.latents_std.copy_(torch.linspace(0.05, 2.0, channels))
    scaled = regression_stage(tmp_path / "scaled", regression_units="raw", vae=vae)
    by_hand = (vae.denormalize(x0) - vae.denormalize(target)).square().mean()
    torch.testing.assert_close(scaled.latent_error(x0, target), by_hand, rtol=1e-5, atol=0)
    assert float(by_hand) != pytest.approx(float(normalized.latent_error(x0, target)), rel=0.1)

    # every channel at half its scale: the rollout's regression and the validation error are a quarter of the
    # normalised ones on the same latents and draws (the same weights: both stages start from the same parts)
    vae.latents_std.fill_(0.5)
    normalized = regression_stage(tmp_path / "normalized_half", vae=vae)
    half = regression_stage(tmp_path / "half", regression_units="raw", vae=vae)
    losses = {}
    for name, stage in (("normalized", normalized), ("half", half)):
        numbers, source, conds, target, _ = stage._batch(0)
        with torch.no_grad():
            text = stage.generator.encode_text(*conds["forward"])
            _, _, losses[name] = stage.rollout(source, text, None, stage._gens(numbers, 5, 0), True, target=target)
        stage.val_dataset = long_pairs(1)
        losses[name + "_val"] = stage.validate()["val_mse"]
    torch.testing.assert_close(losses["half"], 0.25 * losses["normalized"], rtol=1e-5, atol=0)
    assert losses["half_val"] == pytest.approx(0.25 * losses["normalized_val"], rel=1e-5)


def decoded_error(stage: StreamingStage, gens) -> float:
    """The stage's streamed edit of its first pair, decoded, against the ground truth's pixels (MSE in [-1, 1])."""
    _, source, conds, _, _ = stage._batch(0)
    edited = long_pairs(1)[0]["edited"][None]
    with torch.no_grad():
        text = stage.generator.encode_text(*conds["forward"])
        x0, _, _ = stage.rollout(source, text, None, gens, grad=False)
        decoded = stage.vae.decode(stage.vae.denormalize(x0))
    return float((decoded - edited).pow(2).mean())


def test_the_pixel_term_scores_the_decoded_rollout_and_lowers_the_pixel_error(tmp_path):
    """What eval-model measures is the decoded edit's error: the pixel term lowers it where the latents' regression,
    through this (random) decoder, does not."""
    after = {}
    for name, dmd in (("pixels", {"regression": 0.0, "pixels": 1.0}), ("latents", {})):
        stage = regression_stage(tmp_path / name, **dmd)
        assert stage.teacher is None and stage.critic is None
        numbers, _, _, target, edited = stage._batch(0)
        first = decoded_error(stage, stage._gens(numbers, 5, 0))  # the draws of step 0's rollout
        before = decoded_error(stage, stage._gens(numbers, 9, 0))
        rows = [stage.train_step(step) for step in range(30)]
        after[name] = decoded_error(stage, stage._gens(numbers, 9, 0))
        if name == "pixels":
            assert target is None and edited.shape == (1, 3, LONG_FRAMES, HEIGHT, WIDTH)
            assert set(rows[0]) == {"loss", "loss_pixels", "grad_norm"}
            assert rows[0]["loss_pixels"] == pytest.approx(first, rel=1e-5)  # step 0's rollout decoded, by hand
            assert sum(r["loss"] for r in rows[-5:]) < 0.95 * sum(r["loss"] for r in rows[:5])
            assert after[name] < 0.9 * before
            assert all(q.grad is None for q in stage.vae.parameters())  # the VAE stays frozen
        else:
            assert edited is None  # the latents' regression alone reads no pixels
    assert after["pixels"] < 0.9 * after["latents"]


def test_the_pixel_term_beside_the_regression(tmp_path):
    stage = regression_stage(tmp_path, pixels=0.25)
    values = stage.train_step(0)
    assert {"loss_regression", "loss_pixels"} <= set(values)
    assert values["loss"] == pytest.approx(values["loss_regression"] + 0.25 * values["loss_pixels"], rel=1e-5)


def test_the_warped_temporal_term_scores_the_decoded_rollouts_flicker(tmp_path):
    """dmd.warped_temporal: the decoded rollout's change along the ground truth's motion against the ground truth's
    (vae_losses.warped_change), beside the pixel term, on the same decoded clip; the VAE stays frozen."""
    stage = regression_stage(tmp_path, regression=0.0, pixels=1.0, warped_temporal=0.5)
    numbers, source, conds, target, edited = stage._batch(0)
    assert target is None and edited.shape == (1, 3, LONG_FRAMES, HEIGHT, WIDTH)
    with torch.no_grad():  # step 0's rollout, by hand
        text = stage.generator.encode_text(*conds["forward"])
        x0, _, _ = stage.rollout(source, text, None, stage._gens(numbers, 5, 0), grad=False)
        decoded = stage.vae.decode(stage.vae.denormalize(x0))
        by_hand = float(warped_change(decoded, edited))
        pixels = float((decoded - edited).pow(2).mean())
    values = stage.train_step(0)
    assert set(values) == {"loss", "loss_pixels", "loss_warped_temporal", "grad_norm"}
    assert values["loss_warped_temporal"] == pytest.approx(by_hand, rel=1e-5)
    assert values["loss_pixels"] == pytest.approx(pixels, rel=1e-5)
    assert values["loss"] == pytest.approx(pixels + 0.5 * by_hand, rel=1e-5)
    assert all(q.grad is None for q in stage.vae.parameters())


def decoded_flicker(stage: StreamingStage) -> float:
    """The warped change (vae_losses.warped_change) of the stage's streamed edit of its first pair, decoded,
    against the ground truth's, with fixed draws."""
    numbers, source, conds, _, edited = stage._batch(0)
    with torch.no_grad():
        text = stage.generator.encode_text(*conds["forward"])
        x0, _, _ = stage.rollout(source, text, None, stage._gens(numbers, 9, 0), grad=False)
        return float(warped_change(stage.vae.decode(stage.vae.denormalize(x0)), edited))


def test_the_warped_temporal_term_lowers_the_edits_flicker(tmp_path):
    """Trained with the term beside the pixel term, the streamed edit's warped change against the ground truth's
    falls further than by the pixel term alone, from the same start and draws (the random frozen decoder's own
    flicker is out of the editor's reach, so both fall only part of the way)."""
    drop = {}
    for name, extra in (("pixels", {}), ("warped", {"warped_temporal": 4.0})):
        stage = regression_stage(tmp_path / name, regression=0.0, pixels=1.0, **extra)
        before = decoded_flicker(stage)
        for step in range(30):
            stage.train_step(step)
        drop[name] = before - decoded_flicker(stage)
    assert drop["pixels"] > 0 and drop["warped"] > 1.3 * drop["pixels"], drop


def test_regression_beside_distribution_matching(tmp_path):
    stage = regression_stage(tmp_path, weight=0.5)
    assert stage.teacher is not None and stage.critic is not None
    values = stage.train_step(0)
    assert {"loss_dmd", "loss_regression", "loss_critic"} <= set(values)
    assert values["loss"] == pytest.approx(0.5 * values["loss_dmd"] + values["loss_regression"], rel=1e-5)


def test_validation_streams_held_out_pairs_with_the_ema_weights(tmp_path):
    stage = regression_stage(tmp_path)
    assert stage.validate() is None  # no validation pairs
    stage.val_dataset = long_pairs(1)  # the training pair: training must lower its error
    before = stage.validate()["val_mse"]
    assert stage.validate()["val_mse"] == before  # the same noise every time
    for step in range(30):
        stage.train_step(step)
    after = stage.validate()["val_mse"]
    assert after < 0.5 * before
    trained = {k: v.clone() for k, v in stage.generator.state_dict().items()}
    stage.ema.shadow = {k: v.clone() for k, v in stage.ema.shadow.items()}
    for value in stage.ema.shadow.values():  # the EMA, not the generator, is what is measured (and exported)
        value.mul_(0.5)
    assert stage.validate()["val_mse"] != pytest.approx(after, rel=1e-3)
    torch.testing.assert_close(stage.generator.state_dict(), trained)


def test_the_trainer_keeps_the_best_validated_weights_across_a_resume(tmp_path):
    import json

    from sana_streaming.models.transformer import SanaStreamingTransformer

    data, held_out = long_pairs(2), long_pairs(1, seed=5)

    def run(folder, stop_after=None):
        cfg = recipe(
            folder,
            stage="streaming",
            run={"steps": 6, "val_every": 2},
            data={"batch_size": 1, "val_samples": 1},
            optim={"lr": 1e-3, "warmup_steps": 0, "ema_decay": 0.9},
            dmd={"latent_frames": 6, "weight": 0.0, "regression": 1.0, "reverse_weight": 0.0},
        )
        p = stage_parts()
        train(
            cfg, dataset=data, val_dataset=held_out, progress=False, stop_after=stop_after, model=p.pop("teacher"), **p
        )

    def validations(folder):
        rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        return {r["step"]: r["val_mse"] for r in rows if "val_mse" in r}

    run(tmp_path / "full")
    run(tmp_path / "split", stop_after=3)  # validated at step 2 and at its end, step 3
    assert list(validations(tmp_path / "split")) == [2, 3]
    run(tmp_path / "split")
    full, split = validations(tmp_path / "full"), validations(tmp_path / "split")
    assert list(full) == [2, 4, 6] and list(split) == [2, 3, 4, 6]
    for folder, values in ((tmp_path / "full", full), (tmp_path / "split", split)):
        record = json.loads((folder / "best" / "validation.json").read_text())
        assert record["val_mse"] == min(values.values()) and values[record["step"]] == record["val_mse"]
        SanaStreamingTransformer.from_pretrained(folder / "best")  # an exported model folder
    for step in (2, 4, 6):  # the resumed run validates as the whole one did
        assert split[step] == pytest.approx(full[step], rel=1e-5)


def test_regression_without_edits_is_refused(tmp_path):
    stage = regression_stage(tmp_path)
    stage.items.dataset = long_videos(1)  # long videos: no ground truth
    with pytest.raises(ValueError, match="paired clips"):
        stage._batch(0)
    stage = regression_stage(tmp_path / "pixels", regression=0.0, pixels=1.0)
    stage.items.dataset = long_videos(1)
    with pytest.raises(ValueError, match="paired clips"):
        stage._batch(0)


def test_regression_stage_resumes_exactly_and_refuses_a_critics_checkpoint(tmp_path):
    data = long_pairs(2)

    def cfg(folder, weight=0.0):
        return recipe(
            folder,
            stage="streaming",
            run={"steps": 4},
            data={"batch_size": 1},
            dmd={"latent_frames": 6, "critic_ratio": 1, "weight": weight, "regression": 1.0},
        )

    def model_parts():
        p = stage_parts()
        return {"model": p.pop("teacher"), **p}

    full = train(cfg(tmp_path / "full"), dataset=data, progress=False, **model_parts())
    train(cfg(tmp_path / "split"), dataset=data, progress=False, stop_after=2, **model_parts())
    resumed = train(cfg(tmp_path / "split"), dataset=data, progress=False, **model_parts())
    for a, b in zip(full[2:], resumed, strict=True):
        for key in ("loss", "loss_regression", "loss_reverse"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    with pytest.raises(ValueError, match=r"dmd\.weight"):  # the same folder, now with a critic
        train(cfg(tmp_path / "split", weight=1.0), dataset=data, progress=False, **stage_parts())
