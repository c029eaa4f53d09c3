"""Stage 2 (Self-Forcing + DMD + Cycle-Reverse) on the CPU: which parameters learn, the ablation switch, resume."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sana_streaming.train.distributed import World
from sana_streaming.train.stages.streaming import StreamingStage
from sana_streaming.train.trainer import train
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
        numbers, source, conds = stage._batch(0)
        text = stage.generator.encode_text(*conds["forward"])
        reverse = stage.generator.encode_text(*conds["reverse"]) if weight else None
        generated, reverse_loss = stage.rollout(source, text, reverse, stage._gens(numbers, 5, 0), grad=True)
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
