"""The hot path reads no tensor values: no host synchronisation, no graph break, exportable.

Every public function and module ``forward`` is run (with the value checks in their default
mode, off) under a dispatch mode that counts ``aten._local_scalar_dense``, the operation behind
``.item()``, ``bool(tensor)`` and ``.tolist()``: each is a host synchronisation, a stall on a
GPU. Then each distinct path through them (see COMPILED_MODULES and COMPILED_FUNCTIONS) is
compiled with ``torch.compile(fullgraph=True)`` (which fails at the first graph break; the
``eager`` backend needs no compiler), and the modules' paths are exported with ``torch.export.export``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import selfattention as sa
from selfattention import (
    CausalSelfAttention,
    MultiHeadAttention,
    SelfAttention,
    TinyGPT,
    TransformerBlock,
    checks,
    checks_enabled,
)
from tests.conftest import CountSyncs, assert_close, randn


def modules() -> dict[str, tuple[torch.nn.Module, dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    allowed = torch.tensor([False, True, True, True, True]).expand(5, 5)  # query-independent padding
    return {
        "MultiHeadAttention": (MultiHeadAttention(8, 8, 2).eval(), {}),
        "MultiHeadAttention mask": (MultiHeadAttention(8, 8, 2).eval(), {"mask": allowed}),
        "MultiHeadAttention causal": (MultiHeadAttention(8, 8, 2, causal=True).eval(), {}),
        "MultiHeadAttention causal mask": (MultiHeadAttention(8, 8, 2, causal=True).eval(), {"mask": allowed}),
        "MultiHeadAttention training": (MultiHeadAttention(8, 8, 2, dropout=0.1).train(), {}),
        "MultiHeadAttention grouped-query rope": (
            MultiHeadAttention(8, 8, 4, num_kv_heads=2, causal=True, rope=True).eval(),
            {},
        ),
        "MultiHeadAttention multi-query mask": (
            MultiHeadAttention(8, 8, 2, num_kv_heads=1, causal=True).eval(),
            {"mask": allowed},
        ),
        "MultiHeadAttention cross-attention": (
            MultiHeadAttention(8, 8, 2, num_kv_heads=1).eval(),
            {"context": randn(2, 3, 8, seed=9)},
        ),
        "SelfAttention": (SelfAttention(8, 4).eval(), {}),
        "SelfAttention float mask": (SelfAttention(8, 4).eval(), {"mask": torch.zeros(5, 5)}),
        "CausalSelfAttention": (CausalSelfAttention(8, 4).eval(), {}),
        "CausalSelfAttention mask": (CausalSelfAttention(8, 4).eval(), {"mask": allowed}),
        "CausalSelfAttention training": (CausalSelfAttention(8, 4, dropout=0.1).train(), {}),
        "TransformerBlock": (TransformerBlock(8, 2).eval(), {}),
        "TransformerBlock grouped-query rope": (TransformerBlock(8, 4, num_kv_heads=2, rope=True).eval(), {}),
        "TransformerBlock training": (TransformerBlock(8, 2, dropout=0.1).train(), {}),
    }


def functions() -> dict[str, tuple[Callable[..., object], tuple[object, ...]]]:
    q, k, v = randn(2, 5, 4, seed=1), randn(2, 5, 4, seed=2), randn(2, 5, 4, seed=3)
    x, w = randn(2, 5, 8, seed=4), randn(8, 4, seed=5)
    scores, weights = randn(2, 5, 5, seed=6), torch.softmax(randn(2, 5, 5, seed=7), dim=-1)
    allowed = torch.tensor([False, True, True, True, True]).expand(5, 5)
    additive = torch.zeros(5, 5).masked_fill(~allowed, float("-inf"))
    return {
        "attention_scores": (lambda q, k: sa.attention_scores(q, k), (q, k)),
        "attention_scores scale": (lambda q, k: sa.attention_scores(q, k, scale=0.5), (q, k)),
        "mask_scores bool": (sa.mask_scores, (scores, allowed)),
        "mask_scores float": (sa.mask_scores, (scores, additive)),
        "attention_weights": (lambda s, m: sa.attention_weights(s, attn_mask=m), (scores, allowed)),
        "attention_context": (sa.attention_context, (weights, v)),
        "weighted_values": (sa.weighted_values, (weights, v)),
        "attention_dropout": (lambda w: sa.attention_dropout(w, 0.2), (weights,)),
        "scaled_dot_product_attention": (sa.scaled_dot_product_attention, (q, k, v)),
        "scaled_dot_product_attention mask": (
            lambda q, k, v, m: sa.scaled_dot_product_attention(q, k, v, attn_mask=m),
            (q, k, v, allowed),
        ),
        "scaled_dot_product_attention causal": (
            lambda q, k, v: sa.scaled_dot_product_attention(q, k, v, is_causal=True),
            (q, k, v),
        ),
        "scaled_dot_product_attention dropout": (
            lambda q, k, v: sa.scaled_dot_product_attention(q, k, v, dropout_p=0.1),
            (q, k, v),
        ),
        "blockwise_attention": (lambda q, k, v: sa.blockwise_attention(q, k, v, block_size=2), (q, k, v)),
        "blockwise_attention causal": (
            lambda q, k, v: sa.blockwise_attention(q, k, v, block_size=2, is_causal=True),
            (q, k, v),
        ),
        "causal_mask": (lambda x: sa.causal_mask(x.shape[-2]), (x,)),
        "causal_and": (lambda m: sa.causal_and(m, m.shape[-1]), (allowed,)),
        "simplified_self_attention": (sa.simplified_self_attention, (x,)),
        "self_attention": (lambda x, w: sa.self_attention(x, w, w, w), (x, w)),
        "to_torch_attn_mask": (sa.to_torch_attn_mask, (allowed,)),
        "apply_rope": (sa.apply_rope, (q,)),
        "apply_rope positions": (lambda q: sa.apply_rope(q, torch.arange(3, 8), base=500.0), (q,)),
    }


MODULES = sorted(modules())
FUNCTIONS = sorted(functions())
# One compile per distinct path through the code (a path that runs only code another compiled case runs too is
# not compiled again; every case above is still run uncompiled, counting its host reads):
# MultiHeadAttention: the checked mask without the causal one; the causal mask combined with a mask; the causal
# path without a mask, with RoPE and grouped-query heads; dropout in training; cross-attention (the context's
# checks). SelfAttention: a float mask. CausalSelfAttention: is_causal without a mask, and the combined mask.
COMPILED_MODULES = [
    "MultiHeadAttention mask",
    "MultiHeadAttention causal mask",
    "MultiHeadAttention grouped-query rope",
    "MultiHeadAttention training",
    "MultiHeadAttention cross-attention",
    "SelfAttention float mask",
    "CausalSelfAttention",
    "CausalSelfAttention mask",
    "TransformerBlock",
]
# Every public function once, where no other compiled case runs it. Left out: "attention_scores scale" (a Python
# float checked), "mask_scores bool" (it runs in "attention_weights"), "scaled_dot_product_attention" (its branches
# run in "... mask" and "... causal"), "scaled_dot_product_attention dropout" (the dropout of "attention_dropout"),
# "blockwise_attention" (its loop runs in the causal case, which also skips and masks tiles), "causal_mask" (it
# runs in "scaled_dot_product_attention causal"), "causal_and" (in the module "CausalSelfAttention mask") and
# "apply_rope positions" (positions and a base: in the module "MultiHeadAttention grouped-query rope").
COMPILED_FUNCTIONS = [
    "attention_scores",
    "mask_scores float",
    "attention_weights",
    "attention_context",
    "weighted_values",
    "attention_dropout",
    "scaled_dot_product_attention mask",
    "scaled_dot_product_attention causal",
    "blockwise_attention causal",
    "simplified_self_attention",
    "self_attention",
    "to_torch_attn_mask",
    "apply_rope",
]
# torch.export: the compiled paths that run in evaluation (no dropout), except CausalSelfAttention without a mask,
# which test_causal_modules_export_with_a_dynamic_length exports (with MultiHeadAttention's causal path).
EXPORTED_MODULES = [
    "MultiHeadAttention mask",
    "MultiHeadAttention causal mask",
    "MultiHeadAttention grouped-query rope",
    "MultiHeadAttention cross-attention",
    "SelfAttention float mask",
    "CausalSelfAttention mask",
    "TransformerBlock",
]


# Public names that are not on a training or inference hot path, each with its reason. Every other public
# name must be run above (a new function or module is added to `functions()` or `modules()`).
NOT_ON_THE_HOT_PATH = {
    # What the step helpers return, and the step helpers themselves: the explicit form the pages print
    # (test_step_helpers_compile_too_and_skip_their_scans_while_tracing compiles them).
    "AttentionSteps",
    "MultiHeadSteps",
    "OnlineSoftmaxState",
    "BlockwiseGradients",
    "attention_steps",
    "self_attention_steps",
    "blockwise_attention_steps",
    "blockwise_attention_gradients",
    # The value checks' switch.
    "checks",
    "checks_enabled",
    "set_checks",
    # Conversions of weights, run once: RoPE's angle table is computed inside apply_rope too.
    "from_torch_multihead",
    "to_torch_multihead",
    "halves_to_pairs",
    "rope_angles",
    # Built once per batch or once per model: the padding mask reads its lengths (documented), the sinusoidal
    # table is a constant added to the embeddings.
    "padding_mask",
    "sinusoidal_positions",
    # The KV cache: tests/test_kv_cache.py compiles a cached step and counts its host reads.
    "KVCache",
    # A Python loop of model calls (each a TinyGPT forward, run by test_tiny_gpt_reads_no_value_compiles_and_exports);
    # choosing a token reads no value on the host, but the loop's length is Python's.
    "generate",
    # The pages' experiments and plots.
    "SoftmaxSaturation",
    "softmax_saturation",
    "plot_attention",
    "InductionBatch",
    "InductionModel",
    "InductionTask",
    "induction_batch",
    "train_induction_model",
}


def test_every_public_name_is_on_the_hot_path_or_says_why_not():
    run = {name.split()[0] for name in [*MODULES, *FUNCTIONS]} | {"TinyGPT"}
    assert sorted(set(sa.__all__) - run - NOT_ON_THE_HOT_PATH) == []
    assert sorted((run | NOT_ON_THE_HOT_PATH) - set(sa.__all__)) == []


@pytest.fixture(scope="module", autouse=True)
def fresh_compiler_caches():
    """Compile this file's functions from scratch: nothing compiled by another test file is reused."""
    torch.compiler.reset()


