"""Causal masking (the mask, ``is_causal``, CausalSelfAttention) and attention dropout."""

from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    attention_dropout,
    attention_steps,
    attention_weights,
    blockwise_attention,
    causal_and,
    causal_mask,
    scaled_dot_product_attention,
)
from tests.conftest import allowed_keys, assert_close, randn
from tests.seeds import JOURNEY_INPUTS


def test_causal_mask_is_lower_triangular_and_may_attend():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).bool())


# Each dtype once; no batch, one and two batch dimensions.
@pytest.mark.parametrize(("dtype", "batch"), [(torch.float32, ()), (torch.float64, (3,)), (torch.float32, (2, 2))])
def test_is_causal_equals_torch(dtype, batch):
    queries, keys, values = (randn(*batch, 6, 4, seed=s, dtype=dtype) for s in range(3))
    ours = scaled_dot_product_attention(queries, keys, values, is_causal=True)
    theirs = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)
    assert_close(ours, theirs)
    assert torch.equal(ours, scaled_dot_product_attention(queries, keys, values, attn_mask=causal_mask(6)))


def test_masking_before_softmax_equals_zeroing_and_renormalising_after():
    scores = JOURNEY_INPUTS @ JOURNEY_INPUTS.T
    mask = causal_mask(6)
    full = torch.softmax(scores, dim=-1)
    renormalised = full * mask / (full * mask).sum(dim=-1, keepdim=True)
    assert_close(attention_weights(scores, attn_mask=mask), renormalised)
    assert torch.all(attention_weights(scores, attn_mask=mask).triu(diagonal=1) == 0)


@pytest.mark.parametrize("function", [scaled_dot_product_attention, blockwise_attention])
def test_is_causal_with_other_lengths_or_a_mask_does_what_torch_does(function):
    # Upper-left alignment (query i sees keys 0 .. i) for fewer or more queries than keys, and
    # a mask given with is_causal=True combined with the causal mask, as torch's CPU kernel does
    # for 4-D inputs with d_v = d_k (its math path, taken otherwise, refuses the pair).
    queries, keys, values = randn(1, 2, 3, 4, seed=1), randn(1, 2, 5, 4, seed=2), randn(1, 2, 5, 4, seed=3)
    mask = torch.rand(3, 5, generator=torch.Generator().manual_seed(4)) > 0.4
    for q, k, v, m in ((queries, keys, values, None), (keys, queries, queries, None), (queries, keys, values, mask)):
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=True)
        assert_close(function(q, k, v, m, is_causal=True), expected)
    changed = values.clone()
    changed[..., 3:, :] += 5.0  # keys 3 and 4 come after every query under the upper-left alignment
    before = function(queries, keys, values, is_causal=True)
    assert torch.equal(function(queries, keys, changed, is_causal=True), before)


def test_dropout_is_seeded_inverted_and_unbiased():
    weights = torch.full((4, 5), 0.2)
    first = attention_dropout(weights, 0.5, generator=torch.Generator().manual_seed(0))
    again = attention_dropout(weights, 0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, again)
    kept = first[first != 0]
    assert_close(kept, torch.full_like(kept, 0.2 / (1 - 0.5)))  # scaled by 1/(1-p)
    assert 0 < kept.numel() < weights.numel()
    assert attention_dropout(weights, 0.0) is weights
    generator = torch.Generator().manual_seed(1)
    average = torch.stack([attention_dropout(weights, 0.3, generator=generator) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(average, weights, atol=0.01, rtol=0)  # 4000 draws


def test_sdpa_dropout_matches_manual_computation_with_the_same_draws():
    queries, keys, values = (randn(2, 5, 4, seed=s) for s in range(3))
    ours = scaled_dot_product_attention(
        queries, keys, values, dropout_p=0.25, generator=torch.Generator().manual_seed(9)
    )
    weights = attention_weights(queries @ keys.transpose(-2, -1) / 2.0)
    dropped = attention_dropout(weights, 0.25, generator=torch.Generator().manual_seed(9))
    assert_close(ours, dropped @ values)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_outside_zero_one_is_refused(dropout):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        CausalSelfAttention(3, 2, dropout=dropout)
    if dropout != 1.0:  # attention_dropout, like torch's dropout, accepts 1: every weight dropped
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
            attention_dropout(torch.ones(2, 2), dropout)
    else:
        assert torch.equal(attention_dropout(torch.ones(2, 2), dropout), torch.zeros(2, 2))


def test_module_is_causal_and_deterministic_in_eval_mode():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4, dropout=0.5).eval()
    batch = torch.stack([JOURNEY_INPUTS, JOURNEY_INPUTS.flip(0)])
    with torch.no_grad():
        output = attention(batch)
        assert torch.equal(output, attention(batch))
        changed = batch.clone()
        changed[:, 3] += 7.0
        after = attention(changed)
    assert torch.equal(after[:, :3], output[:, :3])
    assert not torch.allclose(after[:, 3:], output[:, 3:])
    queries, keys, values = attention.project(batch)
    expected = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)
    assert_close(output, expected)


