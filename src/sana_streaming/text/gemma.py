"""The official SANA-Streaming text encoder: Gemma-2-2B-IT hidden states behind an instruction prefix.

What the official release does, and this module reproduces (NVlabs/Sana; read in ``diffusion/model/builder.py``
``get_tokenizer_and_text_encoder``, ``inference_video_scripts/v2v/inference_sana_streaming.py`` ``encode_prompt``
and ``main``, and the ``text_encoder`` section of ``configs/sana_v2v/sana_v2v_streaming_2b_720p.yaml``):

- Model: ``gemma-2-2b-it`` (the release loads the copy ``Efficient-Large-Model/gemma-2-2b-it`` of
  ``google/gemma-2-2b-it``) through ``AutoModelForCausalLM`` in bfloat16, then ``.get_decoder()``: the decoder
  stack without the LM head. Its output ``[0]`` is the last hidden state after the stack's final RMSNorm,
  2304 wide (``caption_channels``).
- Tokenizer: ``AutoTokenizer`` with ``padding_side`` forced to ``"right"`` (the Gemma tokenizer class pads on
  the left by default). ``tokenizer.encode`` adds the BOS token, so the prefix length counts it.
- Prefix: the five ``chi_prompt`` lines of the config joined with "\\n" (:data:`CHI_PREFIX`), the prompt
  appended directly after it. ``max_length = len(tokenizer.encode(CHI_PREFIX)) + 300 - 2``
  (``model_max_length`` is 300), ``padding="max_length"``, ``truncation=True``.
- Selection: token positions ``[0]`` (BOS) and the last 299, of both hidden states and mask: 300 in all. With
  right padding the last 299 positions start at the prefix's last token (or at the prompt's first, when the
  tokenizer merges the prefix's trailing space into it) and hold the prompt, then padding.
  The official code gives the model ``(B, 1, 300, 2304)``; we return ``(B, 300, 2304)``.
- Without the prefix (the negative prompt): ``max_length = 300``, no selection.
- The script strips the user prompt; streaming mode then uses it as written, bidirectional mode appends
  " motion score: 10." (:func:`with_motion_score`) and uses :data:`NEGATIVE_PROMPT` without the prefix.
  :meth:`GemmaTextEncoder.encode` takes prompts exactly as given: stripping is the caller's choice.
- Attention: Gemma-2's attention-logit soft-capping exists only in transformers' eager attention (recent
  versions refuse SDPA for Gemma-2); we ask for eager explicitly so every transformers version computes it.
  The release's ``pyproject.toml`` pins transformers 4.49.

One difference: the official code truncates an over-long prompt; we raise a :class:`PromptError` instead.
A prompt may add up to 298 tokens to the prefix (299 without the prefix).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from sana_streaming.text.base import TextEncoder, check_prompts, prompt_too_long
from sana_streaming.text.loading import dtype_kwargs, load_failure, resolve_local_model

CHI_PREFIX_LINES = (
    'Given a user prompt, generate an "Enhanced prompt" that provides detailed visual descriptions suitable for '
    "image generation. Evaluate the level of detail in the user prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial "
    "relationships to create vivid and concrete scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
    "Please generate only the enhanced description for the prompt below and avoid including any additional "
    "commentary or evaluations:",
    "User Prompt: ",
)
CHI_PREFIX = "\n".join(CHI_PREFIX_LINES)

NUM_TOKENS = 300  # official model_max_length: token positions given to the DiT
BIDIRECTIONAL_MOTION_SCORE = 10
MOTION_SCORE_SUFFIX = f" motion score: {BIDIRECTIONAL_MOTION_SCORE}."
NEGATIVE_PROMPT = (
    "A chaotic sequence with misshapen, deformed limbs in heavy motion blur, sudden disappearance, jump cuts, "
    "jerky movements, rapid shot changes, frames out of sync, inconsistent character shapes, temporal artifacts, "
    "jitter, and ghosting effects, creating a disorienting visual experience."
)

_WHAT = "the Gemma text encoder"
_HINT = "download google/gemma-2-2b-it first (e.g. `hf download google/gemma-2-2b-it`) or give its folder"


def with_motion_score(prompt: str, score: int = BIDIRECTIONAL_MOTION_SCORE) -> str:
    """The prompt as the official bidirectional mode feeds it: stripped, then " motion score: {score}." appended."""
    return f"{prompt.strip()} motion score: {int(score)}."


class GemmaTextEncoder(TextEncoder):
    """Gemma-2 decoder hidden states of ``CHI_PREFIX + prompt``, the official 300 token positions kept.

    Args:
        path: a local folder with config, tokenizer and weights of google/gemma-2-2b-it, or a model id found
            in the local Hugging Face cache (nothing is downloaded).
        device: where the model runs; outputs are always returned on the CPU.
        dtype: the model's weights and compute dtype (official: bfloat16).
        use_prefix: prepend :data:`CHI_PREFIX` and keep [0] + the last 299 positions (official for prompts);
            False encodes the prompt alone into the first 300 positions (official for the negative prompt).

    Raises:
        TextEncoderNotFoundError: the model is neither a local folder nor in the local cache, or does not load.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.bfloat16,
        use_prefix: bool = True,
    ) -> None:
        # Imported here, not at module level: transformers takes seconds to import.
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = resolve_local_model(path, _WHAT, _HINT)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            causal_lm = AutoModelForCausalLM.from_pretrained(
                str(folder), local_files_only=True, attn_implementation="eager", **dtype_kwargs(dtype)
            )
        except (OSError, ValueError) as error:
            raise load_failure(_WHAT, folder, error) from None
        if self.tokenizer.pad_token_id is None:
            raise load_failure(_WHAT, folder, ValueError("the tokenizer has no padding token"))
        self.tokenizer.padding_side = "right"
        self.decoder = causal_lm.get_decoder().to(device).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.feature_dim = self.decoder.config.hidden_size
        self.max_tokens = NUM_TOKENS
        self.model_name = str(path) if not Path(path).expanduser().is_dir() else Path(path).name
        self._configure(use_prefix)

    def _configure(self, use_prefix: bool) -> None:
        """Set the prefix, the tokenizer length and the kept positions for one of the two official modes."""
        self.use_prefix = use_prefix
        self.prefix = CHI_PREFIX if use_prefix else ""
        # BOS included: the official count is len(tokenizer.encode(prefix)), which adds it.
        self.num_prefix_tokens = len(self.tokenizer.encode(self.prefix))
        self.max_length = self.num_prefix_tokens + NUM_TOKENS - 2 if use_prefix else NUM_TOKENS
        self.max_prompt_tokens = self.max_length - self.num_prefix_tokens
        start = self.max_length - (NUM_TOKENS - 1)
        self.keep = torch.tensor([0, *range(start, self.max_length)]) if use_prefix else torch.arange(NUM_TOKENS)
        self.name = self.model_name if use_prefix else f"{self.model_name} (no prefix)"

    def with_prefix(self, use_prefix: bool) -> GemmaTextEncoder:
        """The same model and tokenizer (shared, not copied) in the other mode, e.g. for the negative prompt."""
        other = copy.copy(self)
        other._configure(use_prefix)
        return other

    def count_tokens(self, prompt: str) -> int:
        """Tokens the prompt adds to the prefix (at most :attr:`max_prompt_tokens` fit)."""
        return len(self.tokenizer(self.prefix + prompt)["input_ids"]) - self.num_prefix_tokens

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode B prompts the official way.

        Returns:
            features (B, 300, hidden_size) float32 on the CPU (hidden_size 2304 for Gemma-2-2B); padding
            positions keep the decoder's output there, as in the official code. mask (B, 300) int64.

        Raises:
            PromptError: a prompt is empty or adds more than :attr:`max_prompt_tokens` tokens.
        """
        texts = [self.prefix + prompt for prompt in check_prompts(prompts)]
        for ids in self.tokenizer(texts)["input_ids"]:
            if len(ids) > self.max_length:
                raise prompt_too_long(len(ids) - self.num_prefix_tokens, self.max_prompt_tokens)
        batch = self.tokenizer(
            texts, max_length=self.max_length, padding="max_length", truncation=True, return_tensors="pt"
        )
        ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        hidden = self.decoder(input_ids=ids, attention_mask=mask)[0]  # (B, max_length, hidden_size)
        keep = self.keep.to(self.device)
        return hidden[:, keep].float().cpu(), mask[:, keep].long().cpu()
