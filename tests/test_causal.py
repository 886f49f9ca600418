import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    attention_dropout,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
)
from tests.seeds import JOURNEY_INPUTS


def test_causal_mask_is_lower_triangular_and_may_attend():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).bool())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_is_causal_equals_torch(dtype, batch):
    generator = torch.Generator().manual_seed(0)
    queries, keys, values = (torch.randn(*batch, 6, 4, generator=generator, dtype=dtype) for _ in range(3))
    ours = scaled_dot_product_attention(queries, keys, values, is_causal=True)
    theirs = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)
    tolerance = {"atol": 1e-6, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-10}
    torch.testing.assert_close(ours, theirs, **tolerance)
    assert torch.equal(ours, scaled_dot_product_attention(queries, keys, values, mask=causal_mask(6)))


def test_masking_before_softmax_equals_zeroing_and_renormalising_after():
    scores = JOURNEY_INPUTS @ JOURNEY_INPUTS.T
    mask = causal_mask(6)
    full = torch.softmax(scores, dim=-1)
    renormalised = full * mask / (full * mask).sum(dim=-1, keepdim=True)
    torch.testing.assert_close(attention_weights(scores, mask=mask), renormalised)
    assert torch.all(attention_weights(scores, mask=mask).triu(diagonal=1) == 0)


def test_is_causal_refuses_ambiguous_or_double_masks():
    queries, keys = torch.ones(3, 4), torch.ones(5, 4)
    with pytest.raises(ValueError, match="needs as many queries as keys, got 3 queries and 5 keys"):
        scaled_dot_product_attention(queries, keys, keys, is_causal=True)
    with pytest.raises(ValueError, match="either mask or is_causal"):
        scaled_dot_product_attention(keys, keys, keys, is_causal=True, mask=causal_mask(5))


def test_dropout_is_seeded_inverted_and_unbiased():
    weights = torch.full((4, 5), 0.2)
    first = attention_dropout(weights, 0.5, generator=torch.Generator().manual_seed(0))
    again = attention_dropout(weights, 0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, again)
    kept = first[first != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 0.2 / (1 - 0.5)))  # scaled by 1/(1-p)
    assert 0 < kept.numel() < weights.numel()
    assert attention_dropout(weights, 0.0) is weights
    generator = torch.Generator().manual_seed(1)
    average = torch.stack([attention_dropout(weights, 0.3, generator=generator) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(average, weights, atol=0.01, rtol=0)


def test_sdpa_dropout_matches_manual_computation_with_the_same_draws():
    generator = torch.Generator().manual_seed(0)
    queries, keys, values = (torch.randn(2, 5, 4, generator=generator) for _ in range(3))
    ours = scaled_dot_product_attention(
        queries, keys, values, dropout_p=0.25, generator=torch.Generator().manual_seed(9)
    )
    weights = attention_weights(queries @ keys.transpose(-2, -1) / 2.0)
    dropped = attention_dropout(weights, 0.25, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(ours, dropped @ values)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_outside_zero_one_is_refused(dropout):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        CausalSelfAttention(3, 2, dropout=dropout)
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\)"):
        attention_dropout(torch.ones(2, 2), dropout)


def test_module_is_causal_and_deterministic_in_eval_mode():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4, dropout=0.5).eval()
    batch = torch.stack([JOURNEY_INPUTS, JOURNEY_INPUTS.flip(0)])
    with torch.no_grad():
        output = attention(batch)
        assert torch.equal(output, attention(batch))
        changed = batch.clone()
        changed[:, 3] += 7.0
        after = attention(changed)
    assert torch.equal(after[:, :3], output[:, :3])
    assert not torch.allclose(after[:, 3:], output[:, 3:])
    queries, keys, values = attention.project(batch)
    expected = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)
    torch.testing.assert_close(output, expected)


def test_module_dropout_only_in_training():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4, dropout=0.5)
    with torch.no_grad():
        evaluation = attention.eval()(JOURNEY_INPUTS)
        training = attention.train()(JOURNEY_INPUTS)
    assert not torch.allclose(training, evaluation)


def test_module_combines_a_padding_mask_and_zeroes_fully_masked_queries():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4).eval()
    padding = torch.tensor([False, True, True, True, True, True])  # token 0 is padding
    with torch.no_grad():
        output = attention(JOURNEY_INPUTS, mask=padding)
    assert not torch.isnan(output).any()
    assert torch.equal(output[0], torch.zeros(4))  # query 0 may only see itself: padding
    queries, keys, values = attention.project(JOURNEY_INPUTS)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=causal_mask(6) & padding)
    torch.testing.assert_close(output, expected)


def test_module_refuses_bad_masks():
    attention = CausalSelfAttention(3, 2)
    with pytest.raises(ValueError, match=r"mask of shape \(5, 5\) cannot broadcast"):
        attention(JOURNEY_INPUTS, mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be boolean"):
        attention(JOURNEY_INPUTS, mask=torch.zeros(6, 6))