def test_module_dropout_only_in_training():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4, dropout=0.5)
    with torch.no_grad():
        evaluation = attention.eval()(JOURNEY_INPUTS)
        training = attention.train()(JOURNEY_INPUTS)
    assert not torch.allclose(training, evaluation)


def test_module_combines_a_padding_mask_and_zeroes_fully_masked_queries():
    torch.manual_seed(0)
    attention = CausalSelfAttention(3, 4).eval()
    padding = torch.tensor([False, True, True, True, True, True])  # token 0 is padding
    with torch.no_grad():
        output = attention(JOURNEY_INPUTS, mask=padding)
    assert not torch.isnan(output).any()
    assert torch.equal(output[0], torch.zeros(4))  # query 0 may only see itself: padding
    queries, keys, values = attention.project(JOURNEY_INPUTS)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=causal_mask(6) & padding)
    assert_close(output, expected)


def test_module_refuses_bad_masks():
    attention = CausalSelfAttention(3, 2)
    with pytest.raises(ValueError, match=r"mask of shape \(5, 5\) cannot broadcast"):
        attention(JOURNEY_INPUTS, mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="a floating mask must have the dtype of the scores"):
        attention(JOURNEY_INPUTS, mask=torch.zeros(6, 6, dtype=torch.float64))


@pytest.mark.parametrize("dropout", ["0.1", None, [0.1], torch.tensor(0.1)])
def test_a_dropout_that_is_not_a_number_is_refused(dropout):
    name = type(dropout).__name__
    with pytest.raises(TypeError, match=f"dropout must be a float in \\[0, 1\\), got {name}"):
        MultiHeadAttention(4, 4, 2, dropout=dropout)
    with pytest.raises(TypeError, match=f"dropout must be a float in \\[0, 1\\), got {name}"):
        CausalSelfAttention(4, 4, dropout=dropout)
    with pytest.raises(TypeError, match=f"p must be a float in \\[0, 1\\], got {name}"):
        attention_dropout(torch.ones(2, 2), dropout)
    with pytest.raises(TypeError, match=f"dropout_p must be a float in \\[0, 1\\], got {name}"):
        scaled_dot_product_attention(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 2), dropout_p=dropout)


@pytest.mark.parametrize("value", ["no", 1, None])
def test_is_causal_must_be_a_bool_as_in_torch(value):
    queries = randn(2, 3, 4)
    with pytest.raises(TypeError, match=f"is_causal must be True or False, got {type(value).__name__}"):
        scaled_dot_product_attention(queries, queries, queries, is_causal=value)
    with pytest.raises(TypeError, match="is_causal must be True or False"):
        attention_steps(queries, queries, queries, is_causal=value)
    with pytest.raises(TypeError, match="causal must be True or False"):
        blockwise_attention(queries, queries, queries, is_causal=value)
    with pytest.raises(TypeError, match="causal must be True or False"):
        MultiHeadAttention(4, 4, 2, causal=value)
    with pytest.raises(TypeError, match="argument 'is_causal' must be bool"):
        F.scaled_dot_product_attention(queries, queries, queries, is_causal=value)


def test_an_empty_sequence_with_is_causal_is_empty_as_in_torch():
    empty = randn(2, 0, 4)
    expected = F.scaled_dot_product_attention(empty, empty, empty, is_causal=True)
    assert expected.shape == (2, 0, 4)
    assert scaled_dot_product_attention(empty, empty, empty, is_causal=True).shape == (2, 0, 4)
    assert attention_steps(empty, empty, empty, is_causal=True).context.shape == (2, 0, 4)
    assert blockwise_attention(empty, empty, empty, is_causal=True).shape == (2, 0, 4)
    assert MultiHeadAttention(4, 4, 2, causal=True)(empty).shape == (2, 0, 4)
    assert MultiHeadAttention(4, 4, 2, causal=True).steps(empty).output.shape == (2, 0, 4)
    assert CausalSelfAttention(4, 3)(empty).shape == (2, 0, 3)
    assert causal_mask(0).shape == (0, 0)


def test_causal_and_refuses_a_list():
    with pytest.raises(TypeError, match=r"mask must be a torch.Tensor, got list"):
        causal_and([[True, False], [True, True]], 2)


def test_causal_and_builds_on_the_mask_device_by_default():
    mask = torch.ones(3, 3, dtype=torch.bool, device="meta")
    assert causal_and(mask, 3).is_meta


