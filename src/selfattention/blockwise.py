"""Blockwise attention with an online softmax: O(n) memory instead of O(n^2), in training too.

The naive formula materialises the ``(n_q, n_k)`` matrix of scores. Here the keys and values
are visited one block at a time, and the softmax is computed *online*: a running maximum
``m``, a running sum ``l`` of ``exp(score - m)`` and a running, unnormalised output are
rescaled whenever a larger score turns up. Queries are processed in blocks too, so at most a
``(block_size, block_size)`` tile of scores exists at any time (the structure of
FlashAttention, written in plain PyTorch).

The backward pass is written by hand (a ``torch.autograd.Function``): the forward saves the
queries, keys, values, the output ``O`` and each query's log-sum-exp ``L = m + log(l)``,
nothing ``n x n``, and the backward recomputes each tile of weights as ``P = exp(S - L)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

from selfattention._checks import (
    check_bool,
    check_causal_lengths,
    check_positive_int,
    check_queries_keys,
    check_scale,
    check_values,
    default_scale,
)

__all__ = [
    "BlockwiseGradients",
    "OnlineSoftmaxState",
    "blockwise_attention",
    "blockwise_attention_gradients",
    "blockwise_attention_steps",
]


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

    @property
    def logsumexp(self) -> Tensor:
        """``L = m + log(l)``, ``(..., n_q, 1)``: the log of the softmax's denominator,
        ``log(sum_j exp(score_j))`` over the keys seen so far; ``-inf`` for a query that has
        seen no key it may attend to. The weights are ``exp(score - L)``."""
        return self.maximum + torch.log(self.total)  # -inf + log(0) = -inf: no NaN

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


def _scores_tile(scaled_queries: Tensor, keys: Tensor, *, q_start: int, k_start: int, causal: bool) -> Tensor:
    """One tile of scores, ``(..., bq, bk)``, for ``scaled_queries = queries * scale`` at
    positions ``q_start...`` and ``keys`` at ``k_start...``; with ``causal``, a key after a
    query scores ``-inf``. The forward and the backward both call it, so the backward
    recomputes exactly the scores the forward saw."""
    scores = scaled_queries @ keys.transpose(-2, -1)  # (..., bq, bk)
    q_end, k_end = q_start + scores.shape[-2], k_start + scores.shape[-1]
    if causal and k_end > q_start + 1:  # the tile reaches past some query: mask it
        query_index = torch.arange(q_start, q_end, device=scores.device)[:, None]
        key_index = torch.arange(k_start, k_end, device=scores.device)[None, :]
        scores.masked_fill_(key_index > query_index, float("-inf"))  # a fresh tensor: in place
    return scores


def _key_starts(q_end: int, n_k: int, block_size: int, causal: bool) -> range:
    """The first key of every key block a query block needs: with ``causal``, none after the
    block's last query (``q_end - 1``)."""
    return range(0, min(q_end, n_k) if causal else n_k, block_size)


