"""The official Gemma-2 text-encoding procedure, on a tiny random Gemma-2 and a tokenizer made here (no download).

The reference follows the official recipe literally: tokens of ``CHI_PREFIX + prompt`` right-padded by hand to
``len(encode(CHI_PREFIX)) + 300 - 2``, the decoder run on the whole padded sequence, then [0] + the last 299.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from huggingface_hub import constants
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import Gemma2Config, Gemma2ForCausalLM, PreTrainedTokenizerFast

from sana_streaming.text import GemmaTextEncoder, PromptError, TextEncoderNotFoundError
from sana_streaming.text.gemma import CHI_PREFIX, CHI_PREFIX_LINES, MOTION_SCORE_SUFFIX, with_motion_score
from sana_streaming.text.loading import dtype_kwargs

PAD, EOS, BOS = 0, 1, 2  # the ids the real Gemma tokenizer uses
# Same weights, inputs and dtype as the reference: only the batch layout of the CPU kernels can differ.
ATOL, RTOL = 1e-5, 1e-5
PROMPTS = ["a cat on a red sofa", "the fox", "the quick brown fox jumps over the lazy dog"]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on the prefix and a few sentences; adds BOS like Gemma's, pads on the left
    like the Gemma tokenizer class (the encoder must switch to right padding, as the official code does)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"], show_progress=False
    )
    tokenizer.train_from_iterator([CHI_PREFIX, *PROMPTS], trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", BOS)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
    )


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory):
    """(folder, tokenizer, float32 Gemma2ForCausalLM) of a 2-layer, 32-wide random Gemma-2."""
    folder = tmp_path_factory.mktemp("tiny-gemma-2")
    tokenizer = tiny_tokenizer()
    config = Gemma2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder, tokenizer, model


@pytest.fixture(scope="module")
def encoder(tiny_gemma) -> GemmaTextEncoder:
    return GemmaTextEncoder(tiny_gemma[0], dtype=torch.float32)


@torch.no_grad()
def reference(model, tokenizer, prompts, *, prefix=CHI_PREFIX):
    """Official selection computed by hand: features (B, 300, D) and mask (B, 300)."""
    rows = [tokenizer.encode(prefix + p) for p in prompts]
    assert all(row[0] == BOS for row in rows)
    if prefix:
        length = len(tokenizer.encode(prefix)) + 300 - 2
        keep = [0, *range(length - 299, length)]
    else:
        length = 300
        keep = list(range(300))
    ids = torch.tensor([row + [PAD] * (length - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in rows])
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    return hidden[:, keep].float(), mask[:, keep]


def test_prefix_and_bidirectional_constants():
    assert len(CHI_PREFIX_LINES) == 5 and "\n".join(CHI_PREFIX_LINES) == CHI_PREFIX
    assert CHI_PREFIX.startswith('Given a user prompt, generate an "Enhanced prompt" that provides detailed visual')
    assert CHI_PREFIX.endswith("additional commentary or evaluations:\nUser Prompt: ")
    assert MOTION_SCORE_SUFFIX == " motion score: 10."
    assert with_motion_score("  a cat on a sofa ") == "a cat on a sofa motion score: 10."


def test_matches_the_official_selection(tiny_gemma, encoder):
    folder, tokenizer, model = tiny_gemma
    assert json.loads((folder / "tokenizer_config.json").read_text())["padding_side"] == "left"
    features, mask = encoder.encode(PROMPTS)
    expected, expected_mask = reference(model, tokenizer, PROMPTS)
    assert features.shape == (3, 300, 32) and features.dtype == torch.float32 and features.device.type == "cpu"
    assert mask.dtype == torch.int64 and torch.equal(mask, expected_mask)
    assert torch.isfinite(features).all()
    torch.testing.assert_close(features, expected, atol=ATOL, rtol=RTOL)
    alone, alone_mask = encoder.encode(PROMPTS[1:2])
    assert torch.equal(alone_mask[0], mask[1])
    torch.testing.assert_close(alone[0], features[1], atol=ATOL, rtol=RTOL)


def test_kept_tokens_are_bos_end_of_prefix_prompt_then_padding(encoder, tiny_gemma):
    tokenizer = tiny_gemma[1]
    _, mask = encoder.encode(PROMPTS)
    for row, prompt in zip(mask, PROMPTS, strict=True):
        num_prompt = len(tokenizer.encode(prompt)) - 1  # without BOS; the prefix ends a word here
        assert encoder.count_tokens(prompt) == num_prompt
        num_real = 2 + num_prompt  # BOS and the prefix's last token, then the prompt
        assert row.tolist() == [1] * num_real + [0] * (300 - num_real)


def test_prompt_at_the_limit_fills_all_300_and_one_more_is_refused(tiny_gemma, encoder):
    _, tokenizer, model = tiny_gemma
    assert tokenizer.encode("cat") == [BOS, tokenizer.convert_tokens_to_ids("cat")]
    assert encoder.max_prompt_tokens == 298
    features, mask = encoder.encode(["cat " * 298])
    expected, _ = reference(model, tokenizer, ["cat " * 298])
    assert bool(mask.all())
    torch.testing.assert_close(features, expected, atol=ATOL, rtol=RTOL)
    with pytest.raises(PromptError) as error:
        encoder.encode(["a cat", "cat " * 299])
    assert str(error.value) == "the prompt is 299 tokens long; the limit of this text encoder is 298 tokens"
    with pytest.raises(PromptError) as error:
        encoder.encode([" "])
    assert str(error.value) == "the prompt is empty"


def test_without_prefix_keeps_the_first_300(tiny_gemma, encoder):
    folder, tokenizer, model = tiny_gemma
    negative = encoder.with_prefix(False)
    assert negative.decoder is encoder.decoder and encoder.use_prefix
    loaded = GemmaTextEncoder(folder, dtype=torch.float32, use_prefix=False)
    expected, expected_mask = reference(model, tokenizer, PROMPTS, prefix="")
    for enc in (negative, loaded):
        features, mask = enc.encode(PROMPTS)
        assert torch.equal(mask, expected_mask)
        torch.testing.assert_close(features, expected, atol=ATOL, rtol=RTOL)
    with pytest.raises(PromptError) as error:
        negative.encode(["cat " * 300])
    assert str(error.value) == "the prompt is 300 tokens long; the limit of this text encoder is 299 tokens"


def test_default_dtype_is_bfloat16_like_the_official_encoder(tiny_gemma):
    folder, tokenizer, _ = tiny_gemma
    encoder = GemmaTextEncoder(folder)
    assert encoder.decoder.dtype == torch.bfloat16
    features, mask = encoder.encode(PROMPTS[:1])
    # Loaded in bfloat16 as the official code loads it: model.to(bfloat16) would also round RoPE's inv_freq.
    official = Gemma2ForCausalLM.from_pretrained(folder, **dtype_kwargs(torch.bfloat16)).eval()
    expected, expected_mask = reference(official, tokenizer, PROMPTS[:1])
    assert features.dtype == torch.float32 and torch.equal(mask, expected_mask)
    torch.testing.assert_close(features, expected, atol=ATOL, rtol=RTOL)


def test_model_id_is_found_in_the_local_cache_only(tiny_gemma, tmp_path, monkeypatch):
    folder, _, _ = tiny_gemma
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    # The hub cache layout: models--{org}--{name}/refs/main names the snapshot folder holding the files.
    repo = tmp_path / "models--local--tiny-gemma-2"
    commit = "0" * 40
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    encoder = GemmaTextEncoder("local/tiny-gemma-2", dtype=torch.float32)
    assert encoder.name == "local/tiny-gemma-2" and encoder.feature_dim == 32


def test_missing_model_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hint = "download google/gemma-2-2b-it first (e.g. `hf download google/gemma-2-2b-it`) or give its folder"
    for missing in [str(tmp_path / "gemma-2-2b-it"), "nobody/no-such-gemma-model"]:
        with pytest.raises(TextEncoderNotFoundError) as error:
            GemmaTextEncoder(missing)
        assert str(error.value) == (
            f"the Gemma text encoder was not found: {missing!r} is neither a local folder nor a model id in the "
            f"local Hugging Face cache ({constants.HF_HUB_CACHE}); {hint}"
        )
    with pytest.raises(TextEncoderNotFoundError) as error:
        GemmaTextEncoder(tmp_path)
    assert str(error.value) == f"the Gemma text encoder was not found: {tmp_path} has no config.json; {hint}"
