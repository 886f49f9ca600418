"""``checks()``: with value checks on, every floating tensor a call reads is scanned, and the mode
belongs to the thread that switched it on.

Each case below poisons one tensor that a call reads (an input, a parameter, what a cache holds, RoPE's
positions, the gradient of a backward pass) with NaN: outside ``checks()`` the call runs, inside it the
call raises a ``ValueError`` naming that tensor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch

from selfattention import (
    CausalSelfAttention,
    KVCache,
    MultiHeadAttention,
    SelfAttention,
    apply_rope,
    blockwise_attention,
    blockwise_attention_gradients,
    checks,
    checks_enabled,
    rope_angles,
    scaled_dot_product_attention,
    set_checks,
    simplified_self_attention,
)
from tests.conftest import randn

NAN = float("nan")


def poisoned(tensor: torch.Tensor, index: tuple[int, ...] = (0,)) -> torch.Tensor:
    tensor = tensor.detach().clone()
    tensor[index] = NAN
    return tensor


def module_with_nan(module: torch.nn.Module, parameter: str) -> torch.nn.Module:
    with torch.no_grad():
        module.get_parameter(parameter).view(-1)[0] = NAN
    return module.eval()


def decoder_and_cache(poison: str | None) -> tuple[MultiHeadAttention, KVCache]:
    decoder = MultiHeadAttention(4, 4, 2, causal=True).eval()
    cache = KVCache()
    with torch.no_grad():
        decoder(randn(1, 3, 4, seed=1), cache=cache)
    if poison is not None:
        setattr(cache, poison, poisoned(getattr(cache, poison), (0, 0, 1, 0)))
    return decoder, cache


def blockwise_backward(grad_output: torch.Tensor) -> None:
    queries = randn(4, 3, seed=2).requires_grad_()
    blockwise_attention(queries, queries, queries, block_size=2).backward(grad_output)


CASES: dict[str, tuple[str, Callable[[], object]]] = {
    # name: (the tensor the error names, the call)
    "inputs": ("inputs", lambda: simplified_self_attention(poisoned(randn(3, 4)))),
    "query": ("query", lambda: scaled_dot_product_attention(poisoned(randn(3, 4)), randn(3, 4), randn(3, 4))),
    "float mask": (
        "attn_mask",
        lambda: scaled_dot_product_attention(randn(3, 4), randn(3, 4), randn(3, 4), poisoned(torch.zeros(3, 3))),
    ),
    **{
        f"SelfAttention {name}": (
            name,
            lambda name=name: module_with_nan(SelfAttention(4, 4, qkv_bias=True), name)(randn(3, 4)),
        )
        for name in ("w_query.weight", "w_key.bias", "w_value.weight")
    },
    "CausalSelfAttention w_key.weight": (
        "w_key.weight",
        lambda: module_with_nan(CausalSelfAttention(4, 4), "w_key.weight")(randn(3, 4)),
    ),
    **{
        f"MultiHeadAttention {name}": (
            name,
            lambda name=name: module_with_nan(MultiHeadAttention(4, 4, 2, qkv_bias=True), name)(randn(1, 3, 4)),
        )
        for name in (
            "w_query.weight",
            "w_query.bias",
            "w_key.weight",
            "w_value.bias",
            "out_proj.weight",
            "out_proj.bias",
        )
    },
    "MultiHeadAttention context": (
        "context",
        lambda: MultiHeadAttention(4, 4, 2)(randn(1, 3, 4), context=poisoned(randn(1, 2, 4), (0, 1, 2))),
    ),
    **{
        f"cached {name}": (
            f"cache.{name}",
            lambda name=name: (lambda decoder, cache: decoder(randn(1, 1, 4), cache=cache))(*decoder_and_cache(name)),
        )
        for name in ("keys", "values")
    },
    "KVCache.append keys": ("keys", lambda: KVCache().append(poisoned(randn(1, 2, 3, 4)), randn(1, 2, 3, 4))),
    "apply_rope x": ("x", lambda: apply_rope(poisoned(randn(3, 4)))),
    "apply_rope positions": ("positions", lambda: apply_rope(randn(3, 4), poisoned(torch.arange(3.0)))),
    "rope_angles positions": ("positions", lambda: rope_angles(poisoned(torch.arange(3.0)), 4)),
    "blockwise grad_output": ("grad_output", lambda: blockwise_backward(poisoned(torch.ones(4, 3)))),
    "blockwise_attention_gradients grad_output": (
        "grad_output",
        lambda: blockwise_attention_gradients(randn(4, 3), randn(4, 3), randn(4, 3), poisoned(torch.ones(4, 3))),
    ),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_floating_tensor_a_call_reads_is_scanned(case):
    name, call = CASES[case]
    call()  # value checks off: NaN in, NaN (or a wrong number) out, no error
    with checks(), pytest.raises(ValueError, match=rf"^{name} contains NaN"):
        call()


def test_the_fused_cpu_kernel_hides_a_nan_query_and_checks_catch_it():
    # PyTorch's fused CPU kernel turns a query row holding NaN into zeros (4-D inputs), so a NaN in
    # w_query gives finite outputs, not NaN ones.
    nan_row = torch.tensor([[[[NAN, 1.0], [1.0, 1.0]]]])
    fused = torch.nn.functional.scaled_dot_product_attention(nan_row, torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    assert torch.equal(fused[0, 0, 0], torch.zeros(2))
    module = module_with_nan(MultiHeadAttention(4, 4, 2), "w_query.weight")
    with torch.no_grad():
        assert torch.isfinite(module(randn(2, 3, 4))).all()
    with checks(), pytest.raises(ValueError, match=r"w_query\.weight contains NaN"):
        module(randn(2, 3, 4))


def test_the_mode_belongs_to_the_thread_that_sets_it():
    # Two threads interleave their blocks: A enters, B enters, A leaves, B leaves. Each block keeps
    # its own mode for its whole body, and neither changes the other thread's or the main thread's.
    a_entered, b_entered, a_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, list[bool]] = {"a": [], "b": [], "c": []}

    def thread_a() -> None:
        with checks():
            seen["a"].append(checks_enabled())
            a_entered.set()
            b_entered.wait(5)
            seen["a"].append(checks_enabled())
        a_left.set()
        seen["a"].append(checks_enabled())

    def thread_b() -> None:
        a_entered.wait(5)
        with checks(enabled=False):
            seen["b"].append(checks_enabled())
            b_entered.set()
            a_left.wait(5)
            seen["b"].append(checks_enabled())
        seen["b"].append(checks_enabled())

    def thread_c() -> None:  # never switches: A's block is not its mode
        a_entered.wait(5)
        seen["c"].append(checks_enabled())

    threads = [threading.Thread(target=target) for target in (thread_a, thread_b, thread_c)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"a": [True, True, False], "b": [False, False, False], "c": [False]}
    assert not checks_enabled()


def test_one_decorator_may_run_in_several_threads_at_once():
    barrier = threading.Barrier(2, timeout=5)
    results: list[bool] = []

    @checks()
    def scanned() -> None:
        barrier.wait()  # both threads are inside the decorated function here
        results.append(checks_enabled())
        barrier.wait()

    threads = [threading.Thread(target=scanned) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [True, True] and not checks_enabled()


def test_set_checks_switches_the_current_thread_only():
    seen: list[bool] = []
    set_checks(True)
    try:
        thread = threading.Thread(target=lambda: seen.append(checks_enabled()))
        thread.start()
        thread.join(10)
        assert checks_enabled() and seen == [False]
    finally:
        set_checks(False)
