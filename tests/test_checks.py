"""The argument checks (src/selfattention/_checks.py, masks.py): each names its argument, each value scan
runs where it is promised (always in the step helpers, inside ``checks()`` elsewhere), and the masks
combine as documented.

Written against the mutants that survived a mutation run (`make mutate`): a changed argument name, a
dropped ``always=``, a flipped condition must each fail a test here.
"""

from __future__ import annotations

import pytest
import torch

from selfattention import (
    KVCache,
    MultiHeadAttention,
    apply_rope,
    attention_context,
    attention_steps,
    causal_and,
    causal_mask,
    checks,
    from_torch_multihead,
    mask_scores,
    rope_angles,
    scaled_dot_product_attention,
    self_attention,
    self_attention_steps,
    set_checks,
    to_torch_attn_mask,
    to_torch_multihead,
    weighted_values,
)
from tests.conftest import randn

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("switch", [set_checks, checks], ids=["set_checks", "checks"])
def test_the_switch_names_its_argument(switch):
    with pytest.raises(TypeError, match=r"^enabled must be True or False, got str 'yes'$"):
        switch("yes")


def test_minus_infinity_is_refused_in_inputs_and_allowed_in_scores():
    query = randn(3, 4).index_fill(0, torch.tensor(1), -INF)
    with checks(), pytest.raises(ValueError, match=r"^query contains NaN or infinite values \(the first at index"):
        scaled_dot_product_attention(query, randn(3, 4), randn(3, 4))
    scores = torch.tensor([[0.0, -INF]])
    with checks():
        assert torch.equal(mask_scores(scores, None), scores)


def test_a_batch_mismatch_names_every_shape():
    message = (
        r"^the leading \(batch\) dimensions of query, key, value must broadcast against each other: "
        r"query has shape \(2, 3, 4\), key has shape \(3, 5, 4\), value has shape \(3, 5, 4\)$"
    )
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(randn(2, 3, 4), randn(3, 5, 4), randn(3, 5, 4))
    with pytest.raises(ValueError, match=r"^the leading \(batch\) dimensions of weights, values must broadcast"):
        attention_context(torch.ones(2, 3, 4), torch.ones(5, 4, 2))


def test_the_step_helpers_always_scan_and_the_functions_only_inside_checks():
    q, k, v = randn(3, 4, seed=1), randn(3, 4, seed=2), randn(3, 4, seed=3)
    nan_mask = torch.zeros(3, 3).index_fill(0, torch.tensor(2), NAN)
    for name, arguments in {
        "query": (q.index_fill(0, torch.tensor(0), NAN), k, v),
        "key": (q, k.index_fill(0, torch.tensor(0), INF), v),
        "value": (q, k, v.index_fill(0, torch.tensor(0), NAN)),
    }.items():
        with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values"):
            attention_steps(*arguments)
        scaled_dot_product_attention(*arguments)  # no scan by default
        with checks(), pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values"):
            scaled_dot_product_attention(*arguments)
    with pytest.raises(ValueError, match=r"^attn_mask contains NaN or \+inf"):
        attention_steps(q, k, v, nan_mask)
    scaled_dot_product_attention(q, k, v, nan_mask)
    with checks(), pytest.raises(ValueError, match=r"^attn_mask contains NaN or \+inf"):
        scaled_dot_product_attention(q, k, v, nan_mask)


