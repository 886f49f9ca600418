"""Blockwise attention with an online softmax: O(n) memory instead of O(n^2), in training too.

The naive formula materialises the ``(n_q, n_k)`` matrix of scores. Here the keys and values
are visited one block at a time, and the softmax is computed *online* (Milakov and
Gimelshein, 2018): a running maximum ``m``, a running sum ``l`` of ``exp(score - m)`` and a
running, unnormalised output are rescaled whenever a larger score turns up. Queries are
processed in blocks too, so at most a ``(block_size, block_size)`` tile of scores exists at any
time: the memory-efficient attention of Rabe and Staats (2021) and the tiling of FlashAttention
(Dao et al., 2022), written in plain PyTorch.

The backward pass is written by hand (a ``torch.autograd.Function``), as in FlashAttention: the
forward saves the queries, keys, values, the output ``O`` and each query's log-sum-exp
``L = m + log(l)``, nothing ``n x n``, and the backward recomputes each tile of weights as
``P = exp(S - L)``, with ``D = rowsum(dO * O)``. Forward-mode derivatives (``jvp``) are
computed blockwise from the same saved statistics. The function defines ``setup_context`` and
lets torch generate its ``vmap`` rule, so ``torch.func.grad``, ``vmap``, ``jacrev``, ``jacfwd``
and ``torch.compile`` work through it.

Half precision: for float16 and bfloat16 inputs the score tiles, the running maximum, sum and
accumulator, and the backward's tiles are float32, as in torch's fused kernels; the output
and the gradients are cast back to the inputs' dtype, and the log-sum-exp stays float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

import torch
from torch import Tensor

from selfattention._checks import (
    broadcast_batch,
    check_bool,
    check_finite,
    check_floating,
    check_like,
    check_mask,
    check_positive_int,
    check_query_key,
    check_scale,
    check_value,
    default_scale,
    scanning,
)
from selfattention.attention import HALF  # dtypes computed in float32

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
    query: object,
    key: object,
    value: object,
    attn_mask: object,
    is_causal: object,
    scale: object,
    block_size: object,
    *,
    always: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, bool, float, int]:
    """Check the arguments (value scans only with ``always`` or `selfattention.checks`) and
    return the query, key and value broadcast to one batch shape, the mask broadcast to the
    scores' shape (a view: nothing is copied), ``is_causal``, the scale and ``block_size``."""
    queries, keys = check_query_key(query, key, always=always)
    values = check_value(value, keys, always=always)
    batch = broadcast_batch(query=queries, key=keys, value=values)
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    # Expanded views: one batch shape for the tiles, and three distinct tensors for the
    # autograd.Function even when one tensor is passed three times (torch.compile needs that).
    queries = queries.expand(*batch, *queries.shape[-2:])
    keys = keys.expand(*batch, *keys.shape[-2:])
    values = values.expand(*batch, *values.shape[-2:])
    mask = check_mask(attn_mask, (*batch, n_q, n_k), dtype=queries.dtype, device=queries.device, always=always)
    if mask is not None:
        if mask.requires_grad:
            raise ValueError(
                "attn_mask requires grad, but blockwise_attention does not differentiate with respect to the "
                "mask: pass attn_mask.detach(), or use selfattention.scaled_dot_product_attention"
            )
        mask = mask.expand(*batch, n_q, n_k)
    is_causal = check_bool("is_causal", is_causal)
    block_size = check_positive_int("block_size", block_size)
    return queries, keys, values, mask, is_causal, default_scale(check_scale(scale), queries.shape[-1]), block_size


def _scores_tile(
    scaled_queries: Tensor,
    keys: Tensor,
    mask: Tensor | None,
    *,
    q_start: int,
    k_start: int,
    causal: bool,
) -> Tensor:
    """One tile of scores, ``(..., bq, bk)``, for ``scaled_queries = queries * scale`` at
    positions ``q_start...`` and ``keys`` at ``k_start...``: the tile of ``mask`` (the full
    ``(..., n_q, n_k)`` mask, or ``None``) is applied, and with ``causal`` a key after a query
    scores ``-inf``. The forward and the backward both call it, so the backward recomputes
    exactly the scores the forward saw."""
    scores = scaled_queries @ keys.transpose(-2, -1)  # (..., bq, bk)
    q_end, k_end = q_start + scores.shape[-2], k_start + scores.shape[-1]
    if mask is not None:
        tile = mask[..., q_start:q_end, k_start:k_end]
        scores = scores.masked_fill(~tile, float("-inf")) if tile.dtype == torch.bool else scores + tile
    if causal and k_end > q_start + 1:  # the tile reaches past some query: mask it
        query_index = torch.arange(q_start, q_end, device=scores.device)[:, None]
        key_index = torch.arange(k_start, k_end, device=scores.device)[None, :]
        scores = scores.masked_fill(key_index > query_index, float("-inf"))
    return scores


