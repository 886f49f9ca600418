"""MultiHeadAttention: against a stack of single heads, torch.nn.MultiheadAttention and torch's function."""

import warnings
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from selfattention import (
    KVCache,
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    checks,
    from_torch_multihead,
    scaled_dot_product_attention,
    to_torch_attn_mask,
    to_torch_multihead,
)
from tests.conftest import DEVICES, allowed_keys, assert_close, randn


def seeded_module(d_in=8, d_out=8, num_heads=2, **kwargs):
    torch.manual_seed(0)
    return MultiHeadAttention(d_in, d_out, num_heads, **kwargs).eval()


# One head, two heads causal, four heads causal with biases; no batch, one and two batch dimensions.
@pytest.mark.parametrize(
    ("batch", "num_heads", "causal", "qkv_bias"),
    [((), 1, False, False), ((3,), 2, True, False), ((2, 2), 4, True, True)],
)
def test_equals_a_stack_of_single_head_modules(batch, num_heads, causal, qkv_bias):
    attention = seeded_module(5, 8, num_heads, causal=causal, qkv_bias=qkv_bias)
    inputs = randn(*batch, 7, 5, seed=1)
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
        assert_close(attention(inputs), expected)
        assert attention(inputs).shape == (*batch, 7, 8)


def test_scale_is_one_over_sqrt_head_dim():
    attention = seeded_module(8, 8, 4)  # head_dim 2, not d_out 8
    inputs = randn(3, 8)
    steps = attention.steps(inputs)
    raw = steps.queries @ steps.keys.transpose(-2, -1)
    assert_close(steps.scores, raw / 2**0.5)


def test_steps_match_forward_and_have_the_documented_shapes():
    attention = seeded_module(6, 8, 2)
    inputs = randn(3, 5, 6)
    with torch.no_grad():
        steps = attention.steps(inputs)
        # forward runs the fused kernel, steps the explicit form: equal up to rounding
        assert_close(steps.output, attention(inputs))
    assert steps.queries.shape == steps.keys.shape == steps.values.shape == (3, 2, 5, 4)
    assert steps.scores.shape == steps.weights.shape == (3, 2, 5, 5)
    assert steps.context.shape == (3, 2, 5, 4)
    assert steps.concatenated.shape == steps.output.shape == (3, 5, 8)
    assert_close(steps.weights.sum(-1), torch.ones(3, 2, 5))


def torch_forward(torch_module, inputs, mask=None):
    attn_mask = None if mask is None else to_torch_attn_mask(mask)
    output, _ = torch_module(inputs, inputs, inputs, attn_mask=attn_mask, need_weights=False)
    return output


# Five shapes, each with one kind of mask (none, causal, causal with biases, random, none with eight heads);
# each dtype at least once; the single token with a single head.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "batch", "seq_len", "num_heads", "mask_kind", "qkv_bias"),
    [
        (torch.float32, 1, 1, 1, None, False),
        (torch.bfloat16, 2, 5, 2, "causal", False),
        (torch.float64, 3, 9, 4, "causal", True),
        (torch.bfloat16, 4, 6, 2, "random", True),
        (torch.float32, 2, 16, 8, None, False),
    ],
)
def test_equals_torch_multihead_attention(device, dtype, batch, seq_len, num_heads, mask_kind, qkv_bias):
    reference = seeded_module(16, 16, num_heads, causal=mask_kind == "causal", qkv_bias=qkv_bias)
    inputs64 = randn(batch, seq_len, 16, seed=1, dtype=torch.float64)
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
    assert our_output.dtype == dtype and our_output.device.type == device
    assert_close(our_output, expected, dtype)
    assert_close(their_output, expected, dtype)


# Each kind of mask once, each dtype at least once.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "mask_kind"),
    [(torch.float64, None), (torch.bfloat16, "causal"), (torch.float32, "bool"), (torch.bfloat16, "float")],
)
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
    cast_mask = (
        None if mask is None else mask.to(device=device, dtype=dtype if mask.is_floating_point() else torch.bool)
    )
    ours = scaled_dot_product_attention(*cast, attn_mask=cast_mask, is_causal=is_causal)
    theirs = F.scaled_dot_product_attention(*cast, attn_mask=cast_mask, is_causal=is_causal)
    assert_close(ours, expected, dtype)
    assert_close(theirs, expected, dtype)


def test_round_trip_through_torch_keeps_every_weight():
    ours = seeded_module(8, 8, 2, qkv_bias=True)
    back = from_torch_multihead(to_torch_multihead(ours))
    for (name, ours_parameter), (_, back_parameter) in zip(
        ours.named_parameters(), back.named_parameters(), strict=True
    ):
        assert torch.equal(ours_parameter, back_parameter), name


