"""Simplified self-attention (no trainable weights), on the first worked example and against PyTorch."""

import pytest
import torch

from selfattention import attention_steps, simplified_self_attention
from tests.conftest import assert_close, randn
from tests.seeds import JOURNEY_CONTEXT, JOURNEY_INPUTS, JOURNEY_SCORES, JOURNEY_WEIGHTS


def test_reproduces_every_number_of_the_first_seed():
    steps = attention_steps(JOURNEY_INPUTS, JOURNEY_INPUTS, JOURNEY_INPUTS, scale=1.0)
    torch.testing.assert_close(steps.scores, JOURNEY_SCORES, atol=5e-5, rtol=0)
    torch.testing.assert_close(steps.weights, JOURNEY_WEIGHTS, atol=5e-5, rtol=0)
    torch.testing.assert_close(steps.weights.sum(dim=-1), torch.ones(6))
    torch.testing.assert_close(steps.context, JOURNEY_CONTEXT, atol=1e-4, rtol=0)
    assert_close(simplified_self_attention(JOURNEY_INPUTS), steps.context)


def test_matches_the_plain_formula():
    inputs = JOURNEY_INPUTS
    expected = torch.softmax(inputs @ inputs.T, dim=1) @ inputs
    assert torch.equal(simplified_self_attention(inputs), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_equals_one_sequence_at_a_time(dtype):
    batch = randn(2, 3, 5, 4, dtype=dtype)
    batched = simplified_self_attention(batch)
    assert batched.shape == (2, 3, 5, 4)
    for i in range(2):
        for j in range(3):
            assert_close(batched[i, j], simplified_self_attention(batch[i, j]))


def test_is_permutation_equivariant():
    permutation = torch.tensor([3, 0, 5, 1, 4, 2])
    context = simplified_self_attention(JOURNEY_INPUTS)
    assert_close(simplified_self_attention(JOURNEY_INPUTS[permutation]), context[permutation])


def test_equals_torch_sdpa_with_unit_scale():
    batch = randn(3, 7, 8, seed=1)
    expected = torch.nn.functional.scaled_dot_product_attention(batch, batch, batch, scale=1.0)
    assert_close(simplified_self_attention(batch), expected)


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        (torch.ones(3), ValueError, r"inputs must have at least 2 dimensions .* got shape \(3,\)"),
        (torch.ones(2, 2, dtype=torch.long), TypeError, "inputs must have a floating-point dtype"),
        ([[1.0, 2.0]], TypeError, "inputs must be a torch.Tensor, got list"),
    ],
)
def test_bad_inputs(inputs, error, message):
    with pytest.raises(error, match=message):
        simplified_self_attention(inputs)
