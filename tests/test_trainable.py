"""Self-attention with trainable weights: the function, its steps and the SelfAttention module."""

import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    SelfAttention,
    attention_context,
    causal_mask,
    self_attention,
    self_attention_steps,
    weighted_values,
)
from tests.conftest import allowed_keys, assert_close, randn
from tests.seeds import (
    QKV_EXACT_OUTPUTS,
    QKV_EXACT_WEIGHTS,
    QKV_INPUTS,
    QKV_KEYS,
    QKV_QUERIES,
    QKV_ROUNDED_OUTPUTS,
    QKV_ROUNDED_WEIGHTED_VALUES,
    QKV_ROUNDED_WEIGHTS,
    QKV_SCORES,
    QKV_VALUES,
    W_KEY,
    W_QUERY,
    W_VALUE,
)


def seed_steps(**kwargs):
    return self_attention_steps(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE, scale=1.0, **kwargs)


def test_reproduces_the_exact_numbers_of_the_second_seed():
    steps = seed_steps()
    assert torch.equal(steps.keys, QKV_KEYS)
    assert torch.equal(steps.queries, QKV_QUERIES)
    assert torch.equal(steps.values, QKV_VALUES)
    assert torch.equal(steps.scores, QKV_SCORES)
    torch.testing.assert_close(steps.weights, QKV_EXACT_WEIGHTS, atol=0, rtol=1e-4)
    torch.testing.assert_close(steps.context, QKV_EXACT_OUTPUTS, atol=1e-4, rtol=0)
    # softmax([2, 4, 4]) worked out by hand: e^2 / (e^2 + 2 e^4) = 1 / (1 + 2 e^2).
    assert steps.weights[0, 0].item() == pytest.approx(1 / (1 + 2 * math.exp(2)), rel=1e-6)


def test_the_seeds_rounded_weights_give_its_printed_outputs():
    values = seed_steps().values
    assert_close(attention_context(QKV_ROUNDED_WEIGHTS, values), QKV_ROUNDED_OUTPUTS)
    seed_layout = weighted_values(QKV_ROUNDED_WEIGHTS, values).transpose(0, 1)  # [key, query, :]
    assert_close(seed_layout, QKV_ROUNDED_WEIGHTED_VALUES)
    # ... and they are not the exact outputs: the rounding moves output 1 by about 0.32.
    difference = QKV_EXACT_OUTPUTS - QKV_ROUNDED_OUTPUTS
    assert difference.abs().max() > 0.3


def test_equals_torch_sdpa_on_the_seed():
    expected = F.scaled_dot_product_attention(QKV_QUERIES, QKV_KEYS, QKV_VALUES, scale=1.0)
    assert_close(self_attention(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE, scale=1.0), expected)
    expected_default = F.scaled_dot_product_attention(QKV_QUERIES, QKV_KEYS, QKV_VALUES)
    assert_close(self_attention(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE), expected_default)


# Each dtype once; no batch, one and two batch dimensions.
@pytest.mark.parametrize(("dtype", "batch"), [(torch.float32, ()), (torch.float64, (2,)), (torch.float32, (2, 3))])
def test_equals_torch_sdpa_on_random_batches(dtype, batch):
    inputs = randn(*batch, 6, 5, seed=7, dtype=dtype)
    w_query, w_key = randn(5, 4, seed=8, dtype=dtype), randn(5, 4, seed=9, dtype=dtype)
    w_value = randn(5, 3, seed=10, dtype=dtype)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    expected = F.scaled_dot_product_attention(inputs @ w_query, inputs @ w_key, inputs @ w_value, attn_mask=mask)
    ours = self_attention(inputs, w_query, w_key, w_value, attn_mask=mask)
    assert ours.shape == (*batch, 6, 3)
    assert_close(ours, expected)


def test_module_with_the_seed_weights_gives_the_seed_outputs():
    attention = SelfAttention(4, 3, scale=1.0)
    attention.load_state_dict({"w_query.weight": W_QUERY.T, "w_key.weight": W_KEY.T, "w_value.weight": W_VALUE.T})
    with torch.no_grad():
        assert_close(attention(QKV_INPUTS), seed_steps().context)


@pytest.mark.parametrize("batch", [(), (3,)])
def test_module_equals_the_function_with_its_weights(batch):
    torch.manual_seed(0)
    attention = SelfAttention(5, 4)
    inputs = randn(*batch, 7, 5)
    expected = self_attention(inputs, attention.w_query.weight.T, attention.w_key.weight.T, attention.w_value.weight.T)
    assert_close(attention(inputs), expected)
    assert attention.scale == pytest.approx(1 / math.sqrt(4))


