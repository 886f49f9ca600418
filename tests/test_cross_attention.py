"""Cross-attention: queries from one sequence, keys and values from another."""

from __future__ import annotations

import pytest
import torch

from selfattention import MultiHeadAttention, from_torch_multihead, to_torch_multihead
from tests.conftest import DEVICES, assert_close, randn
from tests.references import reference_attention


# Multi-head with a longer context than the queries, grouped-query with a shorter one, multi-query with a
# context of one token; each dtype once.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "num_kv_heads", "ctx_len"), [(torch.float64, 4, 9), (torch.float32, 2, 3), (torch.float64, 1, 1)]
)
def test_equals_the_reference(device, dtype, num_kv_heads, ctx_len):
    torch.manual_seed(0)
    attention = MultiHeadAttention(6, 16, 4, num_kv_heads=num_kv_heads, qkv_bias=True).to(device, dtype).eval()
    inputs = randn(2, 5, 6, seed=1, dtype=dtype, device=device)
    context = randn(2, ctx_len, 6, seed=2, dtype=dtype, device=device)
    with torch.no_grad():
        result = attention(inputs, context=context)
        steps = attention.steps(inputs, context=context)
    assert result.shape == (2, 5, 16) and steps.weights.shape == (2, 4, 5, ctx_len)
    expected = reference_attention(attention.cpu(), inputs.cpu(), context=context.cpu())
    assert_close(result, expected, dtype)
    assert_close(steps.output, expected, dtype)


# Each dtype once, with and without biases.
@pytest.mark.parametrize(("dtype", "qkv_bias"), [(torch.float64, False), (torch.float32, True)])
def test_equals_torch_multihead_with_distinct_query_and_key_value_inputs(dtype, qkv_bias):
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 8, 2, qkv_bias=qkv_bias).to(dtype).eval()
    theirs = to_torch_multihead(ours).eval()
    inputs, context = randn(3, 4, 8, seed=1, dtype=dtype), randn(3, 11, 8, seed=2, dtype=dtype)
    padding = torch.ones(3, 1, 4, 11, dtype=torch.bool)
    padding[1, ..., 7:] = False  # sequence 1's context has 7 real tokens
    with torch.no_grad():
        expected, _ = theirs(inputs, context, context, need_weights=False)
        expected_masked, _ = theirs(inputs, context, context, need_weights=False, key_padding_mask=~padding[:, 0, 0])
        back = from_torch_multihead(theirs).eval()
        assert_close(ours(inputs, context=context), expected)
        assert_close(back(inputs, context=context), expected)
        assert_close(ours(inputs, padding, context=context), expected_masked)


def test_outputs_follow_the_context_not_the_inputs_keys():
    """Replacing the context changes every output; the queries' own sequence is never attended."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).double().eval()
    inputs, context = randn(3, 4, seed=1, dtype=torch.float64), randn(6, 4, seed=2, dtype=torch.float64)
    with torch.no_grad():
        one = attention(inputs, context=context)
        permuted = attention(inputs, context=context[[5, 3, 1, 0, 2, 4]])  # keys and values together
        other = attention(inputs, context=context + 1.0)
    assert_close(permuted, one)  # a set, order-free
    assert not torch.isclose(other, one).any()


def test_value_checks_scan_the_context_only_when_switched_on():
    from selfattention import checks

    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).eval()
    inputs, context = torch.ones(3, 4), torch.ones(5, 4)
    context[2, 1] = float("nan")
    with torch.no_grad():
        assert torch.isnan(attention(inputs, context=context)).all()  # default: NaN in, NaN out, as in torch
        with (
            checks(),
            pytest.raises(ValueError, match=r"context contains NaN or infinite values \(the first at index \(2, 1\)"),
        ):
            attention(inputs, context=context)
