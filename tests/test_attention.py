"""The shared steps and scaled_dot_product_attention, against PyTorch's own function."""

import math

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    attention_context,
    attention_scores,
    attention_steps,
    attention_weights,
    mask_scores,
    scaled_dot_product_attention,
    weighted_values,
)

# Tolerances per dtype for comparisons with torch's fused implementation.
TOLERANCES = {torch.float32: {"atol": 1e-5, "rtol": 1e-5}, torch.float64: {"atol": 1e-12, "rtol": 1e-10}}


def random_qkv(*batch, n_q=5, n_k=7, d_k=8, d_v=6, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(*batch, n_q, d_k, generator=generator, dtype=dtype)
    keys = torch.randn(*batch, n_k, d_k, generator=generator, dtype=dtype)
    values = torch.randn(*batch, n_k, d_v, generator=generator, dtype=dtype)
    return queries, keys, values


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
@pytest.mark.parametrize("scale", [None, 1.0, 0.25])
def test_equals_torch_sdpa(dtype, batch, scale):
    queries, keys, values = random_qkv(*batch, dtype=dtype)
    ours = scaled_dot_product_attention(queries, keys, values, scale=scale)
    theirs = F.scaled_dot_product_attention(queries, keys, values, scale=scale)
    assert ours.shape == (*batch, 5, 6)
    torch.testing.assert_close(ours, theirs, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_boolean_mask_means_may_attend_as_in_torch(dtype):
    queries, keys, values = random_qkv(2, dtype=dtype)
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(3)) > 0.4
    mask[:, 0] = True  # every query may attend to something
    ours = scaled_dot_product_attention(queries, keys, values, mask=mask)
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(ours, theirs, **TOLERANCES[dtype])
    weights = attention_steps(queries, keys, values, mask=mask).weights
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


def test_float_mask_is_added_to_the_scores_as_in_torch():
    queries, keys, values = random_qkv(2)
    additive = torch.randn(5, 7, generator=torch.Generator().manual_seed(4))
    ours = scaled_dot_product_attention(queries, keys, values, mask=additive)
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=additive)
    torch.testing.assert_close(ours, theirs)


def test_a_future_token_cannot_change_earlier_outputs_under_a_causal_mask():
    queries, keys, values = random_qkv(n_q=6, n_k=6)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()  # True = may attend: the past only
    before = scaled_dot_product_attention(queries, keys, values, mask=causal)
    changed_keys, changed_values = keys.clone(), values.clone()
    changed_keys[-1] += 10.0
    changed_values[-1] -= 10.0
    after = scaled_dot_product_attention(queries, changed_keys, changed_values, mask=causal)
    assert torch.equal(after[:-1], before[:-1])  # tokens 0..4 never see token 5
    assert not torch.allclose(after[-1], before[-1])  # token 5 sees itself
    # And the inverted mask (nn.MultiheadAttention's convention) would attend to the future:
    wrong = scaled_dot_product_attention(queries, changed_keys, changed_values, mask=~causal)
    assert not torch.allclose(wrong[:-1], before[:-1])


def test_fully_masked_rows_give_zero_weights_and_context_not_nan():
    queries, keys, values = random_qkv(n_q=3, n_k=4)
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4])
    steps = attention_steps(queries, keys, values, mask=mask)
    assert not torch.isnan(steps.weights).any() and not torch.isnan(steps.context).any()
    assert torch.equal(steps.weights[1], torch.zeros(4))
    assert torch.equal(steps.context[1], torch.zeros(6))
    torch.testing.assert_close(steps.weights.sum(-1), torch.tensor([1.0, 0.0, 1.0]))
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(steps.context, theirs)
    # An additive mask of -inf where blocked behaves the same, fully masked row included.
    additive = torch.zeros(3, 4).masked_fill(~mask, float("-inf"))
    unmasked = attention_steps(queries, keys, values).scores
    assert torch.equal(attention_weights(unmasked, mask=additive), steps.weights)
    assert torch.equal(attention_weights(unmasked, mask=mask), steps.weights)


