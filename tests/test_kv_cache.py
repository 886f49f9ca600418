"""The KV cache: a prefill and single steps, or chunks, give the full causal pass's outputs."""

from __future__ import annotations

import pytest
import torch

from selfattention import KVCache, MultiHeadAttention, causal_mask
from tests.conftest import DEVICES, CountSyncs, assert_close, randn
from tests.references import reference_attention

# (num_kv_heads, rope) of 4 query heads: each grouping (multi-head, grouped, multi-query) and RoPE or not.
VARIANTS = [(4, False), (2, True), (1, True)]


def module(num_kv_heads=4, rope=False, dtype=torch.float64, device="cpu"):
    torch.manual_seed(0)
    built = MultiHeadAttention(6, 16, 4, num_kv_heads=num_kv_heads, causal=True, rope=rope, qkv_bias=True)
    return built.to(device=device, dtype=dtype).eval()


def run_in_chunks(attention, inputs, sizes, **kwargs):
    cache = KVCache(**kwargs)
    outputs, start = [], 0
    with torch.no_grad():
        for size in sizes:
            outputs.append(attention(inputs[:, start : start + size], cache=cache))
            start += size
            assert len(cache) == cache.seq_len == start
    assert start == inputs.shape[1]
    return torch.cat(outputs, dim=1), cache


# Each way to feed the cache once: a prefill then single steps, single steps only, chunks, everything at once;
# each grouping and RoPE or not; each dtype.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "num_kv_heads", "rope", "sizes"),
    [
        pytest.param(torch.float64, 4, False, [3, 1, 1, 1, 1], id="prefill+steps"),
        pytest.param(torch.float32, 2, True, [1] * 7, id="steps"),
        pytest.param(torch.float64, 1, True, [2, 3, 2], id="chunks"),
        pytest.param(torch.float64, 4, True, [7], id="one"),
        pytest.param(torch.float64, 2, False, [2, 3, 2], id="chunks, grouped without RoPE"),
    ],
)
def test_cache_equals_the_full_pass_and_the_reference(device, dtype, num_kv_heads, rope, sizes):
    attention = module(num_kv_heads, rope, dtype, device)
    inputs = randn(2, 7, 6, seed=1, dtype=dtype, device=device)
    with torch.no_grad():
        full = attention(inputs)
    cached, cache = run_in_chunks(attention, inputs, sizes)
    assert_close(cached, full.cpu())
    expected = reference_attention(attention.cpu(), inputs.cpu())
    assert_close(cached, expected, dtype)
    assert cache.keys.shape == (2, num_kv_heads, 7, 4)


@pytest.mark.parametrize(("num_kv_heads", "rope"), VARIANTS)
def test_each_step_equals_the_reference_step(num_kv_heads, rope):
    """Step t's queries at positions start.., keys over the past and the new tokens."""
    attention = module(num_kv_heads, rope)
    inputs = randn(1, 6, 6, seed=3, dtype=torch.float64)
    cache = KVCache()
    start = 0
    for size in (3, 2, 1):
        new = inputs[:, start : start + size]
        with torch.no_grad():
            result = attention(new, cache=cache)
        expected = reference_attention(attention, new, start=start, past=inputs[:, :start])
        assert_close(result, expected)
        start += size


@pytest.mark.parametrize(("num_kv_heads", "rope"), VARIANTS)
def test_steps_with_a_cache_equal_forward_and_align_the_mask_to_the_end(num_kv_heads, rope):
    attention = module(num_kv_heads, rope)
    inputs = randn(1, 5, 6, seed=1, dtype=torch.float64)
    fast, explicit = KVCache(), KVCache()
    with torch.no_grad():
        attention(inputs[:, :3], cache=fast)
        attention.steps(inputs[:, :3], cache=explicit)
        result = attention(inputs[:, 3:], cache=fast)
        steps = attention.steps(inputs[:, 3:], cache=explicit)
    assert_close(steps.output, result)
    torch.testing.assert_close(explicit.keys, fast.keys, atol=0, rtol=0)
    assert steps.weights.shape == (1, 4, 2, 5)
    expected_mask = torch.tensor([[True, True, True, True, False], [True, True, True, True, True]])
    assert torch.equal(steps.weights[0] > 0, expected_mask.expand(4, 2, 5))
    assert torch.equal(causal_mask(2, key_len=5), expected_mask)


def test_a_future_token_change_inside_a_chunk():
    attention = module(2, True)
    inputs = randn(1, 6, 6, seed=1, dtype=torch.float64)
    changed = inputs.clone()
    changed[:, -1] += 3.0
    results = []
    for x in (inputs, changed):
        cache = KVCache()
        with torch.no_grad():
            attention(x[:, :2], cache=cache)
            results.append(attention(x[:, 2:], cache=cache))  # a chunk of 4 after 2 cached
    assert torch.equal(results[0][:, :-1], results[1][:, :-1])
    assert not torch.equal(results[0][:, -1], results[1][:, -1])


def test_a_padding_mask_combines_with_the_aligned_causal_mask():
    attention = module(2)
    inputs = randn(1, 5, 6, seed=1, dtype=torch.float64)
    allowed = torch.tensor([False, True, True, True, True])  # key 0 is padding
    with torch.no_grad():
        full = attention(inputs, mask=allowed.expand(5, 5))
        cache = KVCache()
        first = attention(inputs[:, :3], mask=allowed[:3].expand(3, 3), cache=cache)
        second = attention(inputs[:, 3:], mask=allowed.expand(2, 5), cache=cache)
    assert_close(torch.cat((first, second), dim=1), full)


def test_bytes_and_positions():
    attention = module(2).float()
    cache = KVCache()
    assert len(cache) == 0 and cache.nbytes == 0
    with torch.no_grad():
        attention(randn(3, 5, 6), cache=cache)
    # keys and values: 3 sequences * 2 kv heads * 5 positions * head_dim 4 * 4 bytes, twice
    assert len(cache) == 5 and cache.nbytes == 2 * 3 * 2 * 5 * 4 * 4
    cache.reset()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.keys is None


def test_max_len_is_checked_before_anything_is_appended():
    attention = module()
    cache = KVCache(max_len=4)
    with torch.no_grad():
        attention(randn(1, 3, 6, dtype=torch.float64), cache=cache)
        with pytest.raises(ValueError, match="max_len=4"):
            attention(randn(1, 2, 6, dtype=torch.float64), cache=cache)
        assert len(cache) == 3
        attention(randn(1, 1, 6, dtype=torch.float64), cache=cache)
    assert len(cache) == 4


# One compile per path through the module: without RoPE, a single token; with RoPE (positions that continue
# after the cache), a chunk of 3.
@pytest.mark.parametrize(("num_kv_heads", "rope", "size"), [(4, False, 1), (1, True, 3)])
def test_a_cached_step_reads_no_value_and_compiles(num_kv_heads, rope, size):
    attention = module(num_kv_heads, rope).float()
    inputs = randn(2, 4 + size, 6, seed=1)
    cache = KVCache()
    with torch.no_grad():
        attention(inputs[:, :4], cache=cache)
        with CountSyncs() as counter:
            expected = attention(inputs[:, 4:], cache=cache)
        assert counter.syncs == 0
        compiled_cache = KVCache()
        attention(inputs[:, :4], cache=compiled_cache)
        torch.compiler.reset()
        step = torch.compile(lambda x: attention(x, cache=compiled_cache), fullgraph=True, backend="eager")
        result = step(inputs[:, 4:])
    assert_close(result, expected)
    assert len(compiled_cache) == 4 + size