def test_module_with_a_per_sequence_padding_mask_on_a_batch():
    torch.manual_seed(0)
    module = CausalSelfAttention(4, 3).eval()
    inputs = randn(2, 6, 4)
    padding = torch.ones(2, 1, 6, dtype=torch.bool)
    padding[1, :, :2] = False  # the second sequence starts with two padding tokens
    with torch.no_grad():
        output = module(inputs, mask=padding)
        queries, keys, values = module.project(inputs)
        expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=causal_mask(6) & padding)
        assert_close(output, expected)
        assert_close(output[0], module(inputs[0]))  # no padding: the plain causal result
        assert_close(output[1, 2:], module(inputs[1, 2:]))  # padding ignored by the rest
    assert torch.equal(output[1, :2], torch.zeros(2, 3))  # a padding query sees only padding: zero


# A causal module takes boolean masks only: none, one, one that leaves a query no key; batches spread over them.
@pytest.mark.parametrize(("batch", "mask_kind"), [((), None), ((3,), "bool"), ((2, 2), "empty row")])
def test_module_forward_with_a_mask_equals_torch_on_its_projections(batch, mask_kind):
    torch.manual_seed(0)
    module = CausalSelfAttention(4, 3, dropout=0.5).eval()
    inputs = randn(*batch, 6, 4, seed=1)
    mask = None if mask_kind is None else allowed_keys(6, empty_row=mask_kind == "empty row")
    with torch.no_grad():
        output = module(inputs, mask=mask)
        combined = causal_mask(6) if mask is None else causal_mask(6) & mask
        queries, keys, values = module.project(inputs)
        expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=combined, scale=module.scale)
    assert_close(output, expected)
    if mask_kind == "empty row":
        assert torch.equal(output[..., 1, :], torch.zeros_like(output[..., 1, :]))


def test_module_gives_finite_gradients_for_a_fully_masked_row():
    module = CausalSelfAttention(3, 3)
    inputs = randn(2, 4, 3).requires_grad_()
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[0] = False
    output = module(inputs, mask=mask)
    output.sum().backward()
    assert torch.equal(output[:, 0], torch.zeros(2, 3))  # the attention output of query 0 is 0
    assert torch.isfinite(inputs.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in module.parameters())


@pytest.mark.parametrize("mask", [None, torch.ones(3, 3, dtype=torch.bool)], ids=["no mask", "mask"])
def test_module_forward_calls_the_fused_kernel_once(mask):
    with mock.patch.object(F, "scaled_dot_product_attention", wraps=F.scaled_dot_product_attention) as fused:
        CausalSelfAttention(4, 4)(randn(2, 3, 4), mask=mask)
    assert fused.call_count == 1
    assert fused.call_args.kwargs.get("is_causal", False) == (mask is None)


@pytest.mark.parametrize("masked", [False, True], ids=["no mask", "mask"])
def test_module_a_future_token_cannot_change_earlier_outputs(masked):
    torch.manual_seed(0)
    module = CausalSelfAttention(4, 4)
    mask = torch.ones(6, 6, dtype=torch.bool) if masked else None
    inputs = randn(2, 6, 4)
    changed = inputs.clone()
    changed[:, 4] += 10.0
    with torch.no_grad():
        before, after = module(inputs, mask=mask), module(changed, mask=mask)
    torch.testing.assert_close(after[:, :4], before[:, :4], atol=0, rtol=0)
    assert not torch.allclose(after[:, 4:], before[:, 4:])


def test_a_float64_module_refuses_float32_inputs_with_a_clear_error():
    module = CausalSelfAttention(4, 4).double()
    message = "inputs and the module's weights must have one dtype, got torch.float32 and torch.float64"
    with pytest.raises(TypeError, match=message):
        module(randn(2, 3, 4))
    assert module(randn(2, 3, 4, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(RuntimeError):  # what torch says instead: a matmul error
        torch.nn.Linear(4, 4).double()(randn(2, 3, 4))


def test_the_module_uses_its_scale_bias_and_dropout_on_every_path():
    # With and without a mask: the scale and qkv_bias given reach the computation, and dropout is
    # applied in training on the masked path too.
    inputs, padding = randn(2, 5, 4, seed=11), torch.tensor([True, True, True, True, False])
    module = CausalSelfAttention(4, 3, qkv_bias=True, scale=0.3).eval()
    assert module.w_query.bias is not None and CausalSelfAttention(4, 3).w_query.bias is None
    queries, keys, values = module.project(inputs)
    for mask in (None, padding):
        allowed = causal_mask(5) if mask is None else causal_mask(5) & mask
        scores = (queries @ keys.transpose(-2, -1) * 0.3).masked_fill(~allowed, float("-inf"))
        with torch.no_grad():
            assert_close(module(inputs, mask=mask), torch.softmax(scores, dim=-1) @ values)
    dropped = CausalSelfAttention(4, 3, dropout=0.5).train()
    with torch.no_grad():
        evaluated = dropped.eval()(inputs, mask=padding)
        torch.manual_seed(0)
        trained = dropped.train()(inputs, mask=padding)
    assert not torch.allclose(trained, evaluated)
