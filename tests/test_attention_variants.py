"""The tensors behind the figures of the grouped-query, KV-cache, positions and cross-attention pages."""

import pytest
import torch

from sitebuild import attention_variants


@pytest.fixture(scope="module")
def hook():
    return attention_variants


def test_grouping_is_h_over_group_size(hook):
    expected = torch.zeros(8, 2, dtype=torch.float64)
    for h in range(8):
        expected[h, h // 4] = 1.0
    assert torch.equal(hook.gqa_grouping(), expected)


def test_cache_masks(hook):
    aligned, wrong = hook.cache_mask(), hook.cache_mask_wrong()
    assert aligned.tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]
    assert wrong.tolist() == [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]]


def test_rope_scores_are_constant_along_diagonals(hook):
    scores = hook.rope_scores()
    assert torch.allclose(scores.diagonal(), torch.ones(8, dtype=torch.float64), atol=1e-12)
    for offset in range(-7, 8):
        diagonal = scores.diagonal(offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-12)
    assert (scores > 0).all()  # drawn on a colour scale from 0


def test_cross_lookup_finds_each_querys_token(hook):
    weights = hook.cross_lookup()
    assert weights.argmax(-1).tolist() == [4, 0, 2] and (weights.amax(-1) > 0.9).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64))
