"""Tests for changes to the code that a mutation run over src/selfattention/ left unnoticed.

Each test names the change it catches.
"""

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    attention_dropout,
    attention_weights,
    blockwise_attention,
    blockwise_attention_steps,
    causal_mask,
    checks,
    from_torch_multihead,
    scaled_dot_product_attention,
)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# _checks.py: a dropout that is not a number (e.g. the isinstance check removed) -----------


@pytest.mark.parametrize("dropout", ["0.1", None, [0.1], torch.tensor(0.1)])
def test_a_dropout_that_is_not_a_number_is_refused(dropout):
    name = type(dropout).__name__
    with pytest.raises(TypeError, match=f"dropout must be a float in \\[0, 1\\), got {name}"):
        MultiHeadAttention(4, 4, 2, dropout=dropout)
    with pytest.raises(TypeError, match=f"dropout must be a float in \\[0, 1\\), got {name}"):
        CausalSelfAttention(4, 4, dropout=dropout)
    with pytest.raises(TypeError, match=f"dropout_p must be a float in \\[0, 1\\), got {name}"):
        attention_dropout(torch.ones(2, 2), dropout)
    with pytest.raises(TypeError, match=f"dropout_p must be a float in \\[0, 1\\), got {name}"):
        scaled_dot_product_attention(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 2), dropout_p=dropout)


# attention.py: -inf scores given to attention_weights are "blocked", not bad input -------


def test_attention_weights_accepts_minus_inf_scores_with_value_checks_on():
    scores = torch.tensor([[0.0, float("-inf"), 0.0], [float("-inf")] * 3])
    with checks():
        weights = attention_weights(scores)
        with pytest.raises(ValueError, match=r"scores contains NaN or \+inf \(the first at index \(0, 1\)"):
            attention_weights(torch.tensor([[0.0, float("inf"), 0.0]]))
    assert torch.equal(weights, torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]))


# blockwise.py: no keys, no queries, and the steps with n_q != n_k and the default scale ---


@pytest.mark.parametrize("causal", [False, True])
def test_blockwise_attention_with_no_queries_is_empty(causal):
    empty, keys = randn(2, 0, 4), randn(2, 0 if causal else 5, 4)
    result = blockwise_attention(empty, keys, randn(2, keys.shape[-2], 3), block_size=2, causal=causal)
    expected = F.scaled_dot_product_attention(empty, keys, randn(2, keys.shape[-2], 3), is_causal=causal)
    assert result.shape == expected.shape == (2, 0, 3)


def test_blockwise_attention_with_no_keys_is_zero_as_the_naive_form():
    queries, no_keys, no_values = randn(2, 3, 4), randn(2, 0, 4), randn(2, 0, 5)
    result = blockwise_attention(queries, no_keys, no_values, block_size=2)
    assert torch.equal(result, torch.zeros(2, 3, 5))
    assert torch.equal(result, scaled_dot_product_attention(queries, no_keys, no_values))


@pytest.mark.parametrize(("n_q", "n_k"), [(3, 7), (6, 2)])
def test_blockwise_steps_with_more_or_fewer_keys_than_queries_and_the_default_scale(n_q, n_k):
    queries, keys, values = randn(2, n_q, 4, seed=1), randn(2, n_k, 4, seed=2), randn(2, n_k, 3, seed=3)
    states = blockwise_attention_steps(queries, keys, values, block_size=2)
    assert len(states) == (n_k + 1) // 2  # one state per block of keys
    expected = F.scaled_dot_product_attention(queries, keys, values)  # scale 1/sqrt(4) = 0.5
    torch.testing.assert_close(states[-1].output, expected)
    first_block = F.scaled_dot_product_attention(queries, keys[:, :2], values[:, :2])
    torch.testing.assert_close(states[0].output, first_block)
    assert states[-1].maximum.shape == (2, n_q, 1)


# causal.py: a masked CausalSelfAttention on batched inputs ---------------------------------


def test_causal_module_with_a_per_sequence_padding_mask_on_a_batch():
    torch.manual_seed(0)
    module = CausalSelfAttention(4, 3).eval()
    inputs = randn(2, 6, 4)
    padding = torch.ones(2, 1, 6, dtype=torch.bool)
    padding[1, :, :2] = False  # the second sequence starts with two padding tokens
    with torch.no_grad():
        output = module(inputs, mask=padding)
        queries, keys, values = module.project(inputs)
        expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=causal_mask(6) & padding)
        torch.testing.assert_close(output, expected)
        torch.testing.assert_close(output[0], module(inputs[0]))  # no padding: the plain causal result
        torch.testing.assert_close(output[1, 2:], module(inputs[1, 2:]))  # padding ignored by the rest
    assert torch.equal(output[1, :2], torch.zeros(2, 3))  # a padding query sees only padding: zero


# interop.py: from_torch_multihead's refusals ----------------------------------------------


def test_from_torch_multihead_refuses_another_type():
    with pytest.raises(TypeError, match="torch_module must be an nn.MultiheadAttention, got Linear"):
        from_torch_multihead(torch.nn.Linear(4, 4))


@pytest.mark.parametrize("option", ["add_bias_kv", "add_zero_attn"])
def test_from_torch_multihead_refuses_what_has_no_counterpart(option):
    with pytest.raises(ValueError, match="add_bias_kv and add_zero_attn have no counterpart here"):
        from_torch_multihead(torch.nn.MultiheadAttention(8, 2, batch_first=True, **{option: True}))
