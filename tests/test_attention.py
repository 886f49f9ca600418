"""The shared steps and scaled_dot_product_attention, against PyTorch's own function."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    SelfAttention,
    attention_context,
    attention_dropout,
    attention_scores,
    attention_steps,
    attention_weights,
    blockwise_attention,
    causal_mask,
    checks,
    mask_scores,
    scaled_dot_product_attention,
    weighted_values,
)
from tests.conftest import assert_close, randn


def random_qkv(*batch, n_q=5, n_k=7, d_k=8, d_v=6, dtype=torch.float32, seed=0):
    """queries (*batch, n_q, d_k), keys (*batch, n_k, d_k), values (*batch, n_k, d_v)."""
    return (
        randn(*batch, n_q, d_k, seed=seed, dtype=dtype),
        randn(*batch, n_k, d_k, seed=seed + 1, dtype=dtype),
        randn(*batch, n_k, d_v, seed=seed + 2, dtype=dtype),
    )


# One case per class: each dtype, no batch / one / two batch dimensions, the default scale and a given one.
@pytest.mark.parametrize(
    ("dtype", "batch", "scale"),
    [(torch.float32, (), None), (torch.float64, (3,), 0.25), (torch.float32, (2, 4), 1.0)],
)
def test_equals_torch_sdpa(dtype, batch, scale):
    queries, keys, values = random_qkv(*batch, dtype=dtype)
    ours = scaled_dot_product_attention(queries, keys, values, scale=scale)
    theirs = F.scaled_dot_product_attention(queries, keys, values, scale=scale)
    assert ours.shape == (*batch, 5, 6)
    assert_close(ours, theirs)


def test_boolean_mask_means_may_attend_as_in_torch():
    queries, keys, values = random_qkv(2)
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(3)) > 0.4
    mask[:, 0] = True  # every query may attend to something
    ours = scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    assert_close(ours, theirs)
    weights = attention_steps(queries, keys, values, attn_mask=mask).weights
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


def test_float_mask_is_added_to_the_scores_as_in_torch():
    queries, keys, values = random_qkv(2)
    additive = randn(5, 7, seed=4)
    ours = scaled_dot_product_attention(queries, keys, values, attn_mask=additive)
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=additive)
    assert_close(ours, theirs)


def test_a_future_token_cannot_change_earlier_outputs_under_a_causal_mask():
    queries, keys, values = random_qkv(n_q=6, n_k=6)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()  # True = may attend: the past only
    before = scaled_dot_product_attention(queries, keys, values, attn_mask=causal)
    changed_keys, changed_values = keys.clone(), values.clone()
    changed_keys[-1] += 10.0
    changed_values[-1] -= 10.0
    after = scaled_dot_product_attention(queries, changed_keys, changed_values, attn_mask=causal)
    assert torch.equal(after[:-1], before[:-1])  # tokens 0..4 never see token 5
    assert not torch.allclose(after[-1], before[-1])  # token 5 sees itself
    # And the inverted mask (nn.MultiheadAttention's convention) would attend to the future:
    wrong = scaled_dot_product_attention(queries, changed_keys, changed_values, attn_mask=~causal)
    assert not torch.allclose(wrong[:-1], before[:-1])


def test_fully_masked_rows_give_zero_weights_and_context_not_nan():
    queries, keys, values = random_qkv(n_q=3, n_k=4)
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4])
    steps = attention_steps(queries, keys, values, attn_mask=mask)
    assert not torch.isnan(steps.weights).any() and not torch.isnan(steps.context).any()
    assert torch.equal(steps.weights[1], torch.zeros(4))
    assert torch.equal(steps.context[1], torch.zeros(6))
    assert_close(steps.weights.sum(-1), torch.tensor([1.0, 0.0, 1.0]))
    theirs = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    assert_close(steps.context, theirs)
    # An additive mask of -inf where blocked behaves the same, fully masked row included.
    additive = torch.zeros(3, 4).masked_fill(~mask, float("-inf"))
    unmasked = attention_steps(queries, keys, values).scores
    assert torch.equal(attention_weights(unmasked, attn_mask=additive), steps.weights)
    assert torch.equal(attention_weights(unmasked, attn_mask=mask), steps.weights)


def blocked_first_row(kind, n=4):
    """An (n, n) mask under which query 0 may attend to no key: boolean, or additive (-inf where blocked)."""
    allowed = torch.ones(n, n, dtype=torch.bool)
    allowed[0] = False
    if kind == "bool":
        return allowed
    return torch.zeros(n, n).masked_fill(~allowed, float("-inf"))


# Each entry point once and each kind of mask once (the kinds differ in how the mask is applied).
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("scaled_dot_product_attention", "bool"),
        ("scaled_dot_product_attention", "float"),
        ("attention_steps", "float"),
        ("attention_weights", "bool"),
    ],
)
def test_fully_masked_rows_have_zero_output_and_finite_zero_gradients(path, kind):
    mask = blocked_first_row(kind)
    queries, keys, values = (randn(2, 4, 3, seed=s).requires_grad_() for s in (1, 2, 3))
    if path == "scaled_dot_product_attention":
        output = scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    elif path == "attention_steps":
        output = attention_steps(queries, keys, values, attn_mask=mask).context
    else:
        output = attention_weights(queries @ keys.transpose(-2, -1), attn_mask=mask) @ values
    output.sum().backward()
    assert torch.equal(output[:, 0], torch.zeros(2, 3))
    assert torch.equal(queries.grad[:, 0], torch.zeros(2, 3))  # the blocked query has no influence
    reference = [t.detach().clone().requires_grad_() for t in (queries, keys, values)]
    scale = 1.0 if path == "attention_weights" else None
    expected = F.scaled_dot_product_attention(*reference, attn_mask=mask, scale=scale)
    expected.sum().backward()
    assert_close(output, expected)
    for ours, theirs in zip((queries, keys, values), reference, strict=True):
        assert torch.isfinite(ours.grad).all()
        assert_close(ours.grad, theirs.grad)


def test_scores_that_are_all_minus_inf_get_zero_weights_and_zero_gradients():
    scores = torch.tensor([[float("-inf")] * 3, [1.0, 2.0, 3.0]], requires_grad=True)
    weights = attention_weights(scores)
    (weights * torch.arange(3.0)).sum().backward()
    assert torch.equal(weights[0], torch.zeros(3))
    assert torch.equal(scores.grad[0], torch.zeros(3))
    assert torch.isfinite(scores.grad).all()


def test_attention_weights_takes_minus_inf_scores_as_blocked_with_value_checks_on():
    scores = torch.tensor([[0.0, float("-inf"), 0.0], [float("-inf")] * 3])
    with checks():
        weights = attention_weights(scores)
        with pytest.raises(ValueError, match=r"scores contains NaN or \+inf \(the first at index \(0, 1\)"):
            attention_weights(torch.tensor([[0.0, float("inf"), 0.0]]))
    assert torch.equal(weights, torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]))


def test_scale_none_means_one_over_sqrt_dk():
    queries, keys, _ = random_qkv(d_k=16)
    assert_close(attention_scores(queries, keys), queries @ keys.T / math.sqrt(16))
    assert_close(attention_scores(queries, keys, scale=1.0), queries @ keys.T)


def test_softmax_runs_over_the_keys_so_batching_changes_nothing():
    queries, keys, values = random_qkv(4)
    batched = attention_steps(queries, keys, values)
    for i in range(4):
        single = attention_steps(queries[i], keys[i], values[i])
        assert_close(batched.weights[i], single.weights)
        assert_close(batched.context[i], single.context)
    assert_close(batched.weights.sum(-1), torch.ones(4, 5))


def test_weighted_values_sum_to_the_context():
    queries, keys, values = random_qkv(2)
    steps = attention_steps(queries, keys, values)
    assert steps.weighted_values.shape == (2, 5, 7, 6)
    assert_close(steps.weighted_values.sum(dim=-2), steps.context)
    assert_close(attention_context(steps.weights, values), steps.context)
    assert_close(weighted_values(steps.weights, values), steps.weighted_values)


def test_large_scores_stay_finite():
    queries, keys, values = random_qkv(2)
    steps = attention_steps(queries * 1e4, keys * 1e4, values)
    assert torch.isfinite(steps.weights).all()
    assert_close(steps.weights.sum(-1), torch.ones(2, 5))
    theirs = F.scaled_dot_product_attention(queries * 1e4, keys * 1e4, values)
    assert_close(steps.context, theirs)


# 30: Q K^T fits in float16; 40: only the unscaled product overflows; 100: far beyond.
@pytest.mark.parametrize("size", [30.0, 40.0, 100.0])
def test_float16_scores_do_not_overflow_before_scaling(size):
    queries = keys = torch.full((2, 3, 64), size, dtype=torch.float16)
    values = randn(2, 3, 4).half()
    assert torch.isinf(queries @ keys.transpose(-2, -1)).any() == (size >= 32)  # the product alone overflows
    theirs = F.scaled_dot_product_attention(queries, keys, values)
    ours = scaled_dot_product_attention(queries, keys, values)
    steps = attention_steps(queries, keys, values)
    assert torch.isfinite(theirs).all() and torch.isfinite(ours).all() and torch.isfinite(steps.scores).all()
    assert_close(ours, theirs)


def test_float16_random_large_inputs_are_finite_wherever_torch_is():
    queries, keys = (randn(4, 16, 64, seed=s).abs().half() * 40 for s in (1, 2))
    values = randn(4, 16, 8, seed=3).half()
    theirs = F.scaled_dot_product_attention(queries, keys, values)
    ours = scaled_dot_product_attention(queries, keys, values)
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    # Scores of about 40 * 40 * 64 / 8: float16 rounds them to a few units, which moves the weights.
    torch.testing.assert_close(ours.float(), theirs.float(), atol=2e-2, rtol=2e-2)


# A float32 mask on float64 scores would lose digits; a float32 one on float16 would overflow.
@pytest.mark.parametrize(
    ("dtype", "mask_dtype", "value"), [(torch.float32, torch.float64, 1e300), (torch.float16, torch.float32, 1e5)]
)
def test_a_float_mask_of_another_dtype_is_refused(dtype, mask_dtype, value):
    queries = randn(2, 3, 4).to(dtype)
    mask = torch.full((3, 3), value, dtype=mask_dtype)
    message = f"must have the dtype of the scores, {dtype}, got {mask_dtype}"
    with pytest.raises(TypeError, match=f"a floating attn_mask {message}"):
        scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)
    with pytest.raises(TypeError, match=f"a floating attn_mask {message}"):
        mask_scores(queries @ queries.transpose(-2, -1), mask)
    with pytest.raises(TypeError, match=f"a floating mask {message}"):
        SelfAttention(4, 4).to(dtype)(queries, mask=mask)
    if mask_dtype == torch.float64:  # torch refuses this one too
        with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float or to match query dtype"):
            F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)


def test_mask_scores_puts_minus_inf_where_blocked():
    scores = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    masked = mask_scores(scores, torch.tensor([[True, False], [True, True]]))
    assert masked[0, 1] == float("-inf")
    assert torch.equal(masked[1], scores[1]) and masked[0, 0] == 1.0
    assert mask_scores(scores, None) is scores


def test_nan_passes_through_by_default_as_in_torch_and_is_caught_with_checks():
    nan_scores = torch.tensor([[float("nan"), 1.0]])
    weights, values = torch.tensor([[float("nan"), 1.0]]), torch.ones(2, 2)
    assert torch.isnan(mask_scores(nan_scores, None)).any()
    assert torch.isnan(nan_scores.masked_fill(torch.tensor([[False, True]]), float("-inf"))).any()  # torch: the same
    with checks():
        with pytest.raises(ValueError, match="scores contains NaN or \\+inf"):
            mask_scores(nan_scores, torch.tensor([[True, True]]))
        with pytest.raises(ValueError, match="weights contains NaN or infinite values"):
            weighted_values(weights, values)
        with pytest.raises(ValueError, match="weights contains NaN or infinite values"):
            attention_dropout(weights, 0.5)
        with pytest.raises(ValueError, match="mask contains NaN or \\+inf"):
            mask_scores(torch.ones(1, 2), torch.tensor([[0.0, float("inf")]]))


def test_head_size_zero_gives_torch_result():
    queries, values = randn(2, 3, 0), randn(2, 3, 4)
    expected = F.scaled_dot_product_attention(queries, queries, values)  # every score 0: the mean of the values
    assert_close(scaled_dot_product_attention(queries, queries, values), expected)
    assert_close(attention_steps(queries, queries, values).context, expected)
    assert_close(blockwise_attention(queries, queries, values, block_size=2), expected)
    assert_close(expected, values.mean(dim=-2, keepdim=True).expand(2, 3, 4))


def test_meta_tensors_give_shapes_without_reading_values():
    queries = torch.empty(2, 5, 4, device="meta")
    mask = torch.ones(5, 5, dtype=torch.bool, device="meta")
    with checks():  # even with value checks on: a meta tensor has no values to scan
        assert scaled_dot_product_attention(queries, queries, queries, attn_mask=mask).shape == (2, 5, 4)
        assert attention_steps(queries, queries, queries, is_causal=True).weights.shape == (2, 5, 5)
        for module in (MultiHeadAttention(4, 4, 2, causal=True), CausalSelfAttention(4, 4)):
            output = module.to("meta")(queries)
            assert output.is_meta and output.shape == (2, 5, 4)
    assert F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask).shape == (2, 5, 4)


def test_a_mask_on_another_device_is_refused_with_a_clear_error():
    queries = randn(2, 3, 4)
    mask = torch.ones(3, 3, dtype=torch.bool, device="meta")
    with pytest.raises(ValueError, match="attn_mask is on meta but the scores are on cpu"):
        scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)
    with pytest.raises(ValueError, match="mask is on meta but the scores are on cpu"):
        MultiHeadAttention(4, 4, 2)(queries, mask=mask)
    with pytest.raises(RuntimeError, match="not on the expected device"):  # torch's message
        F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)


def test_numpy_scalars_are_accepted_like_python_numbers():
    queries, keys, values = (randn(2, 5, 4, seed=s) for s in (1, 2, 3))
    expected = F.scaled_dot_product_attention(queries, keys, values, scale=np.float64(0.3))
    assert_close(scaled_dot_product_attention(queries, keys, values, scale=np.float64(0.3)), expected)
    assert_close(scaled_dot_product_attention(queries, keys, values, scale=np.float32(0.3)), expected)
    blockwise = blockwise_attention(queries, keys, values, block_size=np.int64(2), scale=np.float64(0.3))
    assert_close(blockwise, expected)
    assert SelfAttention(4, 4, scale=np.float64(0.3)).scale == 0.3
    assert MultiHeadAttention(np.int64(4), 4, np.int32(2), dropout=np.float32(0.5)).num_heads == 2
    assert torch.equal(causal_mask(np.int64(3)), causal_mask(3))
    with pytest.raises(TypeError, match="block_size must be an int, got float64"):
        blockwise_attention(queries, keys, values, block_size=np.float64(2.0))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"query": torch.ones(4)}, ValueError, r"query must have at least 2 dimensions .* \(4,\)"),
        ({"key": torch.ones(7, 8, dtype=torch.int32)}, TypeError, "key must have a floating-point dtype"),
        ({"key": torch.ones(7, 3)}, ValueError, "query and key must have the same last dimension d_k"),
        (
            {"key": torch.ones(2, 7, 8), "value": torch.ones(3, 7, 6)},
            ValueError,
            r"the leading \(batch\) dimensions of query, key, value must broadcast",
        ),
        ({"value": torch.ones(6, 6)}, ValueError, r"key has shape \(7, 8\), value has shape \(6, 6\)"),
        (
            {"value": torch.ones(7, 6, dtype=torch.float64)},
            TypeError,
            "value and key must have one dtype, got torch.float64 and torch.float32",
        ),
        (
            {"attn_mask": torch.ones(5, 6, dtype=torch.bool)},
            ValueError,
            r"attn_mask of shape \(5, 6\) cannot broadcast to the scores' shape \(5, 7\)",
        ),
        (
            {"attn_mask": torch.ones(3, 5, 7, dtype=torch.bool)},
            ValueError,
            r"attn_mask of shape \(3, 5, 7\) cannot broadcast",
        ),
        (
            {"attn_mask": torch.ones(5, 7, dtype=torch.int64)},
            TypeError,
            "attn_mask must be a boolean tensor .* got dtype torch.int64",
        ),
        ({"scale": float("inf")}, ValueError, "scale must be a finite number, got inf"),
        ({"scale": float("nan")}, ValueError, "scale must be a finite number"),
        ({"scale": "0.5"}, TypeError, "scale must be a float or None, got str"),
        ({"dropout_p": 1.5}, ValueError, r"dropout_p must be in \[0, 1\], got 1.5"),
        ({"enable_gqa": 1}, TypeError, "enable_gqa must be True or False, got int 1"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(kwargs, error, message):
    queries, keys, values = random_qkv()
    arguments = {"query": queries, "key": keys, "value": values, **kwargs}
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(**arguments)


def test_weights_and_values_must_agree():
    with pytest.raises(ValueError, match=r"weights has shape \(2, 3\), values has shape \(4, 5\)"):
        attention_context(torch.ones(2, 3), torch.ones(4, 5))
    with pytest.raises(ValueError, match="must agree on n_k"):
        weighted_values(torch.ones(2, 3), torch.ones(4, 5))


def test_weighted_values_refuses_values_of_another_dtype():
    message = "values and weights must have one dtype, got torch.float64 and torch.float32"
    with pytest.raises(TypeError, match=message):
        weighted_values(torch.ones(2, 2), torch.ones(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_attention_dropout_refuses_weights_that_are_not_floating(dtype):
    with pytest.raises(TypeError, match=f"weights must have a floating-point dtype .* got {dtype}"):
        attention_dropout(torch.ones(3, 3, dtype=dtype), 0.5)


# Torch's calling forms: a call that works on F.scaled_dot_product_attention works unchanged here.


def test_the_signature_is_torchs_plus_a_keyword_only_generator():
    # torch's function is a builtin without an inspectable signature: its docstring states it, and
    # its positional arguments stop at is_causal (the test below shows both refuse a seventh).
    import inspect

    documented = re.match(
        r"scaled_dot_product_attention\((.*?)\) ->", " ".join(F.scaled_dot_product_attention.__doc__.split())
    )
    theirs = [part.strip().split("=") for part in documented.group(1).split(",")]
    ours = list(inspect.signature(scaled_dot_product_attention).parameters.values())
    assert [p.name for p in ours] == [name for name, *_ in theirs] + ["generator"]
    for parameter, (_, *default) in zip(ours, theirs, strict=False):
        assert repr(parameter.default) == default[0] if default else parameter.default is inspect.Parameter.empty
    keyword_only = [p.name for p in ours if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == ["scale", "enable_gqa", "generator"]


def _torch_calling_forms():
    """(name, args, kwargs) for the calls of torch's documentation and its conventions."""
    q, k, v = randn(2, 4, 5, 8, seed=1), randn(2, 4, 7, 8, seed=2), randn(2, 4, 7, 6, seed=3)
    bool_mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(4)) > 0.3
    float_mask = randn(5, 7, seed=5)
    return [
        ("positional", (q, k, v), {}),
        ("keyword", (), {"query": q, "key": k, "value": v}),
        ("boolean attn_mask, positional", (q, k, v, bool_mask), {}),
        ("float attn_mask, keyword", (q, k, v), {"attn_mask": float_mask}),
        ("per-batch and head mask", (q, k, v), {"attn_mask": randn(2, 4, 5, 7, seed=6)}),
        ("dropout_p=0.0 and is_causal, positional", (q, k, v, None, 0.0, True), {}),
        ("is_causal, square", (q, q, v[..., :5, :]), {"is_causal": True}),
        ("is_causal, more queries than keys", (k, q, q), {"is_causal": True}),
        ("scale", (q, k, v), {"scale": 0.3}),
        ("negative scale", (q, k, v), {"scale": -1.0}),
        ("scale 0", (q, k, v), {"scale": 0}),
        ("enable_gqa", (q, k[:, :2], v[:, :1].expand(2, 2, 7, 6)), {"enable_gqa": True}),
        ("enable_gqa, one key/value head", (q, k[:, :1], v[:, :1]), {"enable_gqa": True}),
        ("enable_gqa with equal heads", (q, k, v), {"enable_gqa": True}),
        ("3-D", (q[0], k[0], v[0]), {}),
        ("2-D", (q[0, 0], k[0, 0], v[0, 0]), {}),
        ("5-D", (q[None], k[None], v[None]), {}),
        ("broadcast key and value batch", (q, k[:1], v[:1]), {}),
        ("broadcast key and value heads", (q, k[:, :1], v[:, :1]), {}),
        ("3-D key and value against 4-D query", (q, k[0], v[0]), {}),
        ("float64", (q.double(), k.double(), v.double()), {}),
        ("dropout_p=1.0", (q, k, v), {"dropout_p": 1.0}),
    ]


@pytest.mark.parametrize(("name", "args", "kwargs"), _torch_calling_forms(), ids=[c[0] for c in _torch_calling_forms()])
def test_every_calling_form_of_torch_gives_torchs_result(name, args, kwargs):
    expected = F.scaled_dot_product_attention(*args, **kwargs)
    assert_close(scaled_dot_product_attention(*args, **kwargs), expected)


def test_torchs_keyword_only_arguments_are_keyword_only_here_too():
    q = randn(2, 3, 4)
    for function in (F.scaled_dot_product_attention, scaled_dot_product_attention):
        with pytest.raises(TypeError, match="positional argument"):
            function(q, q, q, None, 0.0, False, 0.5)
