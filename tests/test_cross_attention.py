"""Cross-attention: queries from one sequence, keys and values from another."""

from __future__ import annotations

import pytest
import torch

from selfattention import MultiHeadAttention, from_torch_multihead, to_torch_multihead
from tests.references import reference_attention

TOLERANCES = {torch.float64: 1e-12, torch.float32: 1e-5}
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


def randn(*shape, seed=1, dtype=torch.float64, device="cpu"):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("num_kv_heads", "ctx_len"), [(4, 9), (2, 3), (1, 1), (4, 4)])
def test_equals_the_reference(device, dtype, num_kv_heads, ctx_len):
    torch.manual_seed(0)
    attention = MultiHeadAttention(6, 16, 4, num_kv_heads=num_kv_heads, qkv_bias=True).to(device, dtype).eval()
    inputs, context = randn(2, 5, 6, dtype=dtype, device=device), randn(2, ctx_len, 6, seed=2, dtype=dtype, device=device)
    with torch.no_grad():
        result = attention(inputs, context=context)
        steps = attention.steps(inputs, context=context)
    assert result.shape == (2, 5, 16) and steps.weights.shape == (2, 4, 5, ctx_len)
    expected = reference_attention(attention.cpu(), inputs.cpu(), context=context.cpu()).to(dtype)
    tol = TOLERANCES[dtype]
    torch.testing.assert_close(result.cpu(), expected, atol=tol, rtol=tol)
    torch.testing.assert_close(steps.output.cpu(), expected, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_equals_torch_multihead_with_distinct_query_and_key_value_inputs(dtype, qkv_bias):
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 8, 2, qkv_bias=qkv_bias).to(dtype).eval()
    theirs = to_torch_multihead(ours).eval()
    inputs, context = randn(3, 4, 8, dtype=dtype), randn(3, 11, 8, seed=2, dtype=dtype)
    padding = torch.ones(3, 1, 4, 11, dtype=torch.bool)
    padding[1, ..., 7:] = False  # sequence 1's context has 7 real tokens
    with torch.no_grad():
        expected, _ = theirs(inputs, context, context, need_weights=False)
        expected_masked, _ = theirs(
            inputs, context, context, need_weights=False, key_padding_mask=~padding[:, 0, 0]
        )
        back = from_torch_multihead(theirs).eval()
        tol = TOLERANCES[dtype]
        torch.testing.assert_close(ours(inputs, context=context), expected, atol=tol, rtol=tol)
        torch.testing.assert_close(back(inputs, context=context), expected, atol=tol, rtol=tol)
        torch.testing.assert_close(ours(inputs, padding, context=context), expected_masked, atol=tol, rtol=tol)


def test_outputs_follow_the_context_not_the_inputs_keys():
    """Replacing the context changes every output; the queries' own sequence is never attended."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).double().eval()
    inputs, context = randn(3, 4), randn(6, 4, seed=2)
    with torch.no_grad():
        one = attention(inputs, context=context)
        permuted = attention(inputs, context=context[[5, 3, 1, 0, 2, 4]])  # keys and values together
        other = attention(inputs, context=context + 1.0)
    torch.testing.assert_close(permuted, one, atol=1e-12, rtol=1e-12)  # a set, order-free
    assert not torch.isclose(other, one).any()


def test_value_checks_scan_the_context_only_when_switched_on():
    from selfattention import checks

    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).eval()
    inputs, context = torch.ones(3, 4), torch.ones(5, 4)
    context[2, 1] = float("nan")
    with torch.no_grad():
        assert torch.isnan(attention(inputs, context=context)).all()  # default: NaN in, NaN out, as in torch
        with checks(), pytest.raises(ValueError, match=r"context contains NaN or infinite values \(the first at index \(2, 1\)"):
            attention(inputs, context=context)
