"""The modules' forward runs on torch's fused kernel; ``steps()`` keeps the explicit form.

Both must give the same result, and the same result as the explicit form the modules used
before (the package's own `scaled_dot_product_attention` on the split heads).
"""

from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    scaled_dot_product_attention,
)

CLOSE = {"atol": 1e-6, "rtol": 1e-5}


def randn(*shape, seed=1, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def mask_of(kind, batch, heads, seq_len, dtype=torch.float32):
    """A mask of the given kind; every query keeps at least itself unless kind is 'empty row'."""
    if kind is None:
        return None
    allowed = (torch.rand(seq_len, seq_len, generator=torch.Generator().manual_seed(7)) > 0.4) | torch.eye(
        seq_len, dtype=torch.bool
    )
    if kind == "empty row":
        allowed[1] = False
    if heads is not None:
        allowed = allowed.expand(*batch, heads, seq_len, seq_len)
    if kind == "float":
        return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, float("-inf"))
    return allowed


def explicit_multihead(module, inputs, mask):
    """The previous MultiHeadAttention.forward: split heads, the package's explicit attention."""
    if module.causal:
        mask = causal_mask(inputs.shape[-2]) if mask is None else causal_mask(inputs.shape[-2]) & mask
    queries, keys, values = (module.split_heads(linear(inputs)) for linear in (module.w_query, module.w_key, module.w_value))
    context = scaled_dot_product_attention(queries, keys, values, mask=mask)
    return module.out_proj(module.merge_heads(context))


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
@pytest.mark.parametrize(("causal", "mask_kind"), [
    (False, None), (False, "bool"), (False, "float"), (False, "empty row"),
    (True, None), (True, "bool"), (True, "empty row"),  # a causal module takes boolean masks only
])  # fmt: skip
def test_multihead_forward_equals_steps_and_the_explicit_form(batch, causal, mask_kind):
    torch.manual_seed(0)
    module = MultiHeadAttention(6, 8, 2, causal=causal, qkv_bias=True).eval()
    inputs = randn(*batch, 5, 6)
    mask = mask_of(mask_kind, batch, 1 if batch else None, 5)
    with torch.no_grad():
        output = module(inputs, mask=mask)
        steps = module.steps(inputs, mask=mask)
        explicit = explicit_multihead(module, inputs, mask)
    assert output.shape == (*batch, 5, 8)
    torch.testing.assert_close(output, steps.output, **CLOSE)
    torch.testing.assert_close(output, explicit, **CLOSE)


@pytest.mark.parametrize("batch", [(), (3,)])
@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "empty row"])
def test_self_attention_forward_equals_the_explicit_form(batch, mask_kind):
    torch.manual_seed(0)
    module = SelfAttention(4, 3, qkv_bias=True, scale=0.7).eval()
    inputs = randn(*batch, 6, 4)
    mask = mask_of(mask_kind, batch, None, 6)
    with torch.no_grad():
        output = module(inputs, mask=mask)
        explicit = scaled_dot_product_attention(*module.project(inputs), mask=mask, scale=0.7)
    torch.testing.assert_close(output, explicit, **CLOSE)


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
@pytest.mark.parametrize("mask_kind", [None, "bool", "empty row"])
def test_causal_forward_equals_the_explicit_form(batch, mask_kind):
    torch.manual_seed(0)
    module = CausalSelfAttention(4, 3, dropout=0.5).eval()
    inputs = randn(*batch, 6, 4)
    mask = mask_of(mask_kind, batch, None, 6)
    with torch.no_grad():
        output = module(inputs, mask=mask)
        combined = causal_mask(6) if mask is None else causal_mask(6) & mask
        explicit = scaled_dot_product_attention(*module.project(inputs), mask=combined, scale=module.scale)
    torch.testing.assert_close(output, explicit, **CLOSE)
    if mask_kind == "empty row":
        assert torch.equal(output[..., 1, :], torch.zeros_like(output[..., 1, :]))