def test_from_torch_without_bias_and_in_training_mode():
    torch.manual_seed(4)
    torch_module = torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True, dropout=0.1)
    converted = from_torch_multihead(torch_module)
    assert converted.training and converted.dropout == 0.1 and converted.w_query.bias is None
    inputs = randn(2, 5, 8)
    torch_module.eval(), converted.eval()
    with torch.no_grad():
        assert_close(converted(inputs), torch_forward(torch_module, inputs))


def test_passing_our_mask_unconverted_to_torch_attends_to_the_future():
    ours = seeded_module(8, 8, 2, causal=True)
    theirs = to_torch_multihead(ours)
    inputs = randn(1, 6, 8)
    with torch.no_grad():
        wrong, _ = theirs(inputs, inputs, inputs, attn_mask=causal_mask(6), need_weights=False)
        changed = inputs.clone()
        changed[0, -1] += 5
        wrong_changed, _ = theirs(changed, changed, changed, attn_mask=causal_mask(6), need_weights=False)
        right, right_changed = ours(inputs), ours(changed)
    assert not torch.allclose(wrong[0, :-1], wrong_changed[0, :-1])  # the future leaked
    assert torch.equal(right[0, :-1], right_changed[0, :-1])


def test_dropout_is_applied_in_training_only_and_drawn_from_the_global_generator():
    attention = seeded_module(8, 8, 2, dropout=0.5)
    inputs = randn(2, 5, 8)
    with torch.no_grad():
        evaluation = attention.eval()(inputs)
        torch.manual_seed(1)
        training = attention.train()(inputs)
        torch.manual_seed(1)
        again = attention(inputs)
    assert not torch.allclose(evaluation, training)
    assert torch.equal(training, again)  # seeded by torch's global generator


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
        (
            torch.ones(5, 5, dtype=torch.bool),
            ValueError,
            r"mask of shape \(5, 5\) cannot broadcast to the scores' shape \(2, 2, 6, 6\)",
        ),
        (
            torch.ones(2, 6, 6, dtype=torch.bool),
            ValueError,
            r"must have a head dimension too: expected shape \(..., 1 or 2, 6, 6\)",
        ),
        (torch.ones(6, 6, dtype=torch.int64), TypeError, "mask must be a boolean tensor"),
    ],
)
def test_bad_masks_are_refused(mask, error, message):
    with pytest.raises(error, match=message):
        seeded_module(8, 8, 2)(randn(2, 6, 8), mask=mask)


def test_a_per_sequence_mask_with_a_head_dimension_works():
    attention = seeded_module(8, 8, 2)
    inputs = randn(2, 6, 8)
    mask = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    mask[1, :, :, 3:] = False  # second sequence: last three tokens are padding
    with torch.no_grad():
        output = attention(inputs, mask=mask)
        assert_close(output[0], attention(inputs[0]))
        assert_close(output[1], attention(inputs[1], mask=mask[1]))


