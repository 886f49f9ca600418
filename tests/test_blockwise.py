"""Blockwise (online-softmax) attention against the naive form and PyTorch's function."""

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    OnlineSoftmaxState,
    blockwise_attention,
    blockwise_attention_steps,
    scaled_dot_product_attention,
)
from tests.conftest import allowed_keys, assert_close, randn
from tests.seeds import QKV_EXACT_OUTPUTS, QKV_KEYS, QKV_QUERIES, QKV_VALUES


def random_qkv(*shape, dtype, n_q=37, n_k=37, seed=0):
    """queries (*shape, n_q, 16), keys (*shape, n_k, 16), values (*shape, n_k, 12)."""
    return (
        randn(*shape, n_q, 16, seed=seed, dtype=dtype),
        randn(*shape, n_k, 16, seed=seed + 1, dtype=dtype),
        randn(*shape, n_k, 12, seed=seed + 2, dtype=dtype),
    )


# n = 37 keys. The classes of block size: 1 (a block per key), 7 (the last block is partial), 37 (one block,
# exactly n) and 64 (one block, larger than n); causal or not, since the causal form skips whole blocks and masks
# the diagonal ones; and float32 once, for the rounding of the rescaled sums.
@pytest.mark.parametrize(
    ("dtype", "causal", "block_size"),
    [
        (torch.float64, False, 1),
        (torch.float64, True, 1),
        (torch.float64, False, 7),
        (torch.float64, True, 7),
        (torch.float64, True, 37),
        (torch.float64, False, 64),
        (torch.float32, True, 16),
    ],
)
def test_equals_the_naive_form_for_every_kind_of_block_size(dtype, causal, block_size):
    queries, keys, values = random_qkv(2, 3, dtype=dtype)  # (batch, heads, n, d)
    naive = scaled_dot_product_attention(queries, keys, values, is_causal=causal)
    blockwise = blockwise_attention(queries, keys, values, block_size=block_size, is_causal=causal)
    assert blockwise.shape == naive.shape == (2, 3, 37, 12)
    assert_close(blockwise, naive)


def test_more_keys_than_queries_and_custom_scale():
    queries, keys, values = random_qkv(4, dtype=torch.float64, n_q=9, n_k=40)
    expected = F.scaled_dot_product_attention(queries, keys, values, scale=0.3)
    assert_close(blockwise_attention(queries, keys, values, block_size=5, scale=0.3), expected)


def test_large_scores_do_not_overflow():
    queries, keys, values = random_qkv(2, dtype=torch.float32)
    blockwise = blockwise_attention(queries * 300, keys * 300, values, block_size=8)
    assert torch.isfinite(blockwise).all()
    assert_close(blockwise, F.scaled_dot_product_attention(queries * 300, keys * 300, values))


def test_steps_on_the_worked_example():
    steps = blockwise_attention_steps(QKV_QUERIES, QKV_KEYS, QKV_VALUES, block_size=1, scale=1.0)
    assert len(steps) == 3
    assert [s.maximum[0].item() for s in steps] == [2.0, 4.0, 4.0]
    torch.testing.assert_close(steps[0].output[0], QKV_VALUES[0])  # one key: all weight on it
    # l after key 2, with m = 4: e^(2-4) + e^0.
    assert steps[1].total[0].item() == pytest.approx(torch.tensor(-2.0).exp().item() + 1.0, rel=1e-6)
    torch.testing.assert_close(steps[-1].output, QKV_EXACT_OUTPUTS, atol=1e-4, rtol=0)
    two = blockwise_attention_steps(QKV_QUERIES, QKV_KEYS, QKV_VALUES, block_size=2, scale=1.0)
    assert len(two) == 2
    torch.testing.assert_close(two[-1].output, steps[-1].output)


def test_state_update_keeps_the_invariant():
    # l_t = sum_j exp(s_j - m_t) and a_t = sum_j exp(s_j - m_t) v_j over the keys seen so far.
    scores = randn(4, 10, seed=3, dtype=torch.float64) * 5
    values = randn(10, 3, seed=4, dtype=torch.float64)
    state = OnlineSoftmaxState.empty(torch.zeros(4, 2, dtype=torch.float64), 3)
    for start in range(0, 10, 4):
        state = state.update(scores[:, start : start + 4], values[start : start + 4])
        seen = scores[:, : start + 4]
        assert torch.equal(state.maximum, seen.amax(-1, keepdim=True))
        weights = (seen - state.maximum).exp()
        torch.testing.assert_close(state.total, weights.sum(-1, keepdim=True))
        torch.testing.assert_close(state.accumulator, weights @ values[: start + 4])


