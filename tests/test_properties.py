"""Property-based tests (Hypothesis): over shapes, batch sizes, masks, scales and dtypes, this
package's attention equals PyTorch's. Derandomized, so every run checks the same examples; 25 examples per
property keep the file at a few seconds."""

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattention import (
    MultiHeadAttention,
    attention_steps,
    blockwise_attention,
    scaled_dot_product_attention,
    simplified_self_attention,
    to_torch_attn_mask,
    to_torch_multihead,
)
from tests.conftest import assert_close

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)


@st.composite
def attention_problems(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    n_q, n_k = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    d_k, d_v = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    magnitude = draw(st.sampled_from([1e-3, 1.0, 10.0]))
    queries = torch.randn(*batch, n_q, d_k, generator=generator, dtype=dtype) * magnitude
    keys = torch.randn(*batch, n_k, d_k, generator=generator, dtype=dtype) * magnitude
    values = torch.randn(*batch, n_k, d_v, generator=generator, dtype=dtype)
    mask_kind = draw(st.sampled_from(["none", "bool", "bool-batched", "float"]))
    mask = None
    if mask_kind == "bool":  # may leave a query with no key: both give a zero output then
        mask = torch.rand(n_q, n_k, generator=generator) > 0.4
    elif mask_kind == "bool-batched":
        mask = torch.rand(*batch, n_q, n_k, generator=generator) > 0.4
    elif mask_kind == "float":
        mask = torch.randn(n_q, n_k, generator=generator, dtype=dtype)
    scale = draw(st.one_of(st.none(), st.floats(0.05, 3.0)))
    return queries, keys, values, mask, scale


@SETTINGS
@given(attention_problems())
def test_equals_torch_sdpa(problem):
    queries, keys, values, mask, scale = problem
    ours = scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=scale)
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=scale)
    assert ours.shape == theirs.shape
    assert not torch.isnan(ours).any()
    assert_close(ours, torch.nan_to_num(theirs))


@SETTINGS
@given(attention_problems())
def test_weights_are_a_distribution_over_the_allowed_keys(problem):
    queries, keys, values, mask, scale = problem
    weights = attention_steps(queries, keys, values, attn_mask=mask, scale=scale).weights
    assert torch.all(weights >= 0)
    sums = weights.sum(-1)
    if mask is None or mask.is_floating_point():
        assert_close(sums, torch.ones_like(sums))
    else:
        allowed = mask.expand_as(weights)
        assert torch.all(weights[~allowed] == 0)
        expected = allowed.any(-1).to(sums.dtype)  # 1, or 0 for a query with no key
        assert_close(sums, expected)


@SETTINGS
@given(attention_problems(), st.integers(1, 10), st.booleans())
def test_blockwise_equals_naive(problem, block_size, causal):
    queries, keys, values, _, scale = problem
    if causal:
        keys, values = queries, queries  # causal needs as many keys as queries
    naive = scaled_dot_product_attention(queries, keys, values, scale=scale, is_causal=causal)
    blockwise = blockwise_attention(queries, keys, values, block_size=block_size, is_causal=causal, scale=scale)
    assert_close(blockwise, naive)


@SETTINGS
@given(
    batch=st.integers(1, 3),
    seq_len=st.integers(1, 8),
    heads_and_width=st.sampled_from([(1, 4), (2, 4), (2, 8), (4, 8), (3, 6)]),
    causal=st.booleans(),
    qkv_bias=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_multihead_equals_torch(batch, seq_len, heads_and_width, causal, qkv_bias, seed):
    num_heads, width = heads_and_width
    torch.manual_seed(seed)
    ours = MultiHeadAttention(width, width, num_heads, causal=causal, qkv_bias=qkv_bias).eval()
    theirs = to_torch_multihead(ours)
    inputs = torch.randn(batch, seq_len, width)
    attn_mask = to_torch_attn_mask(torch.ones(seq_len, seq_len, dtype=torch.bool).tril()) if causal else None
    with torch.no_grad():
        expected, _ = theirs(inputs, inputs, inputs, attn_mask=attn_mask, need_weights=False)
        assert_close(ours(inputs), expected)


@SETTINGS
@given(st.integers(1, 7), st.integers(1, 6), st.sampled_from([1.0, 1e2, 1e4]))
def test_simplified_is_finite_and_a_convex_combination(seq_len, d, magnitude):
    inputs = torch.randn(seq_len, d, generator=torch.Generator().manual_seed(seq_len * 10 + d), dtype=torch.float64)
    context = simplified_self_attention(inputs * magnitude)
    assert torch.isfinite(context).all()
    # Each context vector is a weighted average of the inputs: inside their bounding box.
    lower, upper = (inputs * magnitude).amin(0), (inputs * magnitude).amax(0)
    tolerance = 1e-9 * magnitude
    assert torch.all(context >= lower - tolerance) and torch.all(context <= upper + tolerance)