def test_interop_refuses_what_torch_cannot_represent():
    with pytest.raises(ValueError, match=r"needs d_in == d_out .* got d_in=4, d_out=8"):
        to_torch_multihead(MultiHeadAttention(4, 8, 2))
    with pytest.raises(TypeError, match="module must be a MultiHeadAttention, got Linear"):
        to_torch_multihead(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="kdim == vdim == embed_dim"):
        from_torch_multihead(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(TypeError, match="mask must be boolean or floating"):
        to_torch_attn_mask(torch.ones(2, 2, dtype=torch.int64))


def test_from_torch_multihead_refuses_another_type():
    with pytest.raises(TypeError, match=r"torch_module must be an nn.MultiheadAttention, got Linear"):
        from_torch_multihead(torch.nn.Linear(4, 4))


@pytest.mark.parametrize("option", ["add_bias_kv", "add_zero_attn"])
def test_from_torch_multihead_refuses_what_has_no_counterpart(option):
    with pytest.raises(ValueError, match="add_bias_kv and add_zero_attn have no counterpart here"):
        from_torch_multihead(torch.nn.MultiheadAttention(8, 2, batch_first=True, **{option: True}))


def explicit_multihead(module, inputs, mask):
    """Multi-head attention written out: split heads, torch's attention on each, merged heads, out_proj."""
    if module.causal:
        mask = causal_mask(inputs.shape[-2]) if mask is None else causal_mask(inputs.shape[-2]) & mask
    projections = (module.w_query, module.w_key, module.w_value)
    queries, keys, values = (module.split_heads(linear(inputs)) for linear in projections)
    context = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    return module.out_proj(module.merge_heads(context))


# Each kind of mask once without and with causal (a causal module takes boolean masks only); batches spread.
@pytest.mark.parametrize(
    ("batch", "causal", "mask_kind"),
    [
        ((), False, None),
        ((3,), False, "bool"),
        ((2, 2), False, "float"),
        ((3,), False, "empty row"),
        ((2, 2), True, None),
        ((), True, "bool"),
        ((3,), True, "empty row"),
    ],
)
def test_forward_equals_steps_and_the_explicit_form(batch, causal, mask_kind):
    torch.manual_seed(0)
    module = MultiHeadAttention(6, 8, 2, causal=causal, qkv_bias=True).eval()
    inputs = randn(*batch, 5, 6, seed=1)
    mask = None
    if mask_kind is not None:
        mask = allowed_keys(5, empty_row=mask_kind == "empty row")
        if batch:
            mask = mask.expand(*batch, 1, 5, 5)
        if mask_kind == "float":
            mask = torch.zeros(mask.shape).masked_fill(~mask, float("-inf"))
    with torch.no_grad():
        output = module(inputs, mask=mask)
        steps = module.steps(inputs, mask=mask)
        explicit = explicit_multihead(module, inputs, mask)
    assert output.shape == (*batch, 5, 8)
    assert_close(output, steps.output)
    assert_close(output, explicit)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fused_kernel_gives_zero_output_and_finite_gradients_for_a_fully_masked_row(kind):
    """Relied on by every module's forward: torch's CPU kernel returns 0 for a row that may
    attend to nothing, and no NaN gradient."""
    torch.manual_seed(0)
    module = MultiHeadAttention(4, 4, 2)
    allowed = allowed_keys(5, empty_row=True)
    mask = allowed if kind == "bool" else torch.zeros(5, 5).masked_fill(~allowed, float("-inf"))
    inputs = randn(2, 5, 4, seed=1).requires_grad_()
    output = module(inputs, mask=mask)
    output.sum().backward()
    assert torch.isfinite(output).all() and torch.isfinite(inputs.grad).all()
    for parameter in module.parameters():
        assert torch.isfinite(parameter.grad).all()
    queries, keys, values = (randn(2, 5, 4, seed=s).requires_grad_() for s in (1, 2, 3))
    context = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    context.sum().backward()
    assert torch.equal(context[:, 1], torch.zeros(2, 4))
    assert torch.equal(queries.grad[:, 1], torch.zeros(2, 4))
    assert all(torch.isfinite(t.grad).all() for t in (queries, keys, values))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_module_gives_finite_gradients_for_a_fully_masked_row(kind):
    module = MultiHeadAttention(3, 3, 1)
    inputs = randn(2, 4, 3).requires_grad_()
    allowed = torch.ones(4, 4, dtype=torch.bool)
    allowed[0] = False
    mask = allowed if kind == "bool" else torch.zeros(4, 4).masked_fill(~allowed, float("-inf"))
    output = module(inputs, mask=mask)
    output.sum().backward()
    assert torch.equal(output[:, 0], module.out_proj.bias.expand(2, 3))  # the attention output of query 0 is 0
    assert torch.isfinite(inputs.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in module.parameters())


@pytest.mark.parametrize(
    ("causal", "mask"),
    [(False, None), (True, None), (True, torch.ones(3, 3, dtype=torch.bool))],
    ids=["plain", "causal", "causal with a mask"],
)
def test_forward_calls_the_fused_kernel_once(causal, mask):
    with mock.patch.object(F, "scaled_dot_product_attention", wraps=F.scaled_dot_product_attention) as fused:
        MultiHeadAttention(4, 4, 2, causal=causal)(randn(2, 3, 4), mask=mask)
    assert fused.call_count == 1
    assert fused.call_args.kwargs.get("is_causal", False) == (causal and mask is None)


@pytest.mark.parametrize("path", ["forward", "forward with a mask", "steps"])
def test_causal_a_future_token_cannot_change_earlier_outputs_on_any_path(path):
    torch.manual_seed(0)
    module = MultiHeadAttention(4, 4, 2, causal=True)
    mask = torch.ones(6, 6, dtype=torch.bool) if path == "forward with a mask" else None
    call = (lambda x: module.steps(x).output) if path == "steps" else (lambda x: module(x, mask=mask))
    inputs = randn(2, 6, 4)
    changed = inputs.clone()
    changed[:, 4] += 10.0
    with torch.no_grad():
        before, after = call(inputs), call(changed)
    torch.testing.assert_close(after[:, :4], before[:, :4], atol=0, rtol=0)
    assert not torch.allclose(after[:, 4:], before[:, 4:])


def test_a_float64_module_refuses_float32_inputs_with_a_clear_error():
    module = MultiHeadAttention(4, 4, 2).double()
    message = "inputs and the module's weights must have one dtype, got torch.float32 and torch.float64"
    with pytest.raises(TypeError, match=message):
        module(randn(2, 3, 4))
    assert module(randn(2, 3, 4, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(RuntimeError):  # what torch says instead: a matmul error
        torch.nn.Linear(4, 4).double()(randn(2, 3, 4))


def test_from_torch_says_that_the_result_is_batch_first():
    torch_module = torch.nn.MultiheadAttention(4, 2).eval()  # batch_first=False: (seq_len, batch, embed_dim)
    with pytest.warns(UserWarning, match=r"batch_first=False .* transpose yours with inputs.transpose\(0, 1\)"):
        converted = from_torch_multihead(torch_module).eval()
    inputs = randn(3, 2, 4)  # (seq_len, batch, embed_dim)
    with torch.no_grad():
        expected, _ = torch_module(inputs, inputs, inputs, need_weights=False)
        assert_close(converted(inputs.transpose(0, 1)).transpose(0, 1), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_torch_multihead(torch.nn.MultiheadAttention(4, 2, batch_first=True))


@pytest.mark.parametrize("mask", [torch.tensor([True, True, False]), torch.tensor(True)], ids=["(key_len,)", "0-D"])
def test_a_mask_of_fewer_than_two_dimensions_broadcasts_as_in_the_causal_path(mask):
    # It used to pass the checks and fail inside torch with an IndexError without causal=True.
    inputs = randn(2, 3, 4, seed=5)
    for causal in (False, True):
        module = seeded_module(4, 4, 2, causal=causal).eval()
        with torch.no_grad():
            expected = module(inputs, mask=mask.expand(3, 3))
            assert_close(module(inputs, mask=mask), expected)
            assert_close(module.steps(inputs, mask=mask).output, expected)


def test_qkv_bias_and_scale_are_checked_and_scale_is_used():
    with pytest.raises(TypeError, match="qkv_bias must be True or False, got str 'no'"):
        MultiHeadAttention(4, 4, 2, qkv_bias="no")
    with pytest.raises(TypeError, match="qkv_bias must be True or False, got str 'no'"):
        SelfAttention(4, 4, qkv_bias="no")
    module = seeded_module(4, 4, 2, scale=0.1).eval()
    inputs = randn(2, 3, 4, seed=6)
    queries, keys, values = module.project(inputs)
    expected = module.out_proj(module.merge_heads(F.scaled_dot_product_attention(queries, keys, values, scale=0.1)))
    with torch.no_grad():
        assert_close(module(inputs), expected)
        assert_close(module.steps(inputs).output, expected)
    assert "scale=0.1" in repr(module)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"d_in": "4"}, TypeError, r"d_in must be an int, got str$"),
        ({"d_out": 0}, ValueError, r"d_out must be at least 1, got 0$"),
        (
            {"d_out": 6, "num_heads": 4},
            ValueError,
            r"num_heads=4 must divide d_out=6: .* \(try num_heads in \[1, 2, 3, 6\]\)$",
        ),
        ({"num_kv_heads": 0}, ValueError, r"num_kv_heads must be at least 1, got 0$"),
        (
            {"num_kv_heads": 3, "num_heads": 4, "d_out": 8},
            ValueError,
            r"num_kv_heads=3 must divide num_heads=4: .* \(try num_kv_heads in \[1, 2, 4\]\)$",
        ),
        ({"rope": "yes"}, TypeError, r"rope must be True or False, got str 'yes'$"),
    ],
)
def test_the_constructor_names_each_argument(arguments, error, message):
    with pytest.raises(error, match=f"^{message}"):
        MultiHeadAttention(**{"d_in": 4, "d_out": 4, "num_heads": 2, **arguments})