def test_fully_masked_rows_stay_finite_in_the_state():
    state = OnlineSoftmaxState.empty(torch.zeros(2, 4), 3)
    scores = torch.tensor([[float("-inf")] * 3, [1.0, 2.0, 3.0]])
    updated = state.update(scores, torch.ones(3, 3))
    assert not torch.isnan(updated.total).any() and not torch.isnan(updated.accumulator).any()
    assert updated.total[0].item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"block_size": 0}, ValueError, "block_size must be at least 1, got 0"),
        ({"block_size": -3}, ValueError, "block_size must be at least 1, got -3"),
        ({"block_size": 2.5}, TypeError, "block_size must be an int, got float"),
        ({"key": torch.ones(37, 8)}, ValueError, r"same last dimension d_k: .* key has shape \(37, 8\)"),
        ({"value": torch.ones(36, 12)}, ValueError, r"key has shape \(37, 16\), value has shape \(36, 12\)"),
        ({"is_causal": "yes"}, TypeError, "is_causal must be True or False, got str 'yes'"),
        (
            {"value": torch.ones(37, 12, dtype=torch.float64)},
            TypeError,
            "value and key must have one dtype, got torch.float64 and torch.float32",
        ),
        ({"query": torch.ones(37, 16, dtype=torch.int64)}, TypeError, "query must have a floating-point dtype"),
        ({"attn_mask": torch.ones(37, 36, dtype=torch.bool)}, ValueError, r"attn_mask of shape \(37, 36\) cannot"),
        (
            {"attn_mask": torch.zeros(37, 37, dtype=torch.float64)},
            TypeError,
            "a floating attn_mask must have the dtype of the scores, torch.float32, got torch.float64",
        ),
    ],
)
def test_bad_input_is_refused(kwargs, error, message):
    queries, keys, values = random_qkv(dtype=torch.float32)
    arguments = {"query": queries, "key": keys, "value": values, **kwargs}
    with pytest.raises(error, match=message):
        blockwise_attention(**arguments)


@pytest.mark.parametrize("causal", [False, True])
def test_no_queries_give_an_empty_output(causal):
    empty, keys = randn(2, 0, 4), randn(2, 0 if causal else 5, 4)
    values = randn(2, keys.shape[-2], 3)
    result = blockwise_attention(empty, keys, values, block_size=2, is_causal=causal)
    expected = F.scaled_dot_product_attention(empty, keys, values, is_causal=causal)
    assert result.shape == expected.shape == (2, 0, 3)


def test_no_keys_give_zero_as_the_naive_form():
    queries, no_keys, no_values = randn(2, 3, 4), randn(2, 0, 4), randn(2, 0, 5)
    result = blockwise_attention(queries, no_keys, no_values, block_size=2)
    assert torch.equal(result, torch.zeros(2, 3, 5))
    assert torch.equal(result, scaled_dot_product_attention(queries, no_keys, no_values))


@pytest.mark.parametrize(("n_q", "n_k"), [(3, 7), (6, 2)])
def test_steps_with_more_or_fewer_keys_than_queries_and_the_default_scale(n_q, n_k):
    queries, keys, values = randn(2, n_q, 4, seed=1), randn(2, n_k, 4, seed=2), randn(2, n_k, 3, seed=3)
    states = blockwise_attention_steps(queries, keys, values, block_size=2)
    assert len(states) == (n_k + 1) // 2  # one state per block of keys
    expected = F.scaled_dot_product_attention(queries, keys, values)  # scale 1/sqrt(4) = 0.5
    assert_close(states[-1].output, expected)
    first_block = F.scaled_dot_product_attention(queries, keys[:, :2], values[:, :2])
    assert_close(states[0].output, first_block)
    assert states[-1].maximum.shape == (2, n_q, 1)