def test_checks_are_off_by_default_and_restored():
    assert not checks_enabled()
    with checks():
        assert checks_enabled()
        with checks(enabled=False):
            assert not checks_enabled()
        assert checks_enabled()
    assert not checks_enabled()


@pytest.mark.parametrize("name", MODULES)
def test_module_forward_reads_no_value(name):
    module, kwargs = modules()[name]
    inputs = randn(2, 5, 8)
    with CountSyncs() as counter:
        module(inputs, **kwargs)
    assert counter.syncs == 0
    with checks(), CountSyncs() as checked:
        module(inputs, **kwargs)
    assert checked.syncs > 0  # the counter sees the scans that checks() switches on


@pytest.mark.parametrize("rope", [True, False], ids=["rope", "learned-positions"])
def test_tiny_gpt_reads_no_value_compiles_and_exports(rope):
    torch.manual_seed(0)
    model = TinyGPT(vocab_size=11, context_len=8, d_model=8, num_layers=1, num_heads=2, rope=rope).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    with CountSyncs() as counter:
        expected = model(ids)
    assert counter.syncs == 0
    assert_close(torch.compile(model, fullgraph=True, backend="eager", dynamic=False)(ids), expected)
    assert_close(torch.export.export(model, (ids,)).module()(ids), expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_reads_no_value(name):
    function, args = functions()[name]
    with CountSyncs() as counter:
        function(*args)
    assert counter.syncs == 0


@pytest.mark.parametrize("name", COMPILED_MODULES)
def test_module_compiles_without_graph_break(name):
    module, kwargs = modules()[name]
    inputs = randn(2, 5, 8)
    compiled = torch.compile(module, fullgraph=True, backend="eager", dynamic=False)
    torch.manual_seed(0)
    expected = module(inputs, **kwargs)
    torch.manual_seed(0)
    result = compiled(inputs, **kwargs)
    if module.training:
        assert result.shape == expected.shape  # dropout: different draws inside the graph
    else:
        assert_close(result, expected)


@pytest.mark.parametrize("name", COMPILED_FUNCTIONS)
def test_function_compiles_without_graph_break(name):
    function, args = functions()[name]
    result = torch.compile(function, fullgraph=True, backend="eager", dynamic=False)(*args)
    if "dropout" not in name:
        assert_close(result, function(*args))


@pytest.mark.parametrize("step", ["attention_steps", "self_attention_steps", "MultiHeadAttention.steps"])
def test_step_helpers_compile_too_and_skip_their_scans_while_tracing(step):
    q, x, w = randn(2, 5, 4), randn(2, 5, 8), randn(8, 4)
    module = MultiHeadAttention(8, 8, 2, causal=True)
    call = {
        "attention_steps": lambda: sa.attention_steps(q, q, q, is_causal=True).context,
        "self_attention_steps": lambda: sa.self_attention_steps(x, w, w, w).context,
        "MultiHeadAttention.steps": lambda: module.steps(x).output,
    }[step]
    torch.manual_seed(0)
    expected = call()
    torch.manual_seed(0)
    assert_close(torch.compile(call, fullgraph=True, backend="eager")(), expected)


def test_causal_length_traces_as_a_dynamic_size():
    """The causal mask is built from the traced shape: one graph serves every length."""
    function = torch.compile(
        lambda q: sa.scaled_dot_product_attention(q, q, q, is_causal=True),
        fullgraph=True,
        backend="eager",
        dynamic=True,
    )
    for seq_len in (3, 7):
        q = randn(2, seq_len, 4)
        assert_close(function(q), torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True))