def test_the_cross_attention_and_cache_refusals_say_why():
    inputs, context = randn(1, 3, 4, seed=20), randn(1, 5, 4, seed=21)
    module = seeded_module(4, 4, 2)
    pair = module.project_context(context)
    with pytest.raises(
        ValueError,
        match=(
            r"^context and context_kv cannot be used together: context_kv holds the keys and values "
            r"already projected from a context \(project_context\); pass one of them$"
        ),
    ):
        module(inputs, context=context, context_kv=pair)
    with pytest.raises(
        ValueError,
        match=(
            r"^cache needs causal=True: without the causal mask an earlier token would attend to later "
            r"ones in a full pass, which a cache of the past cannot reproduce$"
        ),
    ):
        module(inputs, cache=KVCache())
    with pytest.raises(
        ValueError,
        match=(
            r"^context \(cross-attention\) cannot be used with causal=True: "
            r"a causal mask needs queries and keys from one sequence$"
        ),
    ):
        seeded_module(4, 4, 2, causal=True)(inputs, context=context)
    with pytest.raises(
        ValueError,
        match=(
            r"^context \(cross-attention\) cannot be used with rope=True: "
            r"RoPE measures offsets between positions of one sequence$"
        ),
    ):
        seeded_module(4, 4, 2, rope=True)(inputs, context=context)
    with pytest.raises(TypeError, match=r"^context must have a floating-point dtype"):
        module(inputs, context=context.long())
    with pytest.raises(TypeError, match=r"^context and inputs must have one dtype"):
        module(inputs, context=context.double())
    with pytest.raises(
        ValueError, match=r"^context_kv\[1\] \(values\) must have shape \(1, num_kv_heads=2, ctx_len, head_dim=2\)"
    ):
        module(inputs, context_kv=(pair[0], pair[1][..., :1]))
    with pytest.raises(TypeError, match=r"^a floating mask must have the dtype of the scores, torch\.float32"):
        module(inputs, mask=torch.zeros(3, 3, dtype=torch.float64))
    with torch.no_grad():
        module.w_key.weight[0, 0] = float("nan")
    with checks(), pytest.raises(ValueError, match=r"^w_key\.weight contains NaN"):
        module.project_context(context)