def fully_masked_gradients(forward, inputs):
    inputs = inputs.clone().requires_grad_()
    output = forward(inputs)
    output.sum().backward()
    return output, inputs.grad


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fused_kernel_gives_zero_output_and_finite_gradients_for_a_fully_masked_row(kind):
    """Relied on by every module's forward: torch's CPU kernel returns 0 for a row that may
    attend to nothing, and no NaN gradient."""
    torch.manual_seed(0)
    module = MultiHeadAttention(4, 4, 2)
    mask = mask_of("empty row", (), None, 5) if kind == "bool" else mask_of("float", (), None, 5)
    if kind == "float":
        mask[1] = float("-inf")
    output, grad = fully_masked_gradients(lambda x: module(x, mask=mask), randn(2, 5, 4))
    assert torch.isfinite(output).all() and torch.isfinite(grad).all()
    for parameter in module.parameters():
        assert torch.isfinite(parameter.grad).all()
    queries, keys, values = (randn(2, 5, 4, seed=s).requires_grad_() for s in (1, 2, 3))
    context = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    context.sum().backward()
    assert torch.equal(context[:, 1], torch.zeros(2, 4))
    assert torch.equal(queries.grad[:, 1], torch.zeros(2, 4))
    assert all(torch.isfinite(t.grad).all() for t in (queries, keys, values))


def test_multihead_dropout_is_applied_in_training_only():
    torch.manual_seed(0)
    module = MultiHeadAttention(8, 8, 2, dropout=0.5)
    inputs = randn(2, 5, 8)
    with torch.no_grad():
        evaluation = module.eval()(inputs)
        torch.manual_seed(1)
        training = module.train()(inputs)
        torch.manual_seed(1)
        again = module(inputs)
    assert not torch.allclose(evaluation, training)
    assert torch.equal(training, again)  # seeded by torch's global generator


@pytest.mark.parametrize(("module", "mask"), [
    (MultiHeadAttention(4, 4, 2), None),
    (MultiHeadAttention(4, 4, 2, causal=True), None),
    (MultiHeadAttention(4, 4, 2, causal=True), torch.ones(3, 3, dtype=torch.bool)),
    (SelfAttention(4, 4), None),
    (CausalSelfAttention(4, 4), None),
    (CausalSelfAttention(4, 4), torch.ones(3, 3, dtype=torch.bool)),
])  # fmt: skip
def test_every_module_forward_calls_the_fused_kernel_once(module, mask):
    with mock.patch.object(F, "scaled_dot_product_attention", wraps=F.scaled_dot_product_attention) as fused:
        module(randn(2, 3, 4), mask=mask)
    assert fused.call_count == 1
    is_causal = fused.call_args.kwargs.get("is_causal", False)
    assert is_causal == (mask is None and getattr(module, "causal", isinstance(module, CausalSelfAttention)))


@pytest.mark.parametrize("path", ["MultiHeadAttention", "MultiHeadAttention + mask", "CausalSelfAttention",
                                  "CausalSelfAttention + mask", "MultiHeadAttention.steps"])  # fmt: skip
def test_a_future_token_cannot_change_earlier_outputs_on_any_causal_path(path):
    torch.manual_seed(0)
    module = MultiHeadAttention(4, 4, 2, causal=True) if path.startswith("Multi") else CausalSelfAttention(4, 4)
    mask = torch.ones(6, 6, dtype=torch.bool) if "mask" in path else None
    call = (lambda x: module.steps(x).output) if path.endswith("steps") else (lambda x: module(x, mask=mask))
    inputs = randn(2, 6, 4)
    changed = inputs.clone()
    changed[:, 4] += 10.0
    with torch.no_grad():
        before, after = call(inputs), call(changed)
    torch.testing.assert_close(after[:, :4], before[:, :4], atol=0, rtol=0)
    assert not torch.allclose(after[:, 4:], before[:, 4:])