def test_the_weights_of_self_attention_are_scanned_by_the_step_helper_only_by_default():
    inputs, weight = randn(3, 4, seed=4), randn(4, 2, seed=5)
    nan_weight = weight.index_fill(0, torch.tensor(1), NAN)
    with pytest.raises(ValueError, match=r"^w_query contains NaN or infinite values"):
        self_attention_steps(inputs, nan_weight, weight, weight)
    assert torch.isnan(self_attention(inputs, nan_weight, weight, weight)).any()  # no scan by default
    with pytest.raises(ValueError, match=r"^w_key must have at least 2 dimensions \(\.\.\., seq_len, d\)"):
        self_attention(inputs, weight, weight[:, 0], weight)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: mask_scores(torch.ones(2, 2, dtype=torch.int64), None), TypeError, "scores must have a floating"),
        (lambda: weighted_values(torch.ones(2, 2, dtype=torch.int64), torch.ones(2, 3)), TypeError, "weights must"),
        (lambda: weighted_values(torch.ones(2, 2), torch.ones(2, 3, dtype=torch.int64)), TypeError, "values must"),
        (lambda: weighted_values(torch.ones(2, 2), torch.ones(3)), ValueError, "values must have at least 2"),
        (lambda: scaled_dot_product_attention(randn(3, 4), randn(3, 4), [[1.0]]), TypeError, "value must be a torch"),
        (
            lambda: scaled_dot_product_attention(randn(3, 4), randn(3, 4), torch.ones(3, 4, dtype=torch.int64)),
            TypeError,
            "value must have a floating-point dtype",
        ),
        (
            lambda: scaled_dot_product_attention(randn(3, 4), randn(3, 4), randn(3, 4), [[True]]),
            TypeError,
            "attn_mask must be a torch.Tensor, got list",
        ),
        (
            lambda: mask_scores(torch.ones(2, 2), torch.ones(2, 2, dtype=torch.bool, device="meta")),
            ValueError,
            r"attn_mask is on meta but the scores are on cpu: move it with attn_mask.to\('cpu'\)$",
        ),
        (lambda: causal_mask("3"), TypeError, "seq_len must be an int, got str"),
        (lambda: causal_mask(torch.tensor(3)), TypeError, "seq_len must be an int, got Tensor"),
        (lambda: causal_mask(3, key_len="4"), TypeError, "key_len must be an int, got str"),
        (lambda: causal_mask(3, key_len=-1), ValueError, "key_len must be at least 0, got -1"),
        (
            lambda: causal_mask(3, key_len=2),
            ValueError,
            r"key_len=2 must be at least seq_len=3: the queries are the last positions$",
        ),
        (
            lambda: causal_and(torch.ones(3, 3, dtype=torch.int64), 3),
            TypeError,
            r"mask must be a boolean tensor \(True = may attend\) or a floating tensor added to the scores, got dtype",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_refusal_names_its_argument(call, error, message):
    with pytest.raises(error, match=f"^{message}"):
        call()


def test_the_checks_of_a_module_input_name_it():
    from selfattention import SelfAttention

    module = SelfAttention(4, 2)
    with pytest.raises(TypeError, match=r"^inputs must have a floating-point dtype"):
        module(torch.ones(3, 4, dtype=torch.int64))
    with checks(), pytest.raises(ValueError, match=r"^inputs contains NaN or infinite values"):
        module(randn(3, 4).index_fill(0, torch.tensor(0), NAN))


def test_empty_causal_masks_and_the_mask_given_none():
    assert causal_mask(0, key_len=0).shape == (0, 0)
    assert causal_mask(0, key_len=2).shape == (0, 2)
    assert torch.equal(causal_and(None, 3), causal_mask(3))
    assert torch.equal(causal_and(None, 2, key_len=4), causal_mask(2, key_len=4))


def test_a_float_mask_combined_with_the_causal_mask_is_minus_infinity_where_it_blocks():
    padding = torch.tensor([0.0, -1.5, 2.0])  # added to the scores of keys 0, 1, 2
    combined = causal_and(padding, 3)
    expected = torch.tensor([[0.0, -INF, -INF], [0.0, -1.5, -INF], [0.0, -1.5, 2.0]])
    assert combined.dtype == torch.float32 and torch.equal(combined, expected)
    assert torch.equal(causal_and(padding, 2, key_len=3), expected[1:])


def test_grouped_query_heads_need_enable_gqa_and_matching_key_value_heads():
    query, key, value = randn(1, 4, 3, 2, seed=6), randn(1, 2, 5, 2, seed=7), randn(1, 2, 5, 2, seed=8)
    with pytest.raises(ValueError, match=r"^the leading \(batch\) dimensions of query, key, value must broadcast"):
        scaled_dot_product_attention(query, key, value)  # enable_gqa is off by default, as in torch
    with pytest.raises(ValueError, match=r"^the leading \(batch\) dimensions of query, key, value must broadcast"):
        attention_steps(query, key, value)
    with pytest.raises(ValueError, match=r"^enable_gqa=True needs key and value with the same number of heads"):
        scaled_dot_product_attention(query, key, value[:, :1], enable_gqa=True)
    with pytest.raises(ValueError, match=r"^enable_gqa=True needs key and value with the same number of heads"):
        scaled_dot_product_attention(query, key, value[0, 0], enable_gqa=True)
    # A key without a head dimension is not grouped: it broadcasts over the query heads (torch raises).
    grouped = scaled_dot_product_attention(query[0], key[0, 0], value[0, 0], enable_gqa=True)
    assert torch.equal(grouped, scaled_dot_product_attention(query[0], key[0, 0], value[0, 0]))


# RoPE, the KV cache and the conversion to and from nn.MultiheadAttention.


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: rope_angles(torch.arange(3), 4, base="x"), TypeError, "base must be a float, got str"),
        (lambda: rope_angles(torch.arange(3), 4, base=True), TypeError, "base must be a float, got bool"),
        (
            lambda: rope_angles(torch.arange(3), 4, base=INF),
            ValueError,
            "base must be a finite number greater than 1, got inf",
        ),
        (lambda: rope_angles(torch.arange(3), "4"), TypeError, "head_dim must be an int, got str"),
        (lambda: rope_angles(torch.arange(3), 0), ValueError, "head_dim must be at least 2, got 0"),
        (lambda: apply_rope(torch.ones(3, 4, dtype=torch.int64)), TypeError, "x must have a floating-point dtype"),
        (
            lambda: apply_rope(torch.ones(3, 4), torch.tensor(0)),
            ValueError,
            r"positions must have shape \(\.\.\., seq_len=3\)",
        ),
        (lambda: to_torch_attn_mask([[True]]), TypeError, "mask must be a torch.Tensor, got list"),
        (
            lambda: from_torch_multihead(torch.nn.MultiheadAttention(4, 2, batch_first=True), causal="yes"),
            TypeError,
            "causal must be True or False, got str 'yes'",
        ),
        (
            lambda: from_torch_multihead(torch.nn.MultiheadAttention(4, 2, kdim=2, vdim=2, batch_first=True)),
            ValueError,
            "only nn.MultiheadAttention with kdim == vdim == embed_dim is supported$",
        ),
        (
            lambda: from_torch_multihead(torch.nn.MultiheadAttention(4, 2, add_bias_kv=True, batch_first=True)),
            ValueError,
            "add_bias_kv and add_zero_attn have no counterpart here$",
        ),
        (lambda: KVCache(max_len="8"), TypeError, "max_len must be an int, got str"),
        (
            lambda: KVCache().append(torch.ones(2, 4), torch.ones(2, 4)),
            ValueError,
            r"keys must have at least 3 dimensions",
        ),
        (
            lambda: KVCache().append(torch.ones(1, 2, 4), torch.ones(2, 4)),
            ValueError,
            r"values must have at least 3 dimensions",
        ),
        (lambda: KVCache().append(torch.ones(1, 2, 4), [[1.0]]), TypeError, "values must be a torch.Tensor"),
        (
            lambda: KVCache().append(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 2)),
            ValueError,
            r"keys and values must have the same shape, got \(1, 2, 3, 4\) and \(1, 2, 3, 2\)$",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_rope_cache_and_conversion_refusals_name_their_argument(call, error, message):
    with pytest.raises(error, match=f"^{message}"):
        call()


