"""Stage 1 (bidirectional flow matching) on the CPU: gradients, overfitting, exact resume, two processes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from sana_streaming.train.trainer import train
from tests.conftest import randomize_
from tests.train.helpers import parts, recipe, run_processes, synthetic_pairs


def test_the_loss_is_finite_and_reaches_every_trainable_parameter(tmp_path):
    from sana_streaming.train.distributed import World
    from sana_streaming.train.stages.bidirectional import BidirectionalStage

    p = parts()
    randomize_(p["model"])  # the zero-initialised output layers would hide every other gradient
    stage = BidirectionalStage(recipe(tmp_path), torch.device("cpu"), World(), dataset=synthetic_pairs(2), **p)
    loss = stage.loss(0)
    assert torch.isfinite(loss)
    loss.backward()
    dead_taps = {n for n, q in p["model"].named_parameters() if q.dim() == 3 and q.shape[-1] == 3}
    missing = [n for n, q in p["model"].named_parameters() if q.grad is None or not q.grad.abs().sum() > 0]
    assert missing == []  # every parameter acts and learns
    side_taps = [q.grad[:, :, [0, 2]] for n, q in p["model"].named_parameters() if n in dead_taps]
    assert all(torch.count_nonzero(g) == 0 for g in side_taps)  # the unused Conv1d side taps never learn
    assert all(q.grad is None for q in p["vae"].parameters())  # the VAE is frozen


def test_train_only_leaves_the_rest_of_the_model_without_gradients(tmp_path):
    from sana_streaming.train.distributed import World
    from sana_streaming.train.stages.bidirectional import BidirectionalStage

    p = parts()
    randomize_(p["model"])
    cfg = recipe(tmp_path, optim={"train_only": ("x_embedder", "final_layer")})
    stage = BidirectionalStage(cfg, torch.device("cpu"), World(), dataset=synthetic_pairs(2), **p)
    stage.loss(0).backward()
    learning = {n.split(".")[0] for n, q in p["model"].named_parameters() if q.grad is not None}
    assert learning == {"x_embedder", "final_layer"}
    assert sum(len(g["params"]) for g in stage.optimizer.param_groups) == sum(
        q.requires_grad for q in p["model"].parameters()
    )


def test_activation_checkpointing_gives_the_same_loss_and_gradients(tmp_path, monkeypatch):
    """run.grad_checkpointing recomputes every block in backward (it must, or it saves no memory), exactly."""
    from sana_streaming.models.transformer import HybridBlock
    from sana_streaming.train.distributed import World
    from sana_streaming.train.stages.bidirectional import BidirectionalStage

    calls = []
    block_forward = HybridBlock.forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return block_forward(self, *args, **kwargs)

    monkeypatch.setattr(HybridBlock, "forward", counted)
    results = []
    for on in (False, True):
        p = parts()
        randomize_(p["model"])
        cfg = recipe(tmp_path, run={"grad_checkpointing": on})
        stage = BidirectionalStage(cfg, torch.device("cpu"), World(), dataset=synthetic_pairs(2), **p)
        calls.clear()
        loss = stage.loss(0)
        forwards = len(calls)
        loss.backward()
        grads = {n: q.grad.clone() for n, q in p["model"].named_parameters()}
        results.append((loss.detach(), grads, forwards, len(calls)))
    (loss_off, grads_off, fwd_off, total_off), (loss_on, grads_on, fwd_on, total_on) = results
    depth = len(parts()["model"].blocks)
    assert (fwd_off, total_off) == (depth, depth)  # plain: each block runs once
    assert (fwd_on, total_on) == (depth, 2 * depth)  # checkpointed: once more during backward
    torch.testing.assert_close(loss_on, loss_off, rtol=0, atol=0)
    for name, grad in grads_off.items():
        torch.testing.assert_close(grads_on[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_a_tiny_model_overfits_one_pair(tmp_path):
    """Flow matching on one pair: the loss over a fixed set of noise draws falls 10x within 60 steps."""
    from sana_streaming.train.distributed import World
    from sana_streaming.train.stages.bidirectional import BidirectionalStage

    cfg = recipe(
        tmp_path,
        run={"steps": 60},
        data={"batch_size": 4},
        flow={"text_dropout": 0.0},
        optim={"lr": 3e-3, "warmup_steps": 10},
    )
    stage = BidirectionalStage(cfg, torch.device("cpu"), World(), dataset=synthetic_pairs(1), **parts())
    probe = [10_000 + i for i in range(4)]  # steps whose (fixed) draws serve as the evaluation set

    def eval_loss():
        with torch.no_grad():
            return sum(float(stage.loss(s)) for s in probe) / len(probe)

    before = eval_loss()
    for step in range(60):
        stage.train_step(step)
    assert eval_loss() < before / 10


def test_resuming_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    data = synthetic_pairs(3)
    full = train(recipe(tmp_path / "full"), dataset=data, progress=False, **parts())
    train(recipe(tmp_path / "split"), dataset=data, progress=False, stop_after=4, **parts())
    resumed = train(recipe(tmp_path / "split"), dataset=data, progress=False, **parts())
    assert [r["step"] for r in resumed] == list(range(4, 10))
    for a, b in zip(full[4:], resumed, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-7)
    assert (tmp_path / "full" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "full" / "log.jsonl").read_text().count("\n") == 10


def test_a_time_limit_stops_early_exports_final_and_resumes_to_the_end(tmp_path):
    data = synthetic_pairs(3)
    full = train(recipe(tmp_path / "full"), dataset=data, progress=False, **parts())
    boxed = recipe(tmp_path / "boxed", run={"time_limit_s": 1e-9})  # out of time after the first step
    first = train(boxed, dataset=data, progress=False, **parts())
    assert [r["step"] for r in first] == [0]
    assert (tmp_path / "boxed" / "final" / "model.safetensors").is_file()
    rest = train(recipe(tmp_path / "boxed"), dataset=data, progress=False, **parts())
    assert [r["step"] for r in rest] == list(range(1, 10))
    for a, b in zip(full[1:], rest, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-7)


def _two_process_run(out_dir: str) -> list[dict]:
    return train(recipe(out_dir, run={"steps": 4}), dataset=synthetic_pairs(4), progress=False, **parts())


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    torch.set_num_threads(1)
    single = train(recipe(tmp_path / "one", run={"steps": 4}), dataset=synthetic_pairs(4), progress=False, **parts())
    single_weights = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    rows = run_processes(_two_process_run, 2, str(tmp_path / "two"))
    weights = load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    for a, b in zip(single, rows, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for key, value in single_weights.items():
        torch.testing.assert_close(weights[key], value, atol=1e-5, rtol=1e-4, msg=key)


def test_data_threads_load_the_same_batches_as_the_main_thread(tmp_path):
    """BatchItems with 2 loading threads, ahead of the steps, across a jump (a resume), equals loading inline."""
    from sana_streaming.train.common import BatchItems
    from sana_streaming.train.data.datasets import PairClipDataset
    from sana_streaming.train.distributed import World
    from tests.train.data.test_datasets import write_pairs

    manifest = write_pairs(tmp_path, [((96, 64), 30)] * 3)
    dataset = PairClipDataset(manifest, num_frames=9, buckets=((80, 48),), seed=3)
    inline, threaded = BatchItems(dataset, 2, 0, World()), BatchItems(dataset, 2, 0, World(), workers=2)
    try:
        for step in (0, 1, 2, 7, 8, 3):  # epochs 0..5: every item is drawn anew in each
            want, got = inline(step), threaded(step)
            assert [n for n, _ in got] == [n for n, _ in want] == [2 * step, 2 * step + 1]
            for (_, a), (_, b) in zip(want, got, strict=True):
                assert torch.equal(a["source"], b["source"]) and torch.equal(a["edited"], b["edited"])
    finally:
        threaded.close()
    with pytest.raises(ValueError, match="num_workers"):
        BatchItems(dataset, 2, 0, World(), workers=-1)


def test_clips_are_pinned_only_for_cuda_with_loading_threads(tmp_path):
    """data.pin_memory pins nothing on the CPU or without loading threads (inline loads stay as they were), and
    stack_to on the CPU is torch.stack; the pinned path itself is tested on CUDA (test_gpu_stages)."""
    from sana_streaming.train.common import BatchItems, batch_items, stack_to
    from sana_streaming.train.distributed import World

    dataset = synthetic_pairs(2)
    cfg = recipe(tmp_path, data={"num_workers": 2})
    assert cfg.data.pin_memory
    cpu = batch_items(cfg, dataset, World(), torch.device("cpu"))
    try:
        assert not cpu.pin and cpu._pool is not None
    finally:
        cpu.close()
    assert not BatchItems(dataset, 2, 0, World(), workers=0, pin=True).pin
    clips = [torch.randn(3, 5, 4, 6) for _ in range(3)]
    assert torch.equal(stack_to(clips, torch.device("cpu")), torch.stack(clips))