def _key_blocks(
    scaled_queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    block_size: int,
    causal: bool,
    q_start: int = 0,
) -> Iterator[OnlineSoftmaxState]:
    """The online-softmax state of ``scaled_queries`` (positions ``q_start`` onwards) after
    each block of keys. With ``causal``, blocks after the last query are skipped and the block
    that reaches past a query is masked."""
    state = OnlineSoftmaxState.empty(scaled_queries, values.shape[-1])
    q_end = q_start + scaled_queries.shape[-2]
    for k_start in _key_starts(q_end, keys.shape[-2], block_size, causal):
        key_block = keys[..., k_start : k_start + block_size, :]  # (..., bk, d_k)
        scores = _scores_tile(scaled_queries, key_block, q_start=q_start, k_start=k_start, causal=causal)
        state = state.update(scores, values[..., k_start : k_start + block_size, :])
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

    For showing the algorithm on small examples: the last state's ``output`` is the attention
    and its ``logsumexp`` is what the forward pass saves for the backward.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> one `OnlineSoftmaxState` per block of ``block_size`` keys.
    """
    block_size, _, scale = _check(queries, keys, values, block_size, False, scale, always=True)
    return list(_key_blocks(queries * scale, keys, values, block_size=block_size, causal=False))


def _forward(
    queries: Tensor, keys: Tensor, values: Tensor, *, block_size: int, scale: float, causal: bool
) -> tuple[Tensor, Tensor]:
    """The output ``(..., n_q, d_v)`` and the log-sum-exp ``(..., n_q, 1)`` of every query."""
    n_q = queries.shape[-2]
    output = queries.new_zeros((*queries.shape[:-1], values.shape[-1]))  # O
    logsumexp = queries.new_full((*queries.shape[:-1], 1), float("-inf"))  # L
    scaled_queries = queries * scale
    for q_start in range(0, n_q, block_size):
        query_block = scaled_queries[..., q_start : q_start + block_size, :]  # (..., bq, d_k)
        state = None
        for block_state in _key_blocks(
            query_block, keys, values, block_size=block_size, causal=causal, q_start=q_start
        ):
            state = block_state  # the state after the last key block is the one needed
        if state is not None:  # else no key at all: O = 0, L = -inf
            output[..., q_start : q_start + block_size, :] = state.output
            logsumexp[..., q_start : q_start + block_size, :] = state.logsumexp
    return output, logsumexp


def _backward(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    output: Tensor,
    logsumexp: Tensor,
    grad_output: Tensor,
    *,
    block_size: int,
    scale: float,
    causal: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``dQ, dK, dV`` and ``D = rowsum(dO * O)``, recomputing each tile ``P = exp(S - L)``.

    Per tile: ``dV += P^T dO``, ``dP = dO V^T``, ``dS = P * (dP - D)``, ``dQ += dS K``,
    ``dK += dS^T Q``; the factor ``scale`` of ``S = scale * Q K^T`` goes into ``dQ`` at the end
    and into ``dK`` through the scaled queries.
    """
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    delta = (grad_output * output).sum(dim=-1, keepdim=True)  # D, (..., n_q, 1)
    # A query with no key to attend to has L = -inf and P = 0: subtract +inf there, so that
    # exp(S - L) is exp(-inf) = 0 instead of exp(+inf) or exp(NaN).
    shift = torch.where(torch.isneginf(logsumexp), float("inf"), logsumexp)
    scaled_queries = queries * scale
    grad_queries = torch.zeros_like(queries)
    grad_keys = torch.zeros_like(keys)
    grad_values = torch.zeros_like(values)
    for q_start in range(0, n_q, block_size):
        rows = slice(q_start, q_start + block_size)
        query_block = scaled_queries[..., rows, :]  # (..., bq, d_k)
        grad_output_block = grad_output[..., rows, :]  # (..., bq, d_v)
        shift_block, delta_block = shift[..., rows, :], delta[..., rows, :]  # (..., bq, 1)
        grad_query_block = grad_queries[..., rows, :]  # a view: accumulated in place
        for k_start in _key_starts(q_start + query_block.shape[-2], n_k, block_size, causal):
            columns = slice(k_start, k_start + block_size)
            key_block, value_block = keys[..., columns, :], values[..., columns, :]
            scores = _scores_tile(query_block, key_block, q_start=q_start, k_start=k_start, causal=causal)
            weights = scores.sub_(shift_block).exp_()  # P = exp(S - L), (..., bq, bk), in place
            grad_values[..., columns, :] += weights.transpose(-2, -1) @ grad_output_block  # P^T dO
            grad_weights = grad_output_block @ value_block.transpose(-2, -1)  # dP = dO V^T
            grad_scores = grad_weights.sub_(delta_block).mul_(weights)  # dS = P * (dP - D), in place
            grad_query_block += grad_scores @ key_block  # dS K
            grad_keys[..., columns, :] += grad_scores.transpose(-2, -1) @ query_block  # dS^T (scale Q)
    grad_queries *= scale
    return grad_queries, grad_keys, grad_values, delta


class _BlockwiseAttention(torch.autograd.Function):
    """Blockwise attention whose backward recomputes the tiles instead of storing them."""

    @staticmethod
    def forward(
        ctx: FunctionCtx, queries: Tensor, keys: Tensor, values: Tensor, block_size: int, scale: float, causal: bool
    ) -> Tensor:
        output, logsumexp = _forward(queries, keys, values, block_size=block_size, scale=scale, causal=causal)
        ctx.save_for_backward(queries, keys, values, output, logsumexp)  # nothing n x n
        ctx.options = {"block_size": block_size, "scale": scale, "causal": causal}  # type: ignore[attr-defined]
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the caller wants to differentiate again
            raise RuntimeError(
                "blockwise_attention has no double backward: its backward pass is written by hand "
                "and is not itself differentiable, so create_graph=True is not supported. Use "
                "selfattention.scaled_dot_product_attention where second derivatives are needed"
            )
        queries, keys, values, output, logsumexp = ctx.saved_tensors
        grad_queries, grad_keys, grad_values, _ = _backward(
            queries, keys, values, output, logsumexp, grad_output, **ctx.options
        )
        return grad_queries, grad_keys, grad_values, None, None, None