def test_rope_defaults_and_bases_close_to_one():
    angles = rope_angles(torch.tensor([1]), 4)  # base 10000: theta = 1, 10000 ** -0.5
    assert torch.allclose(angles, torch.tensor([[1.0, 0.01]]))
    assert torch.allclose(rope_angles(torch.tensor([2]), 4, base=1.5), torch.tensor([[2.0, 2 / 1.5**0.5]]))
    assert rope_angles(torch.arange(3), 4).dtype == torch.float32
    assert rope_angles(torch.arange(3, dtype=torch.float64), 4).dtype == torch.float64


def test_the_cache_limit_and_what_it_holds():
    cache = KVCache(max_len=1)
    keys = torch.ones(1, 2, 1, 4)  # (batch, num_kv_heads, seq_len, head_dim)
    cache.append(keys, keys)
    assert cache.seq_len == 1
    with pytest.raises(ValueError, match=r"^cache holds 1 positions and max_len=1: 1 more would reach position 1"):
        cache.append(keys, keys)
    other = KVCache()
    other.append(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"^cache holds keys of shape \(\.\.\., num_kv_heads=2, seq_len, head_dim=4\)"):
        other.append(torch.ones(1, 3, 1, 4), torch.ones(1, 3, 1, 4))
    with checks(), pytest.raises(ValueError, match=r"^values contains NaN or infinite values"):
        KVCache().append(torch.ones(1, 2, 3, 4), torch.full((1, 2, 3, 4), NAN))


def test_the_conversion_keeps_dropout_and_causal_and_warns_that_the_copy_is_batch_first():
    module = MultiHeadAttention(4, 4, 2, dropout=0.25)
    assert to_torch_multihead(module).dropout == 0.25
    assert from_torch_multihead(torch.nn.MultiheadAttention(4, 2, batch_first=True), causal=True).causal
    with pytest.warns(UserWarning) as record:
        from_torch_multihead(torch.nn.MultiheadAttention(4, 2))
    assert record[0].category is UserWarning
    assert str(record[0].message).startswith(
        "torch_module has batch_first=False and takes (seq_len, batch, embed_dim) inputs; the MultiHeadAttention "
        "returned takes batch-first (batch, seq_len, embed_dim) inputs"
    )


def test_the_scans_and_dtypes_the_first_mutation_run_missed():
    with checks(), pytest.raises(ValueError, match=r"^values contains NaN or infinite values"):
        attention_context(torch.ones(2, 2), torch.full((2, 3), NAN))
    with pytest.raises(ValueError, match=r"^cache holds 0 positions and max_len=2: 3 more would reach position 2"):
        KVCache(max_len=2).append(torch.ones(2, 3, 4), torch.ones(2, 3, 4))  # (num_kv_heads, seq_len, head_dim)
    with pytest.raises(ValueError, match=r"^positions are on meta but x is on cpu$"):
        apply_rope(torch.ones(3, 4), torch.arange(3, device="meta"))
    x, positions = randn(5, 8, seed=9), torch.arange(5)
    angles = positions.float()[:, None] * 10000.0 ** -(torch.arange(0, 8, 2, dtype=torch.float32) / 8)
    pairs = x.unflatten(-1, (4, 2))
    expected = torch.stack(
        (
            pairs[..., 0] * angles.cos() - pairs[..., 1] * angles.sin(),
            pairs[..., 0] * angles.sin() + pairs[..., 1] * angles.cos(),
        ),
        dim=-1,
    ).flatten(-2)
    assert torch.equal(apply_rope(x, positions), expected)  # float32 angles for float32 inputs
    for dtype in (torch.float16, torch.bfloat16):
        assert apply_rope(x.to(dtype), positions).dtype == dtype