def _key_starts(q_end: int, n_k: int, block_size: int, causal: bool) -> range:
    """The first key of every key block a query block needs: with ``causal``, none after the
    block's last query (``q_end - 1``)."""
    return range(0, min(q_end, n_k) if causal else n_k, block_size)


def _key_blocks(
    scaled_queries: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
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
        scores = _scores_tile(scaled_queries, key_block, mask, q_start=q_start, k_start=k_start, causal=causal)
        state = state.update(scores, values[..., k_start : k_start + block_size, :])
        yield state


def blockwise_attention_steps(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    scale: float | None = None,
    *,
    block_size: int,
) -> list[OnlineSoftmaxState]:
    """The online-softmax state after each block of keys, all queries at once.

    For showing the algorithm on small examples: the last state's ``output`` is the attention
    and its ``logsumexp`` is what the forward pass saves for the backward. ``attn_mask`` and
    ``scale`` mean what they mean in `blockwise_attention`.

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)``, ``value (..., n_k, d_v)``
    -> one `OnlineSoftmaxState` per block of ``block_size`` keys.
    """
    queries, keys, values, mask, _, scale, block_size = _check(
        query, key, value, attn_mask, False, scale, block_size, always=True
    )
    return list(_key_blocks(queries * scale, keys, values, mask, block_size=block_size, causal=False))


@overload
def _float32(tensor: Tensor) -> Tensor: ...


@overload
def _float32(tensor: None) -> None: ...


def _float32(tensor: Tensor | None) -> Tensor | None:
    """A half-precision tensor in float32 (what the tiles are computed in), others as they are."""
    return tensor.float() if tensor is not None and tensor.dtype in HALF else tensor


def _forward(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
    *,
    block_size: int,
    scale: float,
    causal: bool,
) -> tuple[Tensor, Tensor]:
    """The output ``(..., n_q, d_v)``, in the inputs' dtype, and the log-sum-exp
    ``(..., n_q, 1)``, float32 for half-precision inputs, of every query."""
    dtype = queries.dtype
    queries, keys, values, mask = _float32(queries), _float32(keys), _float32(values), _float32(mask)
    scaled_queries = queries * scale
    outputs, logsumexps = [], []
    for q_start in range(0, queries.shape[-2], block_size):
        query_block = scaled_queries[..., q_start : q_start + block_size, :]  # (..., bq, d_k)
        state = OnlineSoftmaxState.empty(query_block, values.shape[-1])  # no key at all: O = 0, L = -inf
        for state in _key_blocks(  # noqa: B007 - the state after the last key block is the one needed
            query_block, keys, values, mask, block_size=block_size, causal=causal, q_start=q_start
        ):
            pass
        outputs.append(state.output)
        logsumexps.append(state.logsumexp)
    if not outputs:  # no queries
        empty = queries.new_zeros((*queries.shape[:-1], 1))
        return empty.expand(*queries.shape[:-1], values.shape[-1]).to(dtype), empty
    return torch.cat(outputs, dim=-2).to(dtype), torch.cat(logsumexps, dim=-2)


def _tiles(
    queries: Tensor,
    keys: Tensor,
    mask: Tensor | None,
    logsumexp: Tensor,
    *,
    block_size: int,
    scale: float,
    causal: bool,
) -> Iterator[tuple[slice, slice, Tensor, Tensor]]:
    """Every tile the backward and ``jvp`` need: its rows, its columns, the scaled query
    block and the recomputed weights ``P = exp(S - L)`` (float32 for half precision)."""
    # A query with no key to attend to has L = -inf and P = 0: subtract +inf there, so that
    # exp(S - L) is exp(-inf) = 0 instead of exp(+inf) or exp(NaN).
    shift = torch.where(torch.isneginf(logsumexp), float("inf"), logsumexp)
    scaled_queries = queries * scale
    for q_start in range(0, queries.shape[-2], block_size):
        rows = slice(q_start, q_start + block_size)
        query_block = scaled_queries[..., rows, :]  # (..., bq, d_k)
        for k_start in _key_starts(q_start + query_block.shape[-2], keys.shape[-2], block_size, causal):
            columns = slice(k_start, k_start + block_size)
            scores = _scores_tile(
                query_block, keys[..., columns, :], mask, q_start=q_start, k_start=k_start, causal=causal
            )
            yield rows, columns, query_block, torch.exp(scores - shift[..., rows, :])  # P, (..., bq, bk)


def _backward(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
    output: Tensor,
    logsumexp: Tensor,
    grad_output: Tensor,
    grad_logsumexp: Tensor | None = None,
    *,
    block_size: int,
    scale: float,
    causal: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``dQ, dK, dV`` and ``D = rowsum(dO * O)``, recomputing each tile ``P = exp(S - L)``.

    Per tile: ``dV += P^T dO``, ``dP = dO V^T``, ``dS = P * (dP - D)``, ``dQ += dS K``,
    ``dK += dS^T Q``. A gradient ``dL`` of the log-sum-exp (when something differentiates it,
    as a second derivative does) adds ``P * dL`` to ``dS``, since ``dL/dS = P``. The factor
    ``scale`` of ``S = scale * Q K^T`` goes into ``dQ`` at the end and into ``dK`` through the
    scaled queries. Half-precision inputs are computed in float32.
    """
    dtype = queries.dtype
    queries, keys, values, mask = _float32(queries), _float32(keys), _float32(values), _float32(mask)
    output, grad_output = _float32(output), _float32(grad_output)
    delta = (grad_output * output).sum(dim=-1, keepdim=True)  # D, (..., n_q, 1)
    if grad_logsumexp is not None:
        delta = delta - grad_logsumexp  # dS = P * (dP - D + dL)
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    # One running sum per block of queries (dQ) and of keys (dK, dV), started by the first tile
    # that reaches it, then added to in place (an addition saves nothing for autograd, so a
    # second derivative still works, and the first term is batched under vmap).
    grad_query_blocks: list[Tensor | None] = [None] * len(_blocks(n_q, block_size))
    grad_key_blocks: list[Tensor | None] = [None] * len(_blocks(n_k, block_size))
    grad_value_blocks: list[Tensor | None] = [None] * len(_blocks(n_k, block_size))
    for rows, columns, query_block, weights in _tiles(
        queries, keys, mask, logsumexp, block_size=block_size, scale=scale, causal=causal
    ):
        i, j = rows.start // block_size, columns.start // block_size
        grad_output_block = grad_output[..., rows, :]  # (..., bq, d_v)
        key_block, value_block = keys[..., columns, :], values[..., columns, :]
        _accumulate(grad_value_blocks, j, weights.transpose(-2, -1) @ grad_output_block)  # P^T dO
        grad_weights = grad_output_block @ value_block.transpose(-2, -1)  # dP = dO V^T
        grad_scores = weights * (grad_weights - delta[..., rows, :])  # dS = P * (dP - D)
        _accumulate(grad_query_blocks, i, grad_scores @ key_block)  # dS K
        _accumulate(grad_key_blocks, j, grad_scores.transpose(-2, -1) @ query_block)  # dS^T (scale Q)
    return (
        (_join(grad_query_blocks, queries, block_size) * scale).to(dtype),
        _join(grad_key_blocks, keys, block_size).to(dtype),
        _join(grad_value_blocks, values, block_size).to(dtype),
        (grad_output * output).sum(dim=-1, keepdim=True),
    )


def _accumulate(sums: list[Tensor | None], index: int, term: Tensor) -> None:
    """``sums[index] += term``, where ``None`` is 0."""
    total = sums[index]
    sums[index] = term if total is None else total.add_(term)


def _join(blocks: list[Tensor | None], like: Tensor, block_size: int) -> Tensor:
    """The blocks' sums joined along the sequence; a block no tile reached (with a causal mask,
    a key after every query) is zero."""
    parts = [
        torch.zeros_like(like[..., start : start + block_size, :]) if block is None else block
        for start, block in zip(range(0, like.shape[-2], block_size), blocks, strict=True)
    ]
    return torch.cat(parts, dim=-2) if parts else torch.zeros_like(like)


def _blocks(length: int, block_size: int) -> list[slice]:
    return [slice(start, start + block_size) for start in range(0, length, block_size)]


def _cat(blocks: list[Tensor], like: Tensor) -> Tensor:
    """The blocks joined along the sequence, or zeros like ``like`` when there are none."""
    return torch.cat(blocks, dim=-2) if blocks else torch.zeros_like(like)


def _jvp(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
    output: Tensor,
    logsumexp: Tensor,
    tangents: tuple[Tensor | None, Tensor | None, Tensor | None],
    *,
    block_size: int,
    scale: float,
    causal: bool,
) -> tuple[Tensor, Tensor]:
    """The forward-mode derivatives of the output and the log-sum-exp along ``tangents =
    (dQ, dK, dV)`` (``None`` for zero), tile by tile: with ``dS = scale (dQ K^T + Q dK^T)`` and
    ``c = rowsum(P * dS)``, ``dO = (P * dS) V + P dV - c O`` and ``dL = c``."""
    dtype = queries.dtype
    queries, keys, values, mask = _float32(queries), _float32(keys), _float32(values), _float32(mask)
    output = _float32(output)
    grad_queries, grad_keys, grad_values = (None if t is None else _float32(t) for t in tangents)
    n_q = queries.shape[-2]
    accumulated = [torch.zeros_like(output[..., rows, :]) for rows in _blocks(n_q, block_size)]
    row_sums = [torch.zeros_like(output[..., rows, :1]) for rows in _blocks(n_q, block_size)]
    for rows, columns, _, weights in _tiles(
        queries, keys, mask, logsumexp, block_size=block_size, scale=scale, causal=causal
    ):
        i = rows.start // block_size
        key_block, value_block = keys[..., columns, :], values[..., columns, :]
        tangent_scores = torch.zeros_like(weights)  # dS, (..., bq, bk)
        if grad_queries is not None:
            tangent_scores = tangent_scores + grad_queries[..., rows, :] @ key_block.transpose(-2, -1) * scale
        if grad_keys is not None:
            tangent_scores = (
                tangent_scores + queries[..., rows, :] @ grad_keys[..., columns, :].transpose(-2, -1) * scale
            )
        # A blocked score is -inf and its weight 0: its tangent does not count.
        weighted = torch.where(weights > 0, weights * tangent_scores, 0.0)  # P * dS
        accumulated[i] = accumulated[i] + weighted @ value_block
        if grad_values is not None:
            accumulated[i] = accumulated[i] + weights @ grad_values[..., columns, :]
        row_sums[i] = row_sums[i] + weighted.sum(dim=-1, keepdim=True)
    row_sum = _cat(row_sums, output[..., :1])  # c = dL, (..., n_q, 1)
    return (_cat(accumulated, output) - row_sum * output).to(dtype), row_sum.to(logsumexp.dtype)


class _BlockwiseAttention(torch.autograd.Function):
    """Blockwise attention whose backward recomputes the tiles instead of storing them.

    ``forward`` returns the output and the log-sum-exp (an output so that ``setup_context``
    may save it); torch generates the ``vmap`` rule. The backward is made of differentiable
    operations, so a second derivative (``create_graph=True``, ``torch.func.hessian``)
    differentiates through it, with the ``(n, n)`` tiles it then records.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        queries: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None,
        block_size: int,
        scale: float,
        causal: bool,
        scan: bool,
    ) -> tuple[Tensor, Tensor]:
        return _forward(queries, keys, values, mask, block_size=block_size, scale=scale, causal=causal)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        queries, keys, values, mask, block_size, scale, causal, scan = inputs
        result, logsumexp = output
        saved = (queries, keys, values, result, logsumexp) + (() if mask is None else (mask,))  # nothing n x n
        ctx.save_for_backward(*saved)  # ... but the mask given, when one is
        ctx.save_for_forward(*saved)
        ctx.options = {"block_size": block_size, "scale": scale, "causal": causal}
        ctx.scan = scan  # value checks were on at the forward: scan grad_output too

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor, grad_logsumexp: Tensor | None) -> tuple[Tensor | None, ...]:
        # grad_output is never None: autograd gives zeros for an output that received no gradient
        # (materialize_grads, on by default).
        queries, keys, values, output, logsumexp, *mask = ctx.saved_tensors
        check_finite("grad_output", grad_output, always=ctx.scan)
        grad_queries, grad_keys, grad_values, _ = _backward(
            queries,
            keys,
            values,
            mask[0] if mask else None,
            output,
            logsumexp,
            grad_output,
            grad_logsumexp,
            **ctx.options,
        )
        return grad_queries, grad_keys, grad_values, None, None, None, None, None