def blockwise_attention(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    block_size: int = 256,
    causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """Scaled dot-product attention that never holds more than a block-by-block tile of scores,
    in the forward pass and in the backward pass.

    Equal to ``softmax(queries @ keys^T * scale) @ values`` (with the causal mask when
    ``causal=True``) up to rounding, and so are its gradients (the tests compare them with
    autograd through the naive form: within ``1e-10`` in float64 and ``1e-5`` in float32 for
    inputs of unit scale). ``scale=None`` means
    ``1 / sqrt(d_k)``. With ``causal``, key blocks entirely after a query block are skipped,
    so ``T (T + 1) / 2`` of the ``T^2`` tiles of ``T`` blocks are computed: nearly half when
    there are many. A query with no key to attend to (no keys at all) gets a zero
    output and zero gradients.

    Memory: ``O(n * d + block_size^2)`` per batch element and head, against ``O(n^2)`` for
    the naive form, for training too: the forward saves the inputs, the output and one
    log-sum-exp per query, and the backward recomputes the tiles of weights from them.
    Double backward is not supported: a backward pass with ``create_graph=True`` raises a
    ``RuntimeError``.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> ``(..., n_q, d_v)``.
    """
    block_size, causal, scale = _check(queries, keys, values, block_size, causal, scale)
    output: Tensor = _BlockwiseAttention.apply(queries, keys, values, block_size, scale, causal)
    return output


@dataclass(frozen=True)
class BlockwiseGradients:
    """The forward and backward pass of blockwise attention, with the statistics they share.

    Attributes:
        output: ``O``, ``(..., n_q, d_v)``: the attention output, saved by the forward.
        logsumexp: ``L``, ``(..., n_q, 1)``: each query's ``log(sum_j exp(score_j))``, saved by
            the forward (``-inf`` for a query with no key); the weights are ``exp(S - L)``.
        delta: ``D = rowsum(dO * O)``, ``(..., n_q, 1)``: computed once at the start of the
            backward.
        grad_queries: ``dQ``, ``(..., n_q, d_k)``.
        grad_keys: ``dK``, ``(..., n_k, d_k)``.
        grad_values: ``dV``, ``(..., n_k, d_v)``.
    """

    output: Tensor
    logsumexp: Tensor
    delta: Tensor
    grad_queries: Tensor
    grad_keys: Tensor
    grad_values: Tensor


def blockwise_attention_gradients(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    grad_output: Tensor,
    *,
    block_size: int = 256,
    causal: bool = False,
    scale: float | None = None,
) -> BlockwiseGradients:
    """The backward pass of `blockwise_attention` by hand, with what it saves and computes.

    ``grad_output`` is ``dO``, the gradient of the loss with respect to the output. The
    gradients are those ``blockwise_attention(...).backward(grad_output)`` leaves in ``.grad``.
    For showing the algorithm on small examples.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``,
    ``grad_output (..., n_q, d_v)`` -> `BlockwiseGradients`.
    """
    block_size, causal, scale = _check(queries, keys, values, block_size, causal, scale)
    expected = (*queries.shape[:-1], values.shape[-1])
    if not isinstance(grad_output, Tensor) or tuple(grad_output.shape) != expected:
        seen = tuple(grad_output.shape) if isinstance(grad_output, Tensor) else type(grad_output).__name__
        raise ValueError(f"grad_output must have the output's shape (..., n_q, d_v) = {expected}, got {seen}")
    if grad_output.dtype != queries.dtype:
        raise TypeError(f"grad_output must have the inputs' dtype {queries.dtype}, got {grad_output.dtype}")
    with torch.no_grad():
        output, logsumexp = _forward(queries, keys, values, block_size=block_size, scale=scale, causal=causal)
        grads = _backward(
            queries, keys, values, output, logsumexp, grad_output, block_size=block_size, scale=scale, causal=causal
        )
    return BlockwiseGradients(output, logsumexp, grads[3], *grads[:3])