def test_scale_none_means_one_over_sqrt_dk():
    queries, keys, _ = random_qkv(d_k=16)
    torch.testing.assert_close(
        attention_scores(queries, keys), queries @ keys.T / math.sqrt(16)
    )
    torch.testing.assert_close(attention_scores(queries, keys, scale=1.0), queries @ keys.T)


def test_softmax_runs_over_the_keys_so_batching_changes_nothing():
    queries, keys, values = random_qkv(4)
    batched = attention_steps(queries, keys, values)
    for i in range(4):
        single = attention_steps(queries[i], keys[i], values[i])
        torch.testing.assert_close(batched.weights[i], single.weights)
        torch.testing.assert_close(batched.context[i], single.context)
    torch.testing.assert_close(batched.weights.sum(-1), torch.ones(4, 5))


def test_weighted_values_sum_to_the_context():
    queries, keys, values = random_qkv(2)
    steps = attention_steps(queries, keys, values)
    assert steps.weighted_values.shape == (2, 5, 7, 6)
    torch.testing.assert_close(steps.weighted_values.sum(dim=-2), steps.context)
    torch.testing.assert_close(attention_context(steps.weights, values), steps.context)
    torch.testing.assert_close(weighted_values(steps.weights, values), steps.weighted_values)


def test_large_scores_stay_finite():
    queries, keys, values = random_qkv(2)
    steps = attention_steps(queries * 1e4, keys * 1e4, values)
    assert torch.isfinite(steps.weights).all()
    torch.testing.assert_close(steps.weights.sum(-1), torch.ones(2, 5))
    theirs = F.scaled_dot_product_attention(queries * 1e4, keys * 1e4, values)
    torch.testing.assert_close(steps.context, theirs)


def test_mask_scores_puts_minus_inf_where_blocked():
    scores = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    masked = mask_scores(scores, torch.tensor([[True, False], [True, True]]))
    assert masked[0, 1] == float("-inf")
    assert torch.equal(masked[1], scores[1]) and masked[0, 0] == 1.0
    assert mask_scores(scores, None) is scores


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"queries": torch.ones(4)}, ValueError, r"queries must have at least 2 dimensions .* \(4,\)"),
        ({"keys": torch.ones(7, 8, dtype=torch.int32)}, TypeError, "keys must have a floating-point dtype"),
        ({"keys": torch.ones(7, 3)}, ValueError, "queries and keys must have the same last dimension d_k"),
        ({"keys": torch.ones(2, 7, 8)}, ValueError, "same leading .batch. dimensions"),
        ({"values": torch.ones(6, 6)}, ValueError, r"keys has shape \(7, 8\), values has shape \(6, 6\)"),
        ({"values": torch.ones(7, 6, dtype=torch.float64)}, TypeError, "values is torch.float64"),
        ({"mask": torch.ones(5, 6, dtype=torch.bool)}, ValueError, r"mask of shape \(5, 6\) cannot broadcast to the scores' shape \(5, 7\)"),
        ({"mask": torch.ones(3, 5, 7, dtype=torch.bool)}, ValueError, r"mask of shape \(3, 5, 7\) cannot broadcast"),
        ({"mask": torch.ones(5, 7, dtype=torch.int64)}, TypeError, "mask must be a boolean tensor .* got dtype torch.int64"),
        ({"scale": 0.0}, ValueError, "scale must be a positive finite number, got 0.0"),
        ({"scale": float("nan")}, ValueError, "scale must be a positive finite number"),
        ({"scale": "0.5"}, TypeError, "scale must be a float or None, got str"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(kwargs, error, message):
    queries, keys, values = random_qkv()
    arguments = {"queries": queries, "keys": keys, "values": values, **kwargs}
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(**arguments)


def test_weights_and_values_must_agree():
    with pytest.raises(ValueError, match=r"weights has shape \(2, 3\), values has shape \(4, 5\)"):
        attention_context(torch.ones(2, 3), torch.ones(4, 5))
    with pytest.raises(ValueError, match="must agree on n_k"):
        weighted_values(torch.ones(2, 3), torch.ones(4, 5))
