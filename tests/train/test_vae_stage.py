"""The VAE stage through the trainer: reconstruction learns, distillation trains only the student decoder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sana_streaming.train.distributed import World
from sana_streaming.train.stages.vae import VAEStage
from sana_streaming.train.trainer import train
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import get_vae_config
from tests.train.helpers import MICRO_VAE, recipe, synthetic_pairs


def test_reconstruction_stage_trains_and_exports(tmp_path):
    vae = VideoAutoencoder(MICRO_VAE)
    rows = train(
        recipe(tmp_path, stage="vae", run={"steps": 6}, optim={"lr": 3e-3, "warmup_steps": 1}),
        dataset=synthetic_pairs(2),
        progress=False,
        vae=vae,
    )
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
    exported = VideoAutoencoder.from_pretrained(tmp_path / "final")
    assert exported.cfg == MICRO_VAE


def test_distillation_stage_trains_only_the_student_decoder(tmp_path):
    teacher = VideoAutoencoder(dataclasses.replace(MICRO_VAE, decoder_causal=False)).eval()
    cfg = recipe(tmp_path, stage="vae", vae_train={"mode": "distill"})
    stage = VAEStage(cfg, torch.device("cpu"), World(), dataset=synthetic_pairs(2), teacher=teacher)
    encoder_before = {k: v.clone() for k, v in stage.vae.encoder.state_dict().items()}
    decoder_before = {k: v.clone() for k, v in stage.vae.decoder.state_dict().items()}
    values = stage.train_step(0)
    assert torch.isfinite(torch.tensor(values["loss"]))
    assert all(torch.equal(v, encoder_before[k]) for k, v in stage.vae.encoder.state_dict().items())
    assert any(not torch.equal(v, decoder_before[k]) for k, v in stage.vae.decoder.state_dict().items())
    assert all(q.grad is None for q in teacher.parameters())
    assert stage.vae.cfg.decoder_causal


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"mode": "magic"}, r"vae_train\.mode must be reconstruct, decoder or distill"),
        ({"mode": "decoder"}, r"fine-tunes a trained VAE: set vae\.path"),
        ({"decoder": "tiny-wide"}, r"needs vae_train\.mode = 'decoder'"),
        ({"edited": 1.5}, r"vae_train\.edited is a share"),
    ],
)
def test_bad_vae_stage_settings_are_refused(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        VAEStage(
            recipe(tmp_path, stage="vae", vae_train=changes), torch.device("cpu"), World(), dataset=synthetic_pairs(1)
        )


def test_decoder_mode_fine_tunes_the_saved_vaes_decoder_only(tmp_path):
    torch.manual_seed(0)
    VideoAutoencoder(MICRO_VAE).save_pretrained(tmp_path / "vae")
    saved = VideoAutoencoder.from_pretrained(tmp_path / "vae")
    cfg = recipe(tmp_path / "run", stage="vae", vae={"path": str(tmp_path / "vae")}, vae_train={"mode": "decoder"})
    stage = VAEStage(cfg, torch.device("cpu"), World(), dataset=synthetic_pairs(2))
    for key, value in saved.state_dict().items():  # starts from the saved weights
        assert torch.equal(stage.vae.state_dict()[key], value), key
    stage.train_step(0)
    encoder, decoder = saved.encoder.state_dict(), saved.decoder.state_dict()
    assert all(torch.equal(v, encoder[k]) for k, v in stage.vae.encoder.state_dict().items())  # same latents
    assert any(not torch.equal(v, decoder[k]) for k, v in stage.vae.decoder.state_dict().items())


def test_decoder_mode_trains_a_new_wider_decoder_on_the_saved_encoder(tmp_path):
    torch.manual_seed(0)
    VideoAutoencoder(get_vae_config("tiny")).save_pretrained(tmp_path / "vae")
    saved = VideoAutoencoder.from_pretrained(tmp_path / "vae")
    changes = {"vae": {"path": str(tmp_path / "vae")}, "vae_train": {"mode": "decoder", "decoder": "tiny-wide"}}
    stage = VAEStage(
        recipe(tmp_path / "run", stage="vae", **changes), torch.device("cpu"), World(), dataset=synthetic_pairs(2)
    )
    assert stage.vae.cfg == get_vae_config("tiny-wide")
    kept = {k: v for k, v in saved.state_dict().items() if not k.startswith("decoder.")}
    assert all(torch.equal(stage.vae.state_dict()[k], v) for k, v in kept.items())  # encoder and latent statistics
    decoder = {k: v.clone() for k, v in stage.vae.decoder.state_dict().items()}
    stage.train_step(0)
    assert all(torch.equal(stage.vae.state_dict()[k], v) for k, v in kept.items())
    assert any(not torch.equal(v, decoder[k]) for k, v in stage.vae.decoder.state_dict().items())


def test_a_new_decoder_needs_the_same_encoder(tmp_path):
    VideoAutoencoder(MICRO_VAE).save_pretrained(tmp_path / "vae")
    micro = {"vae": {"path": str(tmp_path / "vae")}, "vae_train": {"mode": "decoder", "decoder": "tiny-wide"}}
    with pytest.raises(ValueError, match="has another encoder"):
        VAEStage(recipe(tmp_path / "a", stage="vae", **micro), torch.device("cpu"), World(), dataset=synthetic_pairs(1))


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_edited_share_puts_edited_videos_in_place_of_sources(tmp_path, share):
    pairs = synthetic_pairs(4)  # edited = -source: each sample is one or the other, recognisably
    cfg = recipe(tmp_path, stage="vae", vae_train={"edited": share}, data={"batch_size": 4})
    stage = VAEStage(cfg, torch.device("cpu"), World(), dataset=pairs, vae=VideoAutoencoder(MICRO_VAE))
    taken = []
    for step in range(8):
        video, _ = stage._video(step)
        for clip in video:
            is_source = any(torch.equal(clip, p["source"]) for p in pairs)
            is_edited = any(torch.equal(clip, p["edited"]) for p in pairs)
            assert is_source != is_edited
            taken.append(is_edited)
        again, _ = stage._video(step)
        assert torch.equal(again, video)  # drawn per sample number: a resumed run sees the same clips
    share_taken = sum(taken) / len(taken)
    if share in (0.0, 1.0):
        assert share_taken == share
    else:
        assert 0.25 < share_taken < 0.75  # 32 draws
