"""Cross-attention: queries from one sequence, keys and values from another."""

from __future__ import annotations

import pytest
import torch

from selfattention import KVCache, MultiHeadAttention, checks, from_torch_multihead, to_torch_multihead
from tests.conftest import DEVICES, CountSyncs, assert_close, randn
from tests.references import reference_attention


# Multi-head with a longer context than the queries, grouped-query with a shorter one, multi-query with a
# context of one token; each dtype once.
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "num_kv_heads", "ctx_len"), [(torch.float64, 4, 9), (torch.float32, 2, 3), (torch.float64, 1, 1)]
)
def test_equals_the_reference(device, dtype, num_kv_heads, ctx_len):
    torch.manual_seed(0)
    attention = MultiHeadAttention(6, 16, 4, num_kv_heads=num_kv_heads, qkv_bias=True).to(device, dtype).eval()
    inputs = randn(2, 5, 6, seed=1, dtype=dtype, device=device)
    context = randn(2, ctx_len, 6, seed=2, dtype=dtype, device=device)
    with torch.no_grad():
        result = attention(inputs, context=context)
        steps = attention.steps(inputs, context=context)
    assert result.shape == (2, 5, 16) and steps.weights.shape == (2, 4, 5, ctx_len)
    expected = reference_attention(attention.cpu(), inputs.cpu(), context=context.cpu())
    assert_close(result, expected, dtype)
    assert_close(steps.output, expected, dtype)


# Each dtype once, with and without biases.
@pytest.mark.parametrize(("dtype", "qkv_bias"), [(torch.float64, False), (torch.float32, True)])
def test_equals_torch_multihead_with_distinct_query_and_key_value_inputs(dtype, qkv_bias):
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 8, 2, qkv_bias=qkv_bias).to(dtype).eval()
    theirs = to_torch_multihead(ours).eval()
    inputs, context = randn(3, 4, 8, seed=1, dtype=dtype), randn(3, 11, 8, seed=2, dtype=dtype)
    padding = torch.ones(3, 1, 4, 11, dtype=torch.bool)
    padding[1, ..., 7:] = False  # sequence 1's context has 7 real tokens
    with torch.no_grad():
        expected, _ = theirs(inputs, context, context, need_weights=False)
        expected_masked, _ = theirs(inputs, context, context, need_weights=False, key_padding_mask=~padding[:, 0, 0])
        back = from_torch_multihead(theirs).eval()
        assert_close(ours(inputs, context=context), expected)
        assert_close(back(inputs, context=context), expected)
        assert_close(ours(inputs, padding, context=context), expected_masked)


def test_outputs_follow_the_context_not_the_inputs_keys():
    """Replacing the context changes every output; the queries' own sequence is never attended."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).double().eval()
    inputs, context = randn(3, 4, seed=1, dtype=torch.float64), randn(6, 4, seed=2, dtype=torch.float64)
    with torch.no_grad():
        one = attention(inputs, context=context)
        permuted = attention(inputs, context=context[[5, 3, 1, 0, 2, 4]])  # keys and values together
        other = attention(inputs, context=context + 1.0)
    assert_close(permuted, one)  # a set, order-free
    assert not torch.isclose(other, one).any()


def test_value_checks_scan_the_context_only_when_switched_on():
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).eval()
    inputs, context = torch.ones(3, 4), torch.ones(5, 4)
    context[2, 1] = float("nan")
    with torch.no_grad():
        assert torch.isnan(attention(inputs, context=context)).all()  # default: NaN in, NaN out, as in torch
        with (
            checks(),
            pytest.raises(ValueError, match=r"context contains NaN or infinite values \(the first at index \(2, 1\)"),
        ):
            attention(inputs, context=context)


# The context projected once: project_context, then forward(..., context_kv=...).


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("dtype", "num_kv_heads"), [(torch.float64, 4), (torch.float32, 2), (torch.float64, 1)])
def test_projected_context_gives_the_output_of_the_context(device, dtype, num_kv_heads):
    """forward and steps with context_kv = project_context(context) equal the same calls with context, and the
    independent reference; project_context returns keys and values of shape (..., num_kv_heads, ctx_len, head_dim)."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(6, 16, 4, num_kv_heads=num_kv_heads, qkv_bias=True).to(device, dtype).eval()
    inputs = randn(2, 5, 6, seed=1, dtype=dtype, device=device)
    context = randn(2, 7, 6, seed=2, dtype=dtype, device=device)
    padding = torch.ones(2, 1, 5, 7, dtype=torch.bool, device=device)
    padding[1, ..., 4:] = False  # the second context has 4 real tokens
    with torch.no_grad():
        keys, values = attention.project_context(context)
        assert keys.shape == values.shape == (2, num_kv_heads, 7, 4)
        projected = attention(inputs, context_kv=(keys, values))
        assert torch.equal(projected, attention(inputs, context=context))
        assert torch.equal(
            attention(inputs, padding, context_kv=(keys, values)), attention(inputs, padding, context=context)
        )
        steps = attention.steps(inputs, context_kv=[keys, values])  # a list does as well as a tuple
        assert torch.equal(steps.weights, attention.steps(inputs, context=context).weights)
    expected = reference_attention(attention.cpu(), inputs.cpu(), context=context.cpu())
    assert_close(projected, expected, dtype)
    assert_close(steps.output, expected, dtype)