class _BlockwiseAttentionForwardAD(_BlockwiseAttention):
    """`_BlockwiseAttention` with forward-mode derivatives (``torch.func.jvp``, ``jacfwd``,
    ``torch.autograd.forward_ad``). ``torch.compile`` cannot trace a custom ``jvp``, so a traced
    call uses the parent class."""

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> tuple[Tensor, Tensor]:
        grad_queries, grad_keys, grad_values, grad_mask = tangents[:4]
        if grad_mask is not None:
            raise ValueError("blockwise_attention does not differentiate with respect to attn_mask")
        queries, keys, values, output, logsumexp, *mask = ctx.saved_tensors
        tangents = (grad_queries, grad_keys, grad_values)
        return _jvp(queries, keys, values, mask[0] if mask else None, output, logsumexp, tangents, **ctx.options)


def blockwise_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    block_size: int = 256,
) -> Tensor:
    """Scaled dot-product attention that never holds more than a block-by-block tile of scores,
    in the forward pass and in the backward pass.

    The arguments of `selfattention.scaled_dot_product_attention` but dropout and grouped-query
    heads (``attn_mask``, ``is_causal`` aligned to the upper left, ``scale=None`` meaning
    ``1 / sqrt(d_k)``), and ``block_size``. Equal to ``softmax(query @ key^T * scale + mask) @ value`` up to rounding,
    and so are its gradients. With ``is_causal``, key blocks entirely after a query block are
    skipped, so ``T (T + 1) / 2`` of the ``T^2`` tiles of ``T`` blocks are computed: nearly half
    when there are many. A query with no key to attend to gets a zero output and zero
    gradients. For float16 and bfloat16 inputs the tiles and the running statistics are float32.

    Memory: ``O(n * d + block_size^2)`` per batch element and head (plus the ``attn_mask``
    given, which is read tile by tile), against ``O(n^2)`` for the naive form, for training
    too: the forward saves the inputs, the output and one log-sum-exp per query, and the
    backward recomputes the tiles of weights from them. ``torch.func`` transforms (``grad``,
    ``vmap``, ``jacrev``, ``jacfwd``, ``hessian``), forward-mode AD and ``torch.compile`` work
    through it. A second derivative differentiates through the backward pass and records its
    tiles, ``O(n^2)`` memory again. The mask is not differentiated.

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)``, ``value (..., n_k, d_v)``
    -> ``(..., n_q, d_v)``.
    """
    queries, keys, values, mask, is_causal, scale, block_size = _check(
        query, key, value, attn_mask, is_causal, scale, block_size
    )
    function = _BlockwiseAttention if torch.compiler.is_compiling() else _BlockwiseAttentionForwardAD
    output, _ = function.apply(queries, keys, values, mask, block_size, scale, is_causal, scanning())
    return output  # type: ignore[no-any-return]


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
    query: Tensor,
    key: Tensor,
    value: Tensor,
    grad_output: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    block_size: int = 256,
) -> BlockwiseGradients:
    """The backward pass of `blockwise_attention` by hand, with what it saves and computes.

    ``grad_output`` is ``dO``, the gradient of the loss with respect to the output. The
    gradients are those ``blockwise_attention(...).backward(grad_output)`` leaves in ``.grad``
    (for inputs of one batch shape). For showing the algorithm on small examples.

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)``, ``value (..., n_k, d_v)``,
    ``grad_output (..., n_q, d_v)`` -> `BlockwiseGradients`.
    """
    queries, keys, values, mask, is_causal, scale, block_size = _check(
        query, key, value, attn_mask, is_causal, scale, block_size
    )
    grad_output = check_finite("grad_output", check_floating("grad_output", grad_output))
    expected = (*queries.shape[:-1], values.shape[-1])
    if tuple(grad_output.shape) != expected:
        raise ValueError(
            f"grad_output must have the output's shape (..., n_q, d_v) = {expected}, got {tuple(grad_output.shape)}"
        )
    check_like("grad_output", grad_output, "query", queries)
    options = {"block_size": block_size, "scale": scale, "causal": is_causal}
    with torch.no_grad():
        output, logsumexp = _forward(queries, keys, values, mask, **options)  # type: ignore[arg-type]
        grads = _backward(queries, keys, values, mask, output, logsumexp, grad_output, **options)  # type: ignore[arg-type]
    return BlockwiseGradients(output, logsumexp, grads[3], *grads[:3])