def naive_masked(queries, keys, values, mask, scale):
    """softmax(Q K^T * scale + mask) V written out (a boolean mask blocks its False entries), batch
    dimensions broadcast by torch's matmul."""
    scores = queries @ keys.transpose(-2, -1) * scale
    scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return torch.softmax(scores, dim=-1) @ values


def test_leading_dimensions_and_the_mask_broadcast_against_each_other():
    # Each of query, key, value and mask brings one batch dimension the others lack: (5, 2, 3) in all.
    queries = randn(5, 1, 1, 7, 4, seed=1, dtype=torch.float64)
    keys = randn(2, 1, 6, 4, seed=2, dtype=torch.float64)
    values = randn(3, 6, 2, seed=3, dtype=torch.float64)
    mask = torch.rand(2, 1, 7, 6, generator=torch.Generator().manual_seed(4)) > 0.3
    mask[..., 0] = True  # every query keeps a key
    result = blockwise_attention(queries, keys, values, mask, block_size=3, scale=0.7)
    assert result.shape == (5, 2, 3, 7, 2)
    assert_close(result, naive_masked(queries, keys, values, mask, 0.7))


def test_a_floating_mask_is_added_to_the_scores():
    queries, keys, values = random_qkv(2, dtype=torch.float64, n_q=6, n_k=9)
    mask = randn(6, 9, seed=5, dtype=torch.float64)
    mask[:, 4] = float("-inf")  # key 4 blocked for every query
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    assert_close(blockwise_attention(queries, keys, values, mask, block_size=4), expected)


def test_steps_apply_the_mask():
    queries, keys, values = random_qkv(2, dtype=torch.float64, n_q=5, n_k=6)
    mask = allowed_keys(6)[:5]  # a different pattern in each row
    states = blockwise_attention_steps(queries, keys, values, mask, block_size=4)
    assert len(states) == 2
    assert_close(states[-1].output, F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask))
    first = F.scaled_dot_product_attention(queries, keys[:, :4], values[:, :4], attn_mask=mask[:, :4])
    assert_close(states[0].output, first)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("query", "query contains NaN or infinite values"),
        ("key", "key contains NaN or infinite values"),
        ("value", "value contains NaN or infinite values"),
        ("attn_mask", r"attn_mask contains NaN or \+inf"),
    ],
)
def test_steps_scan_their_inputs_with_value_checks_off(name, message):
    # The helper that returns every step always scans, as the Bad input page says.
    queries, keys, values = random_qkv(dtype=torch.float32, n_q=3, n_k=4)
    arguments = {"query": queries, "key": keys, "value": values, "attn_mask": torch.zeros(3, 4)}
    arguments[name] = arguments[name].clone()
    arguments[name][1, 2] = float("nan")
    with pytest.raises(ValueError, match=message):
        blockwise_attention_steps(**arguments, block_size=2)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_the_empty_state_has_the_dtype_and_device_of_the_queries(device):
    state = OnlineSoftmaxState.empty(torch.zeros(2, 5, 4, dtype=torch.float64, device=device), 3)
    for tensor, shape in ((state.maximum, (2, 5, 1)), (state.total, (2, 5, 1)), (state.accumulator, (2, 5, 3))):
        assert tensor.shape == shape
        assert tensor.dtype == torch.float64
        assert tensor.device.type == device
    if device == "cpu":
        assert torch.isneginf(state.maximum).all()
        assert not state.total.any() and not state.accumulator.any()


def test_tensors_on_another_device_stay_there():
    # The meta device (shapes, no values) stands in for a GPU: the tiles, the running state and the causal
    # mask are made on the inputs' device, and a mask elsewhere is refused.
    queries = torch.empty(2, 9, 4, device="meta")
    values = torch.empty(2, 9, 3, device="meta")
    result = blockwise_attention(queries, queries, values, is_causal=True, block_size=4)
    assert result.device.type == "meta" and result.shape == (2, 9, 3)
    with pytest.raises(ValueError, match="attn_mask is on cpu but the scores are on meta"):
        blockwise_attention(queries, queries, values, torch.ones(9, 9, dtype=torch.bool))


def test_no_queries_in_half_precision_keep_the_dtype():
    empty, keys, values = (randn(2, n, 4, dtype=torch.float16) for n in (0, 5, 5))
    result = blockwise_attention(empty, keys, values, block_size=2)
    assert result.dtype == torch.float16 and result.shape == (2, 0, 4)