def test_a_decoder_projects_the_context_once_and_reuses_it_at_every_step():
    """Decoding one query at a time over one encoder output: with context_kv the key and value projections run
    once (counted with forward hooks), with context once per step; the outputs are the rows of one call."""
    torch.manual_seed(0)
    cross = MultiHeadAttention(8, 8, 2, num_kv_heads=1).double().eval()
    decoder_states, encoder_states = (
        randn(2, 6, 8, seed=1, dtype=torch.float64),
        randn(2, 9, 8, seed=2, dtype=torch.float64),
    )
    calls = {"w_query": 0, "w_key": 0, "w_value": 0}
    for name in calls:
        getattr(cross, name).register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    with torch.no_grad():
        context_kv = cross.project_context(encoder_states)
        steps = [cross(decoder_states[:, i : i + 1], context_kv=context_kv) for i in range(6)]
        assert calls == {"w_query": 6, "w_key": 1, "w_value": 1}
        for i in range(6):
            cross(decoder_states[:, i : i + 1], context=encoder_states)
        assert calls == {"w_query": 12, "w_key": 7, "w_value": 7}
        assert_close(torch.cat(steps, dim=1), cross(decoder_states, context=encoder_states))


def test_gradients_reach_the_projections_through_the_projected_context():
    """Training with context_kv: the projections get the gradients that context= gives them."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2, qkv_bias=True).double()
    inputs, context = randn(2, 3, 4, seed=1, dtype=torch.float64), randn(2, 5, 4, seed=2, dtype=torch.float64)
    gradients = []
    for kwargs in ({"context": context}, {"context_kv": attention.project_context(context)}):
        attention.zero_grad()
        attention(inputs, **kwargs).square().sum().backward()
        gradients.append({name: parameter.grad.clone() for name, parameter in attention.named_parameters()})
    for name, gradient in gradients[0].items():
        assert_close(gradients[1][name], gradient)
        assert gradient.abs().sum() > 0, name


def test_projected_context_reads_no_value_and_compiles_without_graph_break():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 8, 2, num_kv_heads=1).eval()
    inputs, context = randn(2, 5, 8, seed=1), randn(2, 3, 8, seed=2)
    with torch.no_grad(), CountSyncs() as counter:
        context_kv = attention.project_context(context)
        expected = attention(inputs, context_kv=context_kv)
    assert counter.syncs == 0
    compiled = torch.compile(attention, fullgraph=True, backend="eager", dynamic=False)
    with torch.no_grad():
        assert_close(compiled(inputs, context_kv=context_kv), expected)


def _projected(module: MultiHeadAttention, *shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return module.project_context(torch.ones(*shape, module.d_in))


with torch.random.fork_rng():  # the module's random weights leave the global generator as it was
    torch.manual_seed(0)
    _ATTENTION = MultiHeadAttention(4, 4, 2)
    _KV = _projected(_ATTENTION, 2, 5)  # from a context of 2 sequences of 5 tokens
    _OTHER_HEADS = _projected(MultiHeadAttention(4, 4, 2, num_kv_heads=1), 2, 5)
    _OTHER_HEAD_DIM = _projected(MultiHeadAttention(4, 8, 2), 2, 5)
_INPUTS = torch.ones(2, 3, 4)
BAD_CONTEXT_KV = {
    "with the context too": (
        ValueError,
        r"^context and context_kv cannot be used together",
        lambda: _ATTENTION(_INPUTS, context=torch.ones(2, 5, 4), context_kv=_KV),
    ),
    "not a pair": (
        TypeError,
        r"^context_kv must be a \(keys, values\) pair, as project_context returns, got Tensor$",
        lambda: _ATTENTION(_INPUTS, context_kv=_KV[0]),
    ),
    "a pair of three": (
        TypeError,
        r"got tuple of length 3$",
        lambda: _ATTENTION(_INPUTS, context_kv=(*_KV, _KV[0])),
    ),
    "not tensors": (
        TypeError,
        r"^context_kv\[0\] must be a torch.Tensor",
        lambda: _ATTENTION(_INPUTS, context_kv=(1, 2)),
    ),
    "integer keys": (
        TypeError,
        r"^context_kv\[0\] must have a floating-point dtype",
        lambda: _ATTENTION(_INPUTS, context_kv=(_KV[0].long(), _KV[1])),
    ),
    "another dtype": (
        TypeError,
        r"^context_kv\[1\] and inputs must have one dtype, got torch.float64 and torch.float32",
        lambda: _ATTENTION(_INPUTS, context_kv=(_KV[0], _KV[1].double())),
    ),
    "another device": (
        ValueError,
        r"^context_kv\[0\] and inputs must be on one device, got meta and cpu",
        lambda: _ATTENTION(_INPUTS, context_kv=tuple(t.to("meta") for t in _KV)),
    ),
    "other key/value heads": (
        ValueError,
        r"^context_kv\[0\] \(keys\) must have shape \(2, num_kv_heads=2, ctx_len, head_dim=2\) for inputs of "
        r"shape \(2, 3, 4\), as this module's project_context returns them, got shape \(2, 1, 5, 2\)$",
        lambda: _ATTENTION(_INPUTS, context_kv=_OTHER_HEADS),
    ),
    "another head_dim": (
        ValueError,
        r"got shape \(2, 2, 5, 4\)$",
        lambda: _ATTENTION(_INPUTS, context_kv=_OTHER_HEAD_DIM),
    ),
    "other batch dimensions": (
        ValueError,
        r"^context_kv\[0\] \(keys\) must have shape \(num_kv_heads=2, ctx_len, head_dim=2\) for inputs of shape "
        r"\(3, 4\)",
        lambda: _ATTENTION(_INPUTS[0], context_kv=_KV),
    ),
    "too few dimensions": (
        ValueError,
        r"^context_kv\[1\] must have at least 3 dimensions",
        lambda: _ATTENTION(_INPUTS, context_kv=(_KV[0], _KV[1][0, 0])),
    ),
    "fewer values than keys": (
        ValueError,
        r"^context_kv\[0\] \(keys\) and context_kv\[1\] \(values\) must have one shape",
        lambda: _ATTENTION(_INPUTS, context_kv=(_KV[0], _KV[1][..., :4, :])),
    ),
    "a causal module": (
        ValueError,
        r"^context_kv \(cross-attention\) cannot be used with causal=True",
        lambda: MultiHeadAttention(4, 4, 2, causal=True)(_INPUTS, context_kv=_KV),
    ),
    "a module with RoPE": (
        ValueError,
        r"^context_kv \(cross-attention\) cannot be used with rope=True",
        lambda: MultiHeadAttention(4, 4, 2, rope=True)(_INPUTS, context_kv=_KV),
    ),
    "a cache": (
        ValueError,
        r"^context_kv and cache cannot be used together: .*pass it without a cache$",
        lambda: _ATTENTION(_INPUTS, context_kv=_KV, cache=KVCache()),
    ),
    "a context with a cache": (
        ValueError,
        r"^context and cache cannot be used together: .*project the context once with project_context\(context\) "
        r"and pass the result as context_kv at each step$",
        lambda: _ATTENTION(_INPUTS, context=torch.ones(2, 5, 4), cache=KVCache()),
    ),
    "a mask for another context length": (
        ValueError,
        r"^mask of shape \(3, 4\) cannot broadcast to the scores' shape \(2, 2, 3, 5\)",
        lambda: _ATTENTION(_INPUTS, torch.ones(3, 4, dtype=torch.bool), context_kv=_KV),
    ),
    "project_context of a causal module": (
        ValueError,
        r"^context \(cross-attention\) cannot be used with causal=True",
        lambda: MultiHeadAttention(4, 4, 2, causal=True).project_context(torch.ones(5, 4)),
    ),
    "project_context of a context of the wrong width": (
        ValueError,
        r"^context must have shape \(\.\.\., ctx_len, d_in=4\), got shape \(5, 3\)$",
        lambda: _ATTENTION.project_context(torch.ones(5, 3)),
    ),
    "project_context of another dtype": (
        TypeError,
        r"^context and the module's weights must have one dtype, got torch.float64 and torch.float32",
        lambda: _ATTENTION.project_context(torch.ones(5, 4, dtype=torch.float64)),
    ),
}


@pytest.mark.parametrize("case", BAD_CONTEXT_KV, ids=str)
def test_bad_projected_context_is_refused_with_a_named_error(case):
    error, message, call = BAD_CONTEXT_KV[case]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("index", [0, 1])
def test_value_checks_scan_the_projected_context_only_when_switched_on(index):
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).eval()
    with torch.no_grad():
        context_kv = list(attention.project_context(torch.ones(5, 4)))
    context_kv[index] = context_kv[index].clone()
    context_kv[index][1, 3, 0] = float("nan")
    with torch.no_grad():
        assert torch.isnan(attention(torch.ones(3, 4), context_kv=context_kv)).any()  # default: NaN in, NaN out
        with (
            checks(),
            pytest.raises(
                ValueError,
                match=rf"^context_kv\[{index}\] contains NaN or infinite values \(the first at index \(1, 3, 0\)",
            ),
        ):
            attention(torch.ones(3, 4), context_kv=context_kv)
        with checks(), pytest.raises(ValueError, match=r"^context contains NaN"):
            attention.project_context(torch.full((5, 4), float("nan")))
