import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    from_torch_multihead,
    scaled_dot_product_attention,
    to_torch_attn_mask,
    to_torch_multihead,
)

# Stated on docs/pytorch.md: absolute and relative tolerance against a float64 computation.
TOLERANCES = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 3e-2}
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


def seeded_module(d_in=8, d_out=8, num_heads=2, **kwargs):
    torch.manual_seed(0)
    return MultiHeadAttention(d_in, d_out, num_heads, **kwargs).eval()


def random_inputs(*shape, seed=1, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("batch", [(), (1,), (3,), (2, 2)])
@pytest.mark.parametrize(("num_heads", "causal", "qkv_bias"), [(1, False, False), (2, True, False), (4, True, True)])
def test_equals_a_stack_of_single_head_modules(batch, num_heads, causal, qkv_bias):
    attention = seeded_module(5, 8, num_heads, causal=causal, qkv_bias=qkv_bias)
    inputs = random_inputs(*batch, 7, 5)
    outputs = []
    for h in range(num_heads):
        rows = slice(h * attention.head_dim, (h + 1) * attention.head_dim)
        head = SelfAttention(5, attention.head_dim, qkv_bias=qkv_bias)
        state = {f"{name}.weight": getattr(attention, name).weight[rows] for name in ("w_query", "w_key", "w_value")}
        if qkv_bias:
            state |= {f"{name}.bias": getattr(attention, name).bias[rows] for name in ("w_query", "w_key", "w_value")}
        head.load_state_dict(state)
        outputs.append(head(inputs, mask=causal_mask(7) if causal else None))
    with torch.no_grad():
        expected = attention.out_proj(torch.cat(outputs, dim=-1))
        torch.testing.assert_close(attention(inputs), expected, atol=1e-6, rtol=1e-5)
        assert attention(inputs).shape == (*batch, 7, 8)


def test_scale_is_one_over_sqrt_head_dim():
    attention = seeded_module(8, 8, 4)  # head_dim 2, not d_out 8
    inputs = random_inputs(3, 8)
    steps = attention.steps(inputs)
    raw = steps.queries @ steps.keys.transpose(-2, -1)
    torch.testing.assert_close(steps.scores, raw / 2**0.5)


def test_steps_match_forward_and_have_the_documented_shapes():
    attention = seeded_module(6, 8, 2)
    inputs = random_inputs(3, 5, 6)
    with torch.no_grad():
        steps = attention.steps(inputs)
        # forward runs the fused kernel, steps the explicit form: equal up to rounding
        torch.testing.assert_close(steps.output, attention(inputs), atol=1e-6, rtol=1e-5)
    assert steps.queries.shape == steps.keys.shape == steps.values.shape == (3, 2, 5, 4)
    assert steps.scores.shape == steps.weights.shape == (3, 2, 5, 5)
    assert steps.context.shape == (3, 2, 5, 4)
    assert steps.concatenated.shape == steps.output.shape == (3, 5, 8)
    torch.testing.assert_close(steps.weights.sum(-1), torch.ones(3, 2, 5))


def torch_forward(torch_module, inputs, mask=None):
    attn_mask = None if mask is None else to_torch_attn_mask(mask)
    output, _ = torch_module(inputs, inputs, inputs, attn_mask=attn_mask, need_weights=False)
    return output


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("batch", "seq_len", "num_heads", "mask_kind", "qkv_bias"), [
    (1, 1, 1, None, False),
    (2, 5, 2, "causal", False),
    (3, 9, 4, "causal", True),
    (4, 6, 2, "random", True),
    (2, 16, 8, None, False),
])  # fmt: skip
def test_equals_torch_multihead_attention(device, dtype, batch, seq_len, num_heads, mask_kind, qkv_bias):
    reference = seeded_module(16, 16, num_heads, causal=mask_kind == "causal", qkv_bias=qkv_bias)
    inputs64 = random_inputs(batch, seq_len, 16, dtype=torch.float64)
    mask = None
    if mask_kind == "random":
        mask = torch.rand(seq_len, seq_len, generator=torch.Generator().manual_seed(5)) > 0.3
        mask |= torch.eye(seq_len, dtype=torch.bool)  # no query is left without keys
    torch_mask = causal_mask(seq_len) if mask_kind == "causal" else mask
    with torch.no_grad():
        expected = torch_forward(to_torch_multihead(reference).double(), inputs64, torch_mask)
        ours = reference.to(device=device, dtype=dtype)
        theirs = to_torch_multihead(ours)
        inputs = inputs64.to(device=device, dtype=dtype)
        our_output = ours(inputs, mask=None if mask is None else mask.to(device))
        their_output = torch_forward(theirs, inputs, None if torch_mask is None else torch_mask.to(device))
    tolerance = TOLERANCES[dtype]
    assert our_output.dtype == dtype and our_output.device.type == device
    torch.testing.assert_close(our_output.double().cpu(), expected, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(their_output.double().cpu(), expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("mask_kind", [None, "causal", "bool", "float"])
def test_functional_equals_torch_sdpa(device, dtype, mask_kind):
    generator = torch.Generator().manual_seed(3)
    queries, keys, values = (torch.randn(2, 3, 7, 8, generator=generator, dtype=torch.float64) for _ in range(3))
    mask, is_causal = None, mask_kind == "causal"
    if mask_kind == "bool":
        mask = (torch.rand(7, 7, generator=generator) > 0.5) | torch.eye(7, dtype=torch.bool)
    elif mask_kind == "float":
        mask = torch.randn(2, 1, 7, 7, generator=generator, dtype=torch.float64)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, is_causal=is_causal)
    cast = [t.to(device=device, dtype=dtype) for t in (queries, keys, values)]
    cast_mask = None if mask is None else mask.to(device=device, dtype=dtype if mask.is_floating_point() else torch.bool)
    ours = scaled_dot_product_attention(*cast, mask=cast_mask, is_causal=is_causal)
    theirs = F.scaled_dot_product_attention(*cast, attn_mask=cast_mask, is_causal=is_causal)
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(ours.double().cpu(), expected, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(theirs.double().cpu(), expected, atol=tolerance, rtol=tolerance)


def test_round_trip_through_torch_keeps_every_weight():
    ours = seeded_module(8, 8, 2, qkv_bias=True)
    back = from_torch_multihead(to_torch_multihead(ours))
    for (name, ours_parameter), (_, back_parameter) in zip(ours.named_parameters(), back.named_parameters(), strict=True):
        assert torch.equal(ours_parameter, back_parameter), name


def test_from_torch_without_bias_and_in_training_mode():
    torch.manual_seed(4)
    torch_module = torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True, dropout=0.1)
    converted = from_torch_multihead(torch_module)
    assert converted.training and converted.dropout == 0.1 and converted.w_query.bias is None
    inputs = random_inputs(2, 5, 8)
    torch_module.eval(), converted.eval()
    with torch.no_grad():
        torch.testing.assert_close(converted(inputs), torch_forward(torch_module, inputs), atol=1e-6, rtol=1e-5)


def test_passing_our_mask_unconverted_to_torch_attends_to_the_future():
    ours = seeded_module(8, 8, 2, causal=True)
    theirs = to_torch_multihead(ours)
    inputs = random_inputs(1, 6, 8)
    with torch.no_grad():
        wrong, _ = theirs(inputs, inputs, inputs, attn_mask=causal_mask(6), need_weights=False)
        changed = inputs.clone()
        changed[0, -1] += 5
        wrong_changed, _ = theirs(changed, changed, changed, attn_mask=causal_mask(6), need_weights=False)
        right, right_changed = ours(inputs), ours(changed)
    assert not torch.allclose(wrong[0, :-1], wrong_changed[0, :-1])  # the future leaked
    assert torch.equal(right[0, :-1], right_changed[0, :-1])


def test_dropout_only_in_training():
    attention = seeded_module(8, 8, 2, dropout=0.5)
    inputs = random_inputs(2, 5, 8)
    with torch.no_grad():
        evaluation = attention.eval()(inputs)
        training = attention.train()(inputs)
    assert not torch.allclose(evaluation, training)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((8, 6, 4), ValueError, r"num_heads=4 must divide d_out=6: .* \(try num_heads in \[1, 2, 3, 6\]\)"),
        ((8, 8, 0), ValueError, "num_heads must be at least 1, got 0"),
        ((8, 8, 2.0), TypeError, "num_heads must be an int, got float"),
    ],
)
def test_bad_sizes_are_refused(arguments, error, message):
    with pytest.raises(error, match=message):
        MultiHeadAttention(*arguments)


