"""Inputs that used to give a silently wrong result or an obscure error, each checked
against what PyTorch does with the same input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    SelfAttention,
    attention_dropout,
    attention_steps,
    attention_weights,
    blockwise_attention,
    causal_and,
    causal_mask,
    checks,
    mask_scores,
    scaled_dot_product_attention,
    weighted_values,
)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# float16: Q K^T overflows 65504 unless the scale comes first --------------------------------


@pytest.mark.parametrize("size", [30.0, 40.0, 100.0])
def test_float16_scores_do_not_overflow_before_scaling(size):
    queries = keys = torch.full((2, 3, 64), size, dtype=torch.float16)
    values = randn(2, 3, 4).half()
    assert torch.isinf(queries @ keys.transpose(-2, -1)).any() == (size >= 32)  # the product alone overflows
    theirs = F.scaled_dot_product_attention(queries, keys, values)
    ours = scaled_dot_product_attention(queries, keys, values)
    steps = attention_steps(queries, keys, values)
    assert torch.isfinite(theirs).all() and torch.isfinite(ours).all() and torch.isfinite(steps.scores).all()
    torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3)


def test_float16_random_large_inputs_are_finite_wherever_torch_is():
    queries, keys = (randn(4, 16, 64, seed=s).abs().half() * 40 for s in (1, 2))
    values = randn(4, 16, 8, seed=3).half()
    theirs = F.scaled_dot_product_attention(queries, keys, values)
    ours = scaled_dot_product_attention(queries, keys, values)
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    torch.testing.assert_close(ours.float(), theirs.float(), atol=2e-2, rtol=2e-2)


# float masks of another dtype: refused, as torch refuses float64 on float32 ---------------


@pytest.mark.parametrize(("dtype", "mask_dtype", "value"), [(torch.float32, torch.float64, 1e300),
                                                          (torch.float16, torch.float32, 1e5)])  # fmt: skip
def test_a_float_mask_of_another_dtype_is_refused(dtype, mask_dtype, value):
    queries = randn(2, 3, 4).to(dtype)
    mask = torch.full((3, 3), value, dtype=mask_dtype)
    message = f"a floating mask must have the dtype of the scores, {dtype}, got {mask_dtype}"
    with pytest.raises(TypeError, match=message):
        scaled_dot_product_attention(queries, queries, queries, mask=mask)
    with pytest.raises(TypeError, match=message):
        mask_scores(queries @ queries.transpose(-2, -1), mask)
    with pytest.raises(TypeError, match=message):
        SelfAttention(4, 4).to(dtype)(queries, mask=mask)
    if mask_dtype == torch.float64:  # torch refuses this one too
        with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float or to match query dtype"):
            F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)


# fully masked rows: zero output and finite zero gradients on every path -------------------


def blocked_first_row(kind, n=4):
    allowed = torch.ones(n, n, dtype=torch.bool)
    allowed[0] = False
    if kind == "bool":
        return allowed
    return torch.zeros(n, n).masked_fill(~allowed, float("-inf"))


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("path", ["scaled_dot_product_attention", "attention_steps", "attention_weights"])
def test_fully_masked_rows_have_zero_output_and_finite_zero_gradients(kind, path):
    mask = blocked_first_row(kind)
    queries, keys, values = (randn(2, 4, 3, seed=s).requires_grad_() for s in (1, 2, 3))
    if path == "scaled_dot_product_attention":
        output = scaled_dot_product_attention(queries, keys, values, mask=mask)
    elif path == "attention_steps":
        output = attention_steps(queries, keys, values, mask=mask).context
    else:
        output = attention_weights(queries @ keys.transpose(-2, -1), mask=mask) @ values
    output.sum().backward()
    assert torch.equal(output[:, 0], torch.zeros(2, 3))
    assert torch.equal(queries.grad[:, 0], torch.zeros(2, 3))  # the blocked query has no influence
    reference = [t.detach().clone().requires_grad_() for t in (queries, keys, values)]
    expected = F.scaled_dot_product_attention(*reference, attn_mask=mask, scale=1.0 if path == "attention_weights" else None)
    expected.sum().backward()
    torch.testing.assert_close(output, expected)
    for ours, theirs in zip((queries, keys, values), reference, strict=True):
        assert torch.isfinite(ours.grad).all()
        torch.testing.assert_close(ours.grad, theirs.grad)


@pytest.mark.parametrize(("module", "kind"), [
    (SelfAttention(3, 3), "bool"), (SelfAttention(3, 3), "float"),
    (MultiHeadAttention(3, 3, 1), "bool"), (MultiHeadAttention(3, 3, 1), "float"),
    (CausalSelfAttention(3, 3), "bool"),  # it takes boolean masks only
], ids=lambda value: value if isinstance(value, str) else type(value).__name__)  # fmt: skip
def test_modules_give_finite_gradients_for_a_fully_masked_row(module, kind):
    inputs = randn(2, 4, 3).requires_grad_()
    output = module(inputs, mask=blocked_first_row(kind))
    output.sum().backward()
    bias = module.out_proj.bias if isinstance(module, MultiHeadAttention) else torch.zeros(3)
    assert torch.equal(output[:, 0], bias.expand(2, 3))  # the attention output of query 0 is 0
    assert torch.isfinite(inputs.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in module.parameters())


def test_scores_that_are_all_minus_inf_get_zero_weights_and_zero_gradients():
    scores = torch.tensor([[float("-inf")] * 3, [1.0, 2.0, 3.0]], requires_grad=True)
    weights = attention_weights(scores)
    (weights * torch.arange(3.0)).sum().backward()
    assert torch.equal(weights[0], torch.zeros(3))
    assert torch.equal(scores.grad[0], torch.zeros(3))
    assert torch.isfinite(scores.grad).all()


# mask_scores, weighted_values, attention_dropout ------------------------------------------


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


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_attention_dropout_refuses_weights_that_are_not_floating(dtype):
    with pytest.raises(TypeError, match=f"weights must have a floating-point dtype .* got {dtype}"):
        attention_dropout(torch.ones(3, 3, dtype=dtype), 0.5)


def test_weighted_values_refuses_values_of_another_dtype():
    with pytest.raises(TypeError, match="all tensors must share one dtype: weights is torch.float32, values is torch.float64"):
        weighted_values(torch.ones(2, 2), torch.ones(2, 3, dtype=torch.float64))


# is_causal must be a bool ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", 1, None])
def test_is_causal_must_be_a_bool_as_in_torch(value):
    queries = randn(2, 3, 4)
    with pytest.raises(TypeError, match=f"is_causal must be True or False, got {type(value).__name__}"):
        scaled_dot_product_attention(queries, queries, queries, is_causal=value)
    with pytest.raises(TypeError, match="is_causal must be True or False"):
        attention_steps(queries, queries, queries, is_causal=value)
    with pytest.raises(TypeError, match="causal must be True or False"):
        blockwise_attention(queries, queries, queries, causal=value)
    with pytest.raises(TypeError, match="causal must be True or False"):
        MultiHeadAttention(4, 4, 2, causal=value)
    with pytest.raises(TypeError, match="argument 'is_causal' must be bool"):
        F.scaled_dot_product_attention(queries, queries, queries, is_causal=value)


# sizes of zero, meta tensors, devices ------------------------------------------------------


def test_head_size_zero_gives_torch_result():
    queries, values = randn(2, 3, 0), randn(2, 3, 4)
    expected = F.scaled_dot_product_attention(queries, queries, values)  # every score 0: the mean of the values
    torch.testing.assert_close(scaled_dot_product_attention(queries, queries, values), expected)
    torch.testing.assert_close(attention_steps(queries, queries, values).context, expected)
    torch.testing.assert_close(blockwise_attention(queries, queries, values, block_size=2), expected)
    torch.testing.assert_close(expected, values.mean(dim=-2, keepdim=True).expand(2, 3, 4))


def test_meta_tensors_give_shapes_without_reading_values():
    queries = torch.empty(2, 5, 4, device="meta")
    mask = torch.ones(5, 5, dtype=torch.bool, device="meta")
    with checks():  # even with value checks on: a meta tensor has no values to scan
        assert scaled_dot_product_attention(queries, queries, queries, mask=mask).shape == (2, 5, 4)
        assert attention_steps(queries, queries, queries, is_causal=True).weights.shape == (2, 5, 5)
        for module in (MultiHeadAttention(4, 4, 2, causal=True), CausalSelfAttention(4, 4)):
            output = module.to("meta")(queries)
            assert output.is_meta and output.shape == (2, 5, 4)
    assert F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask).shape == (2, 5, 4)


def test_a_mask_on_another_device_is_refused_with_a_clear_error():
    queries = randn(2, 3, 4)
    mask = torch.ones(3, 3, dtype=torch.bool, device="meta")
    with pytest.raises(ValueError, match="mask is on meta but the scores are on cpu"):
        scaled_dot_product_attention(queries, queries, queries, mask=mask)
    with pytest.raises(ValueError, match="mask is on meta but the scores are on cpu"):
        MultiHeadAttention(4, 4, 2)(queries, mask=mask)
    with pytest.raises(RuntimeError, match="not on the expected device"):  # torch's message
        F.scaled_dot_product_attention(queries, queries, queries, attn_mask=mask)


def test_inputs_on_another_device_than_the_module_are_refused():
    with pytest.raises(ValueError, match="inputs are on meta but the module's weights are on cpu"):
        SelfAttention(4, 4)(torch.empty(2, 3, 4, device="meta"))


def test_an_empty_sequence_with_is_causal_is_empty_as_in_torch():
    empty = randn(2, 0, 4)
    expected = F.scaled_dot_product_attention(empty, empty, empty, is_causal=True)
    assert expected.shape == (2, 0, 4)
    assert scaled_dot_product_attention(empty, empty, empty, is_causal=True).shape == (2, 0, 4)
    assert attention_steps(empty, empty, empty, is_causal=True).context.shape == (2, 0, 4)
    assert blockwise_attention(empty, empty, empty, causal=True).shape == (2, 0, 4)
    assert MultiHeadAttention(4, 4, 2, causal=True)(empty).shape == (2, 0, 4)
    assert MultiHeadAttention(4, 4, 2, causal=True).steps(empty).output.shape == (2, 0, 4)
    assert CausalSelfAttention(4, 3)(empty).shape == (2, 0, 3)
    assert causal_mask(0).shape == (0, 0)


def test_causal_and_refuses_a_list():
    with pytest.raises(TypeError, match="mask must be a torch.Tensor, got list"):
        causal_and([[True, False], [True, True]], 2)


def test_causal_and_builds_on_the_mask_device_by_default():
    mask = torch.ones(3, 3, dtype=torch.bool, device="meta")
    assert causal_and(mask, 3).is_meta


@pytest.mark.parametrize("module", [MultiHeadAttention(4, 4, 2), SelfAttention(4, 4), CausalSelfAttention(4, 4)],
                         ids=lambda module: type(module).__name__)  # fmt: skip
def test_a_float64_module_refuses_float32_inputs_with_a_clear_error(module):
    module = module.double()
    with pytest.raises(TypeError, match="inputs have dtype torch.float32 but the module's weights have dtype torch.float64"):
        module(randn(2, 3, 4))
    assert module(randn(2, 3, 4, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(RuntimeError):  # what torch says instead: a matmul error
        torch.nn.Linear(4, 4).double()(randn(2, 3, 4))


# NumPy scalars, as torch accepts them ------------------------------------------------------


def test_numpy_scalars_are_accepted_like_python_numbers():
    queries, keys, values = (randn(2, 5, 4, seed=s) for s in (1, 2, 3))
    expected = F.scaled_dot_product_attention(queries, keys, values, scale=np.float64(0.3))
    torch.testing.assert_close(scaled_dot_product_attention(queries, keys, values, scale=np.float64(0.3)), expected)
    torch.testing.assert_close(scaled_dot_product_attention(queries, keys, values, scale=np.float32(0.3)), expected)
    torch.testing.assert_close(blockwise_attention(queries, keys, values, block_size=np.int64(2), scale=np.float64(0.3)), expected)
    assert SelfAttention(4, 4, scale=np.float64(0.3)).scale == 0.3
    assert MultiHeadAttention(np.int64(4), 4, np.int32(2), dropout=np.float32(0.5)).num_heads == 2
    assert torch.equal(causal_mask(np.int64(3)), causal_mask(3))
    with pytest.raises(TypeError, match="block_size must be an int, got float64"):
        blockwise_attention(queries, keys, values, block_size=np.float64(2.0))
