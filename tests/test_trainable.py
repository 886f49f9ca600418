import math

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    SelfAttention,
    attention_context,
    self_attention,
    self_attention_steps,
    weighted_values,
)
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
    torch.testing.assert_close(attention_context(QKV_ROUNDED_WEIGHTS, values), QKV_ROUNDED_OUTPUTS)
    seed_layout = weighted_values(QKV_ROUNDED_WEIGHTS, values).transpose(0, 1)  # [key, query, :]
    torch.testing.assert_close(seed_layout, QKV_ROUNDED_WEIGHTED_VALUES)
    # ... and they are not the exact outputs: the rounding moves output 1 by about 0.32.
    difference = QKV_EXACT_OUTPUTS - QKV_ROUNDED_OUTPUTS
    assert difference.abs().max() > 0.3


def test_equals_torch_sdpa_on_the_seed():
    expected = F.scaled_dot_product_attention(QKV_QUERIES, QKV_KEYS, QKV_VALUES, scale=1.0)
    torch.testing.assert_close(self_attention(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE, scale=1.0), expected)
    expected_default = F.scaled_dot_product_attention(QKV_QUERIES, QKV_KEYS, QKV_VALUES)
    torch.testing.assert_close(self_attention(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE), expected_default)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_equals_torch_sdpa_on_random_batches(dtype, batch):
    generator = torch.Generator().manual_seed(7)
    inputs = torch.randn(*batch, 6, 5, generator=generator, dtype=dtype)
    w_query, w_key = (torch.randn(5, 4, generator=generator, dtype=dtype) for _ in range(2))
    w_value = torch.randn(5, 3, generator=generator, dtype=dtype)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    expected = F.scaled_dot_product_attention(
        inputs @ w_query, inputs @ w_key, inputs @ w_value, attn_mask=mask
    )
    ours = self_attention(inputs, w_query, w_key, w_value, mask=mask)
    assert ours.shape == (*batch, 6, 3)
    tolerance = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-10}
    torch.testing.assert_close(ours, expected, **tolerance)


def test_module_with_the_seed_weights_gives_the_seed_outputs():
    attention = SelfAttention(4, 3, scale=1.0)
    attention.load_state_dict(
        {"w_query.weight": W_QUERY.T, "w_key.weight": W_KEY.T, "w_value.weight": W_VALUE.T}
    )
    with torch.no_grad():
        torch.testing.assert_close(attention(QKV_INPUTS), seed_steps().context)


@pytest.mark.parametrize("batch", [(), (3,)])
def test_module_equals_the_function_with_its_weights(batch):
    torch.manual_seed(0)
    attention = SelfAttention(5, 4)
    inputs = torch.randn(*batch, 7, 5)
    expected = self_attention(
        inputs, attention.w_query.weight.T, attention.w_key.weight.T, attention.w_value.weight.T
    )
    torch.testing.assert_close(attention(inputs), expected)
    assert attention.scale == pytest.approx(1 / math.sqrt(4))


def test_module_bias_is_applied_and_trains():
    torch.manual_seed(0)
    attention = SelfAttention(5, 4, qkv_bias=True)
    assert attention.w_query.bias is not None
    inputs = torch.randn(2, 7, 5)
    queries, keys, values = attention.w_query(inputs), attention.w_key(inputs), attention.w_value(inputs)
    expected = F.scaled_dot_product_attention(queries, keys, values)
    output = attention(inputs)
    torch.testing.assert_close(output, expected)
    output.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((QKV_INPUTS[0], W_QUERY, W_KEY, W_VALUE), {}, ValueError, r"inputs must have at least 2 dimensions .* got shape \(4,\)"),
        ((QKV_INPUTS.long(), W_QUERY, W_KEY, W_VALUE), {}, TypeError, "inputs must have a floating-point dtype .* got torch.int64"),
        ((QKV_INPUTS, W_QUERY[:3], W_KEY, W_VALUE), {}, ValueError, r"w_query must have shape \(d_in, d_out\) = \(4, d_out\) .* got shape \(3, 3\)"),
        ((QKV_INPUTS, W_QUERY, W_KEY[None], W_VALUE), {}, ValueError, r"w_key must have shape .* got shape \(1, 4, 3\)"),
        ((QKV_INPUTS, W_QUERY, W_KEY, W_VALUE[:, :1].T), {}, ValueError, r"w_value must have shape .* got shape \(1, 4\)"),
        ((QKV_INPUTS, W_QUERY, W_KEY[:, :2], W_VALUE), {}, ValueError, r"w_query and w_key must project to the same width d_k: w_query has shape \(4, 3\), w_key has shape \(4, 2\)"),
        ((QKV_INPUTS, W_QUERY.double(), W_KEY, W_VALUE), {}, TypeError, "w_query has dtype torch.float64 but inputs have dtype torch.float32"),
        ((QKV_INPUTS, W_QUERY, W_KEY, W_VALUE), {"mask": torch.ones(3, 2, dtype=torch.bool)}, ValueError, r"mask of shape \(3, 2\) cannot broadcast to the scores' shape \(3, 3\)"),
        ((QKV_INPUTS, W_QUERY, W_KEY, W_VALUE), {"mask": torch.ones(3, 3, dtype=torch.uint8)}, TypeError, "mask must be a boolean tensor"),
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