@pytest.mark.parametrize("dropout", [-0.5, 1.0, 2])
def test_dropout_outside_zero_one_is_refused(dropout):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MultiHeadAttention(8, 8, 2, dropout=dropout)


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        (torch.ones(5, 5, dtype=torch.bool), ValueError, r"mask of shape \(5, 5\) cannot broadcast to the scores' shape \(2, 2, 6, 6\)"),
        (torch.ones(2, 6, 6, dtype=torch.bool), ValueError, r"must have a head dimension too: expected shape \(..., 1 or 2, 6, 6\)"),
        (torch.ones(6, 6, dtype=torch.int64), TypeError, "mask must be a boolean tensor"),
    ],
)
def test_bad_masks_are_refused(mask, error, message):
    with pytest.raises(error, match=message):
        seeded_module(8, 8, 2)(random_inputs(2, 6, 8), mask=mask)


def test_a_per_sequence_mask_with_a_head_dimension_works():
    attention = seeded_module(8, 8, 2)
    inputs = random_inputs(2, 6, 8)
    mask = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    mask[1, :, :, 3:] = False  # second sequence: last three tokens are padding
    with torch.no_grad():
        output = attention(inputs, mask=mask)
        torch.testing.assert_close(output[0], attention(inputs[0]))
        torch.testing.assert_close(output[1], attention(inputs[1], mask=mask[1]))


def test_interop_refuses_what_torch_cannot_represent():
    with pytest.raises(ValueError, match="needs d_in == d_out .* got d_in=4, d_out=8"):
        to_torch_multihead(MultiHeadAttention(4, 8, 2))
    with pytest.raises(TypeError, match="module must be a MultiHeadAttention, got Linear"):
        to_torch_multihead(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="kdim == vdim == embed_dim"):
        from_torch_multihead(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(TypeError, match="mask must be boolean or floating"):
        to_torch_attn_mask(torch.ones(2, 2, dtype=torch.int64))
