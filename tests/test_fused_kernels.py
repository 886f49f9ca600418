"""Which implementation PyTorch's ``scaled_dot_product_attention`` runs on the CPU, and what it saves.

docs/performance.md ("What the fused kernel saves", with plain and grouped-query heads) says when the
fused flash-attention kernel runs and what the forward pass keeps for the backward pass. These tests pin
the same facts for the installed torch, independently of the pages, by the profiler's operation names and a
``saved_tensors_hooks`` recorder, so that a torch release that changes them fails here with the case
named:

- no mask, no dropout, ``is_causal=True``: the flash kernel, nothing ``n x n`` saved;
- a mask given as a tensor: the flash kernel, which saves the mask in the shape it was passed (a boolean
  one converted to the queries' float dtype, a float one as it is);
- ``dropout_p > 0``: the math path, which saves three ``n x n`` tensors per head;
- three-dimensional inputs: the math path;
- ``enable_gqa=True``: the flash kernel reads the shared key/value heads without copying them; the math
  path copies them with ``repeat_interleave``;
- the benchmark's ``sdpa`` form and ``MultiHeadAttention`` on a batch run the flash kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.autograd.graph import saved_tensors_hooks
from torch.profiler import profile

from benchmarks.timing import attention_forms
from selfattention import MultiHeadAttention

FLASH = "aten::_scaled_dot_product_flash_attention_for_cpu"
MATH = "aten::_scaled_dot_product_attention_math"
REPEAT = "aten::repeat_interleave"
HEADS, N, D = 4, 32, 8  # n differs from head_dim, so that an n x n tensor is told apart from the others


def run(call: Callable[[], Any]) -> tuple[set[str], list[torch.Tensor]]:
    """The attention operations (and ``repeat_interleave``) that ``call`` runs, by the profiler's
    names, and the tensors its forward pass saves for the backward pass, in the order saved."""
    saved: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor)
        return tensor

    with profile() as prof, saved_tensors_hooks(pack, lambda tensor: tensor):
        call()
    names = {event.name for event in prof.events()}
    return {name for name in names if name.startswith("aten::_scaled_dot_product") or name == REPEAT}, saved


def inputs(*shape: int, kv_heads: int = HEADS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries ``(*shape, HEADS, N, D)`` and keys and values ``(*shape, kv_heads, N, D)`` that require
    gradients."""
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(*shape, HEADS, N, D, generator=generator, requires_grad=True)
    k, v = (torch.randn(*shape, kv_heads, N, D, generator=generator, requires_grad=True) for _ in range(2))
    return q, k, v


def squares(saved: list[torch.Tensor]) -> list[torch.Tensor]:
    """The saved tensors whose last two dimensions are ``(N, N)``."""
    return [tensor for tensor in saved if tuple(tensor.shape[-2:]) == (N, N)]


@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}], ids=["no mask", "is_causal"])
def test_flash_kernel_saves_nothing_n_by_n(kwargs: dict[str, Any]) -> None:
    q, k, v = inputs(1)
    ops, saved = run(lambda: F.scaled_dot_product_attention(q, k, v, **kwargs))
    assert ops == {FLASH}
    assert [tuple(tensor.shape) for tensor in saved] == [(1, HEADS, N, D)] * 3 + [(1, HEADS, N), (1, HEADS, N, D)]
    assert squares(saved) == []


@pytest.mark.parametrize("mask_shape", [(N, N), (1, HEADS, N, N)], ids=["2-d", "4-d"])
@pytest.mark.parametrize("dtype", [torch.bool, torch.float32], ids=["boolean", "float"])
def test_a_mask_tensor_keeps_the_flash_kernel_which_saves_it(mask_shape: tuple[int, ...], dtype: torch.dtype) -> None:
    q, k, v = inputs(1)
    mask = torch.ones(mask_shape, dtype=torch.bool).tril()
    mask = mask if dtype == torch.bool else torch.zeros(mask_shape).masked_fill(~mask, float("-inf"))
    ops, saved = run(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert ops == {FLASH}
    (kept,) = squares(saved)
    assert kept.shape == mask.shape and kept.dtype == torch.float32
    if dtype == torch.float32:
        assert kept is mask  # saved as it was passed, no copy


def test_dropout_runs_the_math_path_which_saves_three_n_by_n_tensors_per_head() -> None:
    q, k, v = inputs(1)
    ops, saved = run(lambda: F.scaled_dot_product_attention(q, k, v, dropout_p=0.1))
    assert ops == {MATH}
    kept = squares(saved)
    assert [tuple(tensor.shape) for tensor in kept] == [(1, HEADS, N, N), (1, HEADS, N, N), (HEADS, N, N)]
    assert len({tensor.untyped_storage().data_ptr() for tensor in kept}) == 3
    weights, dropout_mask, dropped = (tensor.detach() for tensor in kept)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, HEADS, N))  # the softmax's output
    scaled = torch.tensor(1 / 0.9)  # a kept weight is scaled by 1 / (1 - p), in float32
    assert ((dropout_mask == 0) | (dropout_mask == scaled)).all()
    torch.testing.assert_close(dropped, (weights * dropout_mask).view(HEADS, N, N))


def test_three_dimensional_inputs_run_the_math_path() -> None:
    q, k, v = inputs()
    ops, saved = run(lambda: F.scaled_dot_product_attention(q, k, v))
    assert ops == {MATH}
    assert len(squares(saved)) == 2  # the weights, saved by the softmax and by the product with the values


def test_grouped_query_attention_copies_the_key_value_heads_only_on_the_math_path() -> None:
    q, k, v = inputs(1, kv_heads=2)
    ops, saved = run(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
    assert ops == {FLASH}
    assert [tuple(tensor.shape) for tensor in saved].count((1, 2, N, D)) == 2  # keys and values, not copied
    for call in (
        lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True, dropout_p=0.1),
        lambda: F.scaled_dot_product_attention(q[0], k[0], v[0], enable_gqa=True),
    ):
        ops, saved = run(call)
        assert ops == {MATH, REPEAT}
        assert (HEADS, D, N) in [tuple(tensor.shape) for tensor in saved]  # the keys, repeated and transposed


@pytest.mark.parametrize("causal", [False, True])
def test_the_benchmarks_sdpa_form_runs_the_flash_kernel(causal: bool) -> None:
    q, k, v = inputs(1)
    ops, saved = run(lambda: attention_forms(256, causal)["sdpa"](q, k, v))
    assert ops == {FLASH}
    assert squares(saved) == []


def test_multihead_attention_runs_the_flash_kernel_on_a_batch_and_the_math_path_on_one_sequence() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_in=6, d_out=16, num_heads=4, num_kv_heads=2)
    sequence = torch.randn(N, 6)
    ops, _ = run(lambda: attention(sequence.unsqueeze(0)))
    assert ops == {FLASH}
    ops, _ = run(lambda: attention(sequence))
    assert ops == {MATH, REPEAT}
