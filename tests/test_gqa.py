"""Grouped-query and multi-query attention against a head-by-head float64 reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfattention import MultiHeadAttention, to_torch_multihead
from tests.conftest import DEVICES, assert_close, randn
from tests.references import reference_attention


def module(num_heads=4, num_kv_heads=None, d_in=6, head_dim=4, dtype=torch.float64, device="cpu", **kwargs):
    torch.manual_seed(0)
    built = MultiHeadAttention(d_in, num_heads * head_dim, num_heads, num_kv_heads=num_kv_heads, **kwargs)
    return built.to(device=device, dtype=dtype).eval()


# Multi-query, grouped and plain multi-head (1, 2 and 4 key/value heads of 4 query heads), each with one of the
# paths: plain, causal with biases, causal with RoPE (once with one key/value head, once with a group of 2);
# each dtype at least once.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "num_kv_heads", "causal", "rope", "qkv_bias"),
    [
        (torch.float64, 1, True, True, False),
        (torch.float32, 2, True, True, False),
        (torch.float64, 2, False, False, False),
        (torch.float64, 4, True, False, True),
    ],
)
def test_each_grouping_equals_the_reference(device, dtype, num_kv_heads, causal, rope, qkv_bias):
    attention = module(4, num_kv_heads, dtype=dtype, device=device, causal=causal, rope=rope, qkv_bias=qkv_bias)
    inputs = randn(2, 7, 6, seed=1, dtype=dtype, device=device)
    with torch.no_grad():
        result = attention(inputs)
        steps = attention.steps(inputs)
    expected = reference_attention(attention.cpu(), inputs.cpu())
    assert_close(result, expected, dtype)
    assert_close(steps.output, expected, dtype)


@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
def test_projection_widths_and_parameter_count(num_kv_heads):
    attention = module(4, num_kv_heads, d_in=6, head_dim=4)
    assert attention.w_query.weight.shape == (16, 6)
    assert attention.w_key.weight.shape == attention.w_value.weight.shape == (num_kv_heads * 4, 6)
    expected = 16 * 6 + 2 * num_kv_heads * 4 * 6 + 16 * 16 + 16
    assert sum(p.numel() for p in attention.parameters()) == expected


def test_query_head_h_uses_kv_head_h_over_group_size():
    """Change only key/value head 1's weights: exactly query heads 2 and 3 (of 4, group 2) change."""
    attention = module(4, 2)
    inputs = randn(5, 6, seed=1, dtype=torch.float64)
    before = attention.steps(inputs).context
    with torch.no_grad():
        attention.w_value.weight[4:8] += 1.0  # rows of key/value head 1
    after = attention.steps(inputs).context
    changed = [not torch.equal(before[h], after[h]) for h in range(4)]
    assert changed == [False, False, True, True]


def test_equals_sdpa_enable_gqa_and_repeating_the_heads():
    attention = module(6, 2, causal=True)
    inputs = randn(2, 5, 6, seed=1, dtype=torch.float64)
    with torch.no_grad():
        q = attention.split_heads(attention.w_query(inputs))
        k = attention.split_heads(attention.w_key(inputs))
        v = attention.split_heads(attention.w_value(inputs))
        assert q.shape == (2, 6, 5, 4) and k.shape == v.shape == (2, 2, 5, 4)
        gqa = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        repeated = F.scaled_dot_product_attention(
            q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1), is_causal=True
        )
        assert_close(gqa, repeated)
        assert_close(attention(inputs), attention.out_proj(attention.merge_heads(gqa)))


def test_a_future_token_change_leaves_earlier_outputs_alone():
    attention = module(4, 1, causal=True, rope=True)
    inputs = randn(2, 6, 6, seed=1, dtype=torch.float64)
    changed = inputs.clone()
    changed[:, -1] += 3.0
    with torch.no_grad():
        before, after = attention(inputs), attention(changed)
    assert torch.equal(before[:, :-1], after[:, :-1])
    assert not torch.equal(before[:, -1], after[:, -1])


def test_interop_refuses_what_torch_cannot_express():
    with pytest.raises(ValueError, match="num_kv_heads=2"):
        to_torch_multihead(module(4, 2, d_in=16))
    with pytest.raises(ValueError, match="rope=True"):
        to_torch_multihead(module(4, d_in=16, rope=True))
