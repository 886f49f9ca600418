"""Blockwise attention with an online softmax: O(n) memory instead of O(n^2).

The naive formula materialises the ``(n_q, n_k)`` matrix of scores. Here the keys and values
are visited one block at a time, and the softmax is computed *online*: a running maximum
``m``, a running sum ``l`` of ``exp(score - m)`` and a running, unnormalised output are
rescaled whenever a larger score turns up. Queries are processed in blocks too, so at most a
``(block_size, block_size)`` tile of scores exists at any time (the structure of
FlashAttention, written in plain PyTorch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from selfattention._checks import (
    check_bool,
    check_causal_lengths,
    check_positive_int,
    check_queries_keys,
    check_scale,
    check_values,
    default_scale,
)

__all__ = ["OnlineSoftmaxState", "blockwise_attention", "blockwise_attention_steps"]


@dataclass(frozen=True)
class OnlineSoftmaxState:
    """The running state of the online softmax after some blocks of keys.

    Attributes:
        maximum: ``m``, ``(..., n_q, 1)``: the largest score seen so far for each query.
        total: ``l``, ``(..., n_q, 1)``: the sum of ``exp(score - m)`` over the keys seen.
        accumulator: ``(..., n_q, d_v)``: the sum of ``exp(score - m) * value`` over them.
    """

    maximum: Tensor
    total: Tensor
    accumulator: Tensor

    @property
    def output(self) -> Tensor:
        """``accumulator / total``: attention over the keys seen so far, ``(..., n_q, d_v)``;
        zero for a query that has seen no key it may attend to (as in the naive form)."""
        return self.accumulator / torch.where(self.total > 0, self.total, 1.0)

    @classmethod
    def empty(cls, queries: Tensor, d_v: int) -> OnlineSoftmaxState:
        """The state before any key: ``m = -inf``, ``l = 0``, accumulator 0, for ``queries
        (..., n_q, d_k)`` and values of width ``d_v``."""
        shape = (*queries.shape[:-1], 1)
        return cls(
            maximum=torch.full(shape, float("-inf"), dtype=queries.dtype, device=queries.device),
            total=torch.zeros(shape, dtype=queries.dtype, device=queries.device),
            accumulator=torch.zeros((*queries.shape[:-1], d_v), dtype=queries.dtype, device=queries.device),
        )

    def update(self, scores: Tensor, values: Tensor) -> OnlineSoftmaxState:
        """Fold in one block: ``scores (..., n_q, block)``, ``values (..., block, d_v)``."""
        maximum = torch.maximum(self.maximum, scores.amax(dim=-1, keepdim=True))  # m_new
        # A row with no finite score yet keeps m = -inf; shift by 0 there to avoid -inf - -inf.
        shift = torch.where(torch.isneginf(maximum), 0.0, maximum)
        rescale = torch.exp(self.maximum - shift)  # exp(m_old - m_new) <= 1
        exponentials = torch.exp(scores - shift)  # (..., n_q, block)
        return OnlineSoftmaxState(
            maximum=maximum,
            total=self.total * rescale + exponentials.sum(dim=-1, keepdim=True),
            accumulator=self.accumulator * rescale + exponentials @ values,
        )


def _check(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    block_size: object,
    causal: object,
    scale: object,
    *,
    always: bool = False,
) -> tuple[int, bool, float]:
    """Check the arguments (value scans only with ``always`` or `selfattention.checks`) and
    return ``block_size``, ``causal`` and the scale to use."""
    queries, keys = check_queries_keys(queries, keys, always=always)
    check_values(values, keys, always=always)
    block_size = check_positive_int("block_size", block_size)
    causal = check_bool("causal", causal)
    if causal:
        check_causal_lengths("causal", queries.shape[-2], keys.shape[-2])
    return block_size, causal, default_scale(check_scale(scale), queries.shape[-1])


def _key_blocks(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    block_size: int,
    scale: float,
    causal: bool,
    q_start: int = 0,
) -> Iterator[OnlineSoftmaxState]:
    """The online-softmax state of ``queries`` (positions ``q_start`` onwards) after each block
    of keys. With ``causal``, blocks after the last query are skipped and the block that
    reaches past a query is masked."""
    q_end = q_start + queries.shape[-2]
    state = OnlineSoftmaxState.empty(queries, values.shape[-1])
    for k_start in range(0, q_end if causal else keys.shape[-2], block_size):
        key_block = keys[..., k_start : k_start + block_size, :]  # (..., bk, d_k)
        scores = queries @ key_block.transpose(-2, -1) * scale  # (..., bq, bk)
        k_end = k_start + key_block.shape[-2]
        if causal and k_end > q_start + 1:  # the block reaches past some query: mask it
            query_index = torch.arange(q_start, q_end, device=scores.device)[:, None]
            key_index = torch.arange(k_start, k_end, device=scores.device)[None, :]
            scores = scores.masked_fill(key_index > query_index, float("-inf"))
        state = state.update(scores, values[..., k_start:k_end, :])
        yield state


def blockwise_attention_steps(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    block_size: int,
    scale: float | None = None,
) -> list[OnlineSoftmaxState]:
    """The online-softmax state after each block of keys, all queries at once (no causal mask).

    For showing the algorithm on small examples: the last state's ``output`` is the attention.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> one `OnlineSoftmaxState` per block of ``block_size`` keys.
    """
    block_size, _, scale = _check(queries, keys, values, block_size, False, scale, always=True)
    return list(_key_blocks(queries, keys, values, block_size=block_size, scale=scale, causal=False))


def blockwise_attention(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    block_size: int = 256,
    causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """Scaled dot-product attention that never holds more than a block-by-block tile of scores.

    Equal to ``softmax(queries @ keys^T * scale) @ values`` (with the causal mask when
    ``causal=True``) up to rounding. ``scale=None`` means ``1 / sqrt(d_k)``. With ``causal``,
    key blocks entirely after a query block are skipped, so ``T (T + 1) / 2`` of the ``T^2``
    tiles of ``T`` blocks are computed: nearly half when there are many.

    Memory: ``O(n * d + block_size^2)`` per batch element and head, against ``O(n^2)`` for
    the naive form.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> ``(..., n_q, d_v)``.
    """
    block_size, causal, scale = _check(queries, keys, values, block_size, causal, scale)
    outputs = []
    for q_start in range(0, queries.shape[-2], block_size):
        query_block = queries[..., q_start : q_start + block_size, :]  # (..., bq, d_k)
        state = OnlineSoftmaxState.empty(query_block, values.shape[-1])  # kept if no key at all
        for state in _key_blocks(  # noqa: B007 - the state after the last block is the one needed
            query_block, keys, values, block_size=block_size, scale=scale, causal=causal, q_start=q_start
        ):
            pass
        outputs.append(state.output)  # (..., bq, d_v)
    if not outputs:  # no queries
        return queries.new_zeros((*queries.shape[:-1], values.shape[-1]))
    return torch.cat(outputs, dim=-2)
