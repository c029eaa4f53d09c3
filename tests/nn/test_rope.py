from __future__ import annotations

import torch

from sana_streaming.nn.rope import apply_rope, rope_split, rope_table


def test_official_split_of_112():
    assert rope_split(112) == (40, 36, 36)


def test_rotation_keeps_norms_and_depends_on_relative_frame_only():
    head_dim, height, width = 48, 2, 3
    q, k = torch.randn(2, height * width, head_dim), torch.randn(2, height * width, head_dim)
    a = rope_table(head_dim, 5, 1, height, width)
    b = rope_table(head_dim, 9, 1, height, width)
    a2 = rope_table(head_dim, 105, 1, height, width)
    b2 = rope_table(head_dim, 109, 1, height, width)
    torch.testing.assert_close(apply_rope(q, a).norm(dim=-1), q.norm(dim=-1))
    score = (apply_rope(q, a) * apply_rope(k, b)).sum(-1)
    score_shifted = (apply_rope(q, a2) * apply_rope(k, b2)).sum(-1)
    torch.testing.assert_close(score, score_shifted, atol=1e-4, rtol=1e-4)


def test_table_covers_frames_rows_columns_in_token_order():
    cos, sin = rope_table(12, 2, 2, 2, 3)  # t, h, w dims = 4, 4, 4 -> 2 + 2 + 2 pairs
    assert cos.shape == (12, 6)
    angles = torch.atan2(sin, cos)
    # token n = t*6 + h*3 + w: the first time pair rotates by the absolute frame index (2 or 3)
    torch.testing.assert_close(angles[:6, 0], torch.full((6,), 2.0))
    torch.testing.assert_close(angles[6:, 0], torch.full((6,), 3.0))
    torch.testing.assert_close(angles[[0, 3], 2], torch.tensor([0.0, 1.0]))  # height pair
    torch.testing.assert_close(angles[[0, 1, 2], 4], torch.tensor([0.0, 1.0, 2.0]))  # width pair