def test_module_bias_is_applied_and_trains():
    torch.manual_seed(0)
    attention = SelfAttention(5, 4, qkv_bias=True)
    assert attention.w_query.bias is not None
    inputs = randn(2, 7, 5)
    queries, keys, values = attention.w_query(inputs), attention.w_key(inputs), attention.w_value(inputs)
    expected = F.scaled_dot_product_attention(queries, keys, values)
    output = attention(inputs)
    assert_close(output, expected)
    output.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (
            (QKV_INPUTS[0], W_QUERY, W_KEY, W_VALUE),
            {},
            ValueError,
            r"inputs must have at least 2 dimensions .* got shape \(4,\)",
        ),
        (
            (QKV_INPUTS.long(), W_QUERY, W_KEY, W_VALUE),
            {},
            TypeError,
            "inputs must have a floating-point dtype .* got torch.int64",
        ),
        (
            (QKV_INPUTS, W_QUERY[:3], W_KEY, W_VALUE),
            {},
            ValueError,
            r"w_query must have shape \(d_in, d_out\) = \(4, d_out\) .* got shape \(3, 3\)",
        ),
        (
            (QKV_INPUTS, W_QUERY, W_KEY[None], W_VALUE),
            {},
            ValueError,
            r"w_key must have shape .* got shape \(1, 4, 3\)",
        ),
        (
            (QKV_INPUTS, W_QUERY, W_KEY, W_VALUE[:, :1].T),
            {},
            ValueError,
            r"w_value must have shape .* got shape \(1, 4\)",
        ),
        (
            (QKV_INPUTS, W_QUERY, W_KEY[:, :2], W_VALUE),
            {},
            ValueError,
            r"w_query and w_key must project to the same width d_k: "
            r"w_query has shape \(4, 3\), w_key has shape \(4, 2\)",
        ),
        (
            (QKV_INPUTS, W_QUERY.double(), W_KEY, W_VALUE),
            {},
            TypeError,
            "w_query and inputs must have one dtype, got torch.float64 and torch.float32",
        ),
        (
            (QKV_INPUTS, W_QUERY, W_KEY, W_VALUE),
            {"attn_mask": torch.ones(3, 2, dtype=torch.bool)},
            ValueError,
            r"attn_mask of shape \(3, 2\) cannot broadcast to the scores' shape \(3, 3\)",
        ),
        (
            (QKV_INPUTS, W_QUERY, W_KEY, W_VALUE),
            {"attn_mask": torch.ones(3, 3, dtype=torch.uint8)},
            TypeError,
            "attn_mask must be a boolean tensor",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        self_attention(*args, **kwargs)


def test_module_refuses_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="d_out must be at least 1, got 0"):
        SelfAttention(4, 0)
    with pytest.raises(TypeError, match="d_in must be an int, got float"):
        SelfAttention(4.0, 3)
    with pytest.raises(ValueError, match=r"inputs must have shape \(..., seq_len, d_in=4\), got shape \(3, 5\)"):
        SelfAttention(4, 3)(torch.ones(3, 5))


# Each kind of mask once (none, boolean, additive float, a query with no key), with and without a batch.
@pytest.mark.parametrize(("batch", "mask_kind"), [((), None), ((3,), "bool"), ((), "float"), ((3,), "empty row")])
def test_module_forward_equals_torch_on_its_projections(batch, mask_kind):
    torch.manual_seed(0)
    module = SelfAttention(4, 3, qkv_bias=True, scale=0.7).eval()
    inputs = randn(*batch, 6, 4, seed=1)
    mask = None if mask_kind is None else allowed_keys(6, empty_row=mask_kind == "empty row")
    if mask_kind == "float":
        mask = torch.zeros(6, 6).masked_fill(~mask, float("-inf"))
    with torch.no_grad():
        output = module(inputs, mask=mask)
        queries, keys, values = module.project(inputs)
        expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=0.7)
    assert_close(output, expected)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_module_gives_finite_gradients_for_a_fully_masked_row(kind):
    module = SelfAttention(3, 3)
    inputs = randn(2, 4, 3).requires_grad_()
    allowed = torch.ones(4, 4, dtype=torch.bool)
    allowed[0] = False
    mask = allowed if kind == "bool" else torch.zeros(4, 4).masked_fill(~allowed, float("-inf"))
    output = module(inputs, mask=mask)
    output.sum().backward()
    assert torch.equal(output[:, 0], torch.zeros(2, 3))  # the attention output of query 0 is 0
    assert torch.isfinite(inputs.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in module.parameters())


def test_module_forward_calls_the_fused_kernel_once():
    with mock.patch.object(F, "scaled_dot_product_attention", wraps=F.scaled_dot_product_attention) as fused:
        SelfAttention(4, 4)(randn(2, 3, 4))
    assert fused.call_count == 1
    assert not fused.call_args.kwargs.get("is_causal", False)


def test_a_float64_module_refuses_float32_inputs_with_a_clear_error():
    module = SelfAttention(4, 4).double()
    message = "inputs and the module's weights must have one dtype, got torch.float32 and torch.float64"
    with pytest.raises(TypeError, match=message):
        module(randn(2, 3, 4))
    assert module(randn(2, 3, 4, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(RuntimeError):  # what torch says instead: a matmul error
        torch.nn.Linear(4, 4).double()(randn(2, 3, 4))


def test_inputs_on_another_device_than_the_module_are_refused():
    with pytest.raises(ValueError, match="inputs and the module's weights must be on one device, got meta and cpu"):
        SelfAttention(4, 4)(torch.empty(2, 3, 4, device="meta"))


def test_the_functions_pass_their_mask_and_causal_flag_and_scan_every_input():
    inputs, weight = randn(4, 3, seed=12), randn(3, 2, seed=13)
    blocked = torch.tensor([True, True, False, True])  # key 2 is padding
    steps = self_attention_steps(inputs, weight, weight, weight, attn_mask=blocked)
    assert torch.equal(steps.weights[:, 2], torch.zeros(4))
    causal = self_attention(inputs, weight, weight, weight, is_causal=True)
    assert_close(causal, self_attention(inputs, weight, weight, weight, attn_mask=causal_mask(4)))
    assert not torch.allclose(causal, self_attention(inputs, weight, weight, weight))
    nan = float("nan")
    for name, arguments in {
        "inputs": (inputs.index_fill(0, torch.tensor(1), nan), weight, weight, weight),
        "w_key": (inputs, weight, weight.index_fill(0, torch.tensor(0), nan), weight),
        "w_value": (inputs, weight, weight, weight.index_fill(0, torch.tensor(0), nan)),
    }.items():
        with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values"):
            self_attention_steps(*arguments)
    module = SelfAttention(4, 3)
    assert module.d_out == 3 and "d_out=3" in repr(module)