@pytest.mark.parametrize("name", EXPORTED_MODULES)
def test_module_exports(name):
    module, kwargs = modules()[name]
    inputs = randn(2, 5, 8)
    exported = torch.export.export(module, (inputs,), kwargs)
    assert_close(exported.module()(inputs, **kwargs), module(inputs, **kwargs))


@pytest.mark.parametrize(
    "module",
    [MultiHeadAttention(8, 8, 2, causal=True).eval(), CausalSelfAttention(8, 4).eval()],
    ids=["MultiHeadAttention", "CausalSelfAttention"],
)
def test_causal_modules_export_with_a_dynamic_length(module):
    seq_len = torch.export.Dim("seq_len", min=2, max=64)
    exported = torch.export.export(module, (randn(2, 5, 8),), dynamic_shapes={"inputs": {1: seq_len}})
    inputs = randn(2, 9, 8, seed=3)
    assert_close(exported.module()(inputs), module(inputs))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_causal_paths_trace_with_torch_jit_for_another_length():
    """torch.jit.trace (deprecated) records shapes as tensors: the causal mask is built from
    them. The metadata checks run once, on the example inputs, as torch warns."""
    module = MultiHeadAttention(8, 8, 2, causal=True).eval()
    traced = [
        (torch.jit.trace(module, (randn(2, 5, 8),)), module),
        (
            torch.jit.trace(lambda q: sa.scaled_dot_product_attention(q, q, q, is_causal=True), (randn(2, 5, 8),)),
            lambda q: sa.scaled_dot_product_attention(q, q, q, is_causal=True),
        ),
    ]
    inputs = randn(2, 7, 8, seed=1)
    for function, reference in traced:
        assert_close(function(inputs), reference(inputs))