def test_context_kv_without_batch_and_steps_with_a_context_mask():
    module = seeded_module(4, 4, 2)
    inputs, context = randn(3, 4, seed=22), randn(5, 4, seed=23)  # one sequence, no batch dimension
    keys, values = module.project_context(context)  # (num_kv_heads, ctx_len, head_dim) = (2, 5, 2)
    with torch.no_grad():
        assert_close(module(inputs, context_kv=(keys, values)), module(inputs, context=context))
        mask = torch.tensor([True, True, False, True, True])  # over the 5 context positions
        expected = module(inputs, mask=mask, context=context)
        assert_close(module.steps(inputs, mask=mask, context=context).output, expected)
        assert_close(module.steps(inputs, mask=mask, context_kv=(keys, values)).output, expected)


def test_a_mask_with_one_new_token_and_a_cache_is_used():
    decoder = seeded_module(4, 4, 2, causal=True)
    prompt, token = randn(1, 3, 4, seed=24), randn(1, 1, 4, seed=25)
    with torch.no_grad():
        outputs = []
        for mask in (None, torch.tensor([True, False, True, True])):  # key 1 blocked for the new token
            cache = KVCache()
            decoder(prompt, cache=cache)
            outputs.append(decoder(token, mask=mask, cache=cache))
    assert not torch.allclose(*outputs)


def test_the_description_of_the_module():
    assert MultiHeadAttention(3, 8, 4, num_kv_heads=2).extra_repr() == (
        "d_in=3, d_out=8, num_heads=4, num_kv_heads=2, head_dim=2, dropout=0.0, causal=False, scale=1/sqrt(2)=0.7071"
    )
    assert MultiHeadAttention(4, 8, 2, rope=True, rope_base=500000.0, scale=0.25, causal=True).extra_repr() == (
        "d_in=4, d_out=8, num_heads=2, head_dim=4, dropout=0.0, causal=True, rope=True, rope_base=500000, scale=0.25"
    )
    assert MultiHeadAttention(4, 8, 2, rope=True).extra_repr() == (
        "d_in=4, d_out=8, num_heads=2, head_dim=4, dropout=0.0, causal=False, rope=True, scale=1/sqrt(4)=0.5"
    )


def test_context_kv_of_the_wrong_shape_names_every_batch_dimension():
    module = seeded_module(4, 4, 2)
    inputs, context = randn(2, 3, 5, 4, seed=26), randn(2, 3, 6, 4, seed=27)
    keys, values = module.project_context(context)
    with pytest.raises(ValueError, match=r"^context_kv\[0\] \(keys\) must have shape \(2, 3, num_kv_heads=2, ctx_len"):
        module(inputs, context_kv=(keys[..., :1], values))
