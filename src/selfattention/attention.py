"""Attention over given queries, keys and values: scores, weights, context.

The four steps every variant on the site shares, each a small function so that a page
can print the result of each one, and `scaled_dot_product_attention`, which
takes the arguments of `torch.nn.functional.scaled_dot_product_attention`, with its names,
order and defaults: ``scale=None`` means ``1 / sqrt(d_k)`` and a boolean ``attn_mask`` is
``True`` where a query may attend to a key. The helper that returns every step
(`attention_steps`) and `scaled_dot_product_attention` run the same private function, so what
the pages print is what the function computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfattention._checks import (
    broadcast_batch,
    check_bool,
    check_dropout,
    check_finite,
    check_floating,
    check_gqa,
    check_like,
    check_mask,
    check_query_key,
    check_scale,
    check_value,
    default_scale,
)
from selfattention.masks import combine, upper_left_causal_mask

HALF = (torch.float16, torch.bfloat16)  # dtypes whose scores and softmax are computed in float32

__all__ = [
    "AttentionSteps",
    "attention_context",
    "attention_dropout",
    "attention_scores",
    "attention_steps",
    "attention_weights",
    "mask_scores",
    "scaled_dot_product_attention",
    "weighted_values",
]


def attention_scores(query: Tensor, key: Tensor, *, scale: float | None = None) -> Tensor:
    """Scaled dot products of every query with every key.

    ``scores = query @ key^T * scale``, with ``scale=None`` meaning ``1 / sqrt(d_k)``.
    The scores of float16 and bfloat16 inputs are float32, as inside torch's kernels: a
    product of large float16 queries and keys would overflow float16's range (65504).

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)`` -> ``(..., n_q, n_k)``.

    Examples:
        >>> import torch
        >>> from selfattention import attention_scores
        >>> attention_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]]), scale=1.0)
        tensor([[11.]])
    """
    queries, keys = check_query_key(query, key)
    return _scores(queries, keys, check_scale(scale))


def _scores(queries: Tensor, keys: Tensor, scale: float | None) -> Tensor:
    """``queries @ keys^T * scale`` of checked queries and keys.

    float16 stops at 65504, and large queries and keys overflow it, before or after the
    scale: half-precision scores are computed in float32, as torch's kernels do.
    """
    scale = default_scale(scale, queries.shape[-1])
    if queries.dtype in HALF:
        queries, keys = queries.float(), keys.float()
    return queries @ keys.transpose(-2, -1) * scale


def mask_scores(scores: Tensor, attn_mask: Tensor | None) -> Tensor:
    """Apply a mask to the scores before the softmax.

    A boolean ``attn_mask`` is ``True`` where a query may attend to a key (the convention of
    `torch.nn.functional.scaled_dot_product_attention`; ``nn.MultiheadAttention``
    uses the opposite one): a blocked score becomes ``-inf``, so its weight after the
    softmax is exactly 0. A floating ``attn_mask`` is added to the scores. Either must
    broadcast to the scores' shape without changing it. ``attn_mask=None`` returns the scores.

    Shapes: ``scores (..., n_q, n_k)``, ``attn_mask`` broadcastable to it -> ``(..., n_q, n_k)``.

    Examples:
        >>> import torch
        >>> from selfattention import mask_scores
        >>> mask_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[True, False]]))
        tensor([[1., -inf]])
    """
    scores = check_finite("scores", check_floating("scores", scores), allow_neg_inf=True)
    return _mask(scores, check_mask(attn_mask, scores.shape, dtype=scores.dtype, device=scores.device))


def _mask(scores: Tensor, mask: Tensor | None) -> Tensor:
    """`mask_scores` for a checked mask."""
    if mask is None:
        return scores
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, float("-inf"))
    return scores + mask


def attention_weights(scores: Tensor, *, attn_mask: Tensor | None = None) -> Tensor:
    """Softmax of the (masked) scores over the keys, the last dimension.

    ``attn_mask`` is applied first, as in `mask_scores`. A query that may attend to no
    key at all (every score ``-inf``) gets weights of 0, and so a zero context vector, never
    NaN (torch's ``scaled_dot_product_attention`` gives the same zero output on the CPU).

    Shapes: ``scores (..., n_q, n_k)`` -> ``(..., n_q, n_k)``; each row sums to 1, or is
    all 0 when fully masked.

    Examples:
        >>> import torch
        >>> from selfattention import attention_weights
        >>> attention_weights(torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        ...                   attn_mask=torch.tensor([[True, True], [False, False]]))
        tensor([[0.5000, 0.5000],
                [0.0000, 0.0000]])
    """
    return _softmax(mask_scores(scores, attn_mask))


def _softmax(scores: Tensor) -> Tensor:
    """Softmax over the keys of (masked, already checked) scores.

    A row whose every score is -inf would be 0/0 = NaN, forward and backward: its scores are
    replaced by 0 before the softmax (so nothing NaN is computed, and no NaN gradient flows
    back) and its weights by 0 after it.
    """
    fully_masked = torch.isneginf(scores).all(dim=-1, keepdim=True)  # (..., n_q, 1)
    weights = torch.softmax(scores.masked_fill(fully_masked, 0.0), dim=-1)
    return weights.masked_fill(fully_masked, 0.0)


def attention_context(weights: Tensor, values: Tensor) -> Tensor:
    """Weighted sum of the values: ``context = weights @ values``.

    Shapes: ``weights (..., n_q, n_k)``, ``values (..., n_k, d_v)`` -> ``(..., n_q, d_v)``.
    """
    _check_weights_values(weights, values)
    return weights @ values


def weighted_values(weights: Tensor, values: Tensor) -> Tensor:
    """Every value scaled by its weight, before they are summed into the context.

    ``result[..., i, j, :] = weights[..., i, j] * values[..., j, :]``, so
    ``result.sum(dim=-2)`` is `attention_context`. It holds ``n_q * n_k * d_v``
    numbers: for showing the computation on small examples, not for real models.

    Shapes: ``weights (..., n_q, n_k)``, ``values (..., n_k, d_v)`` -> ``(..., n_q, n_k, d_v)``.
    """
    _check_weights_values(weights, values)
    return weights.unsqueeze(-1) * values.unsqueeze(-3)


def _check_weights_values(weights: Tensor, values: Tensor) -> None:
    weights = check_finite("weights", check_floating("weights", weights))
    values = check_finite("values", check_floating("values", values))
    check_like("values", values, "weights", weights)
    if weights.shape[-1] != values.shape[-2]:
        raise ValueError(
            f"weights (..., n_q, n_k) and values (..., n_k, d_v) must agree on n_k: weights has shape "
            f"{tuple(weights.shape)}, values has shape {tuple(values.shape)}"
        )
    broadcast_batch(weights=weights, values=values)


@dataclass(frozen=True)
class AttentionSteps:
    """Every intermediate tensor of one attention computation.

    Attributes:
        queries: ``(..., n_q, d_k)``.
        keys: ``(..., n_k, d_k)``; with ``enable_gqa=True``, each key head repeated for the
            query heads of its group, so that there is one per query head.
        values: ``(..., n_k, d_v)``, repeated as the keys are.
        scores: ``(..., n_q, n_k)``, scaled (and masked, when a mask was given): what
            the softmax is applied to; float32 for float16 and bfloat16 inputs (see
            `attention_scores`).
        weights: ``(..., n_q, n_k)``, the softmax of the scores; each row sums to 1, or is
            all 0 for a query that may attend to no key.
        context: ``(..., n_q, d_v)``, ``weights @ values`` (after dropout, when
            `scaled_dot_product_attention` drops weights).
    """

    queries: Tensor
    keys: Tensor
    values: Tensor
    scores: Tensor
    weights: Tensor
    context: Tensor

    @property
    def weighted_values(self) -> Tensor:
        """``(..., n_q, n_k, d_v)``: each value times its weight; summed over ``n_k`` it is
        the context (see `weighted_values`)."""
        return weighted_values(self.weights, self.values)


def _attention(
    query: object,
    key: object,
    value: object,
    attn_mask: object,
    dropout_p: object,
    is_causal: object,
    scale: object,
    enable_gqa: object,
    generator: torch.Generator | None,
    *,
    always: bool,
) -> AttentionSteps:
    """Check the arguments of `scaled_dot_product_attention`, then compute it step by step.

    The one implementation behind `attention_steps` (``always=True``: value checks on, no
    dropout) and `scaled_dot_product_attention`.
    """
    queries, keys = check_query_key(query, key, always=always)
    values = check_value(value, keys, always=always)
    group = check_gqa(enable_gqa, queries, keys, values)
    if group > 1:  # grouped-query attention: key/value head h serves query heads h * group ...
        keys = keys.repeat_interleave(group, dim=-3)  # (..., num_heads, n_k, d_k)
        values = values.repeat_interleave(group, dim=-3)  # (..., num_heads, n_k, d_v)
    scale = check_scale(scale)
    is_causal = check_bool("is_causal", is_causal)
    dropout_p = check_dropout(dropout_p, name="dropout_p", allow_one=True)
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    scores_shape = (*broadcast_batch(query=queries, key=keys, value=values), n_q, n_k)
    mask = check_mask(attn_mask, scores_shape, dtype=queries.dtype, device=queries.device, always=always)
    if is_causal:  # as torch: query i sees keys 0 .. i (upper left), and with a mask, both must allow
        causal = upper_left_causal_mask(n_q, n_k, device=queries.device)
        mask = causal if mask is None else combine(mask, causal)
    scores = _mask(_scores(queries, keys, scale), mask)  # (..., n_q, n_k), -inf where blocked
    # Only a mask can block a whole row (an upper-left causal one never does: query i sees key 0).
    weights = _softmax(scores) if attn_mask is not None else torch.softmax(scores, dim=-1)
    weights = weights.to(values.dtype)  # (..., n_q, n_k)
    context = _dropout(weights, dropout_p, generator) @ values  # (..., n_q, d_v)
    return AttentionSteps(queries, keys, values, scores, weights, context)


def attention_steps(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    enable_gqa: bool = False,
) -> AttentionSteps:
    """Scaled dot-product attention, keeping every intermediate tensor.

    The arguments mean what they mean in `scaled_dot_product_attention` (there is no dropout
    here). A helper for reading the computation: it always checks its inputs for NaN and
    infinity (see `selfattention.checks`), and keeps four ``(..., n_q, n_k)`` tensors.

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)``, ``value (..., n_k, d_v)``
    -> `AttentionSteps` whose ``context`` is ``(..., n_q, d_v)``.
    """
    return _attention(query, key, value, attn_mask, 0.0, is_causal, scale, enable_gqa, None, always=True)


def attention_dropout(weights: Tensor, p: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Inverted dropout on attention weights: zero each with probability ``p``, scale the rest
    by ``1 / (1 - p)`` so that the expected weights are unchanged (``p=1`` zeroes them all).

    Dropout is random: pass a seeded ``generator`` (or seed torch) for reproducible numbers.
    ``p=0`` returns the weights unchanged.

    Shapes: ``weights (..., n_q, n_k)`` -> ``(..., n_q, n_k)``.
    """
    weights = check_finite("weights", check_floating("weights", weights))
    p = check_dropout(p, name="p", allow_one=True)
    return _dropout(weights, p, generator)


def _dropout(weights: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    if p == 0.0:
        return weights
    if p == 1.0:
        return torch.zeros_like(weights)
    keep = torch.rand(weights.shape, generator=generator, device=weights.device) >= p
    return weights * keep / (1.0 - p)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``dropout(softmax(query @ key^T * scale + attn_mask)) @ value``.

    The signature, defaults and results of `torch.nn.functional.scaled_dot_product_attention`
    (a call that works on one works on the other), computed step by step as the pages show it:

    - ``attn_mask``: boolean (``True`` where a query may attend to a key) or floating (added to
      the scores), broadcastable to the scores ``(..., n_q, n_k)``.
    - ``dropout_p``: the probability of dropping each attention weight; it is applied whenever
      it is above 0 (pass 0 in evaluation, as with torch). ``generator`` (an addition of this
      package, keyword-only) makes the draws reproducible.
    - ``is_causal``: query ``i`` may attend to keys ``0 .. i``, aligned to the upper left as in
      torch when there are fewer queries than keys (`selfattention.causal_mask` aligns to the
      lower right, for a KV cache). Combined with ``attn_mask`` when both are given, as torch's
      CPU kernels do.
    - ``scale``: multiplies the scores; ``None`` means ``1 / sqrt(d_k)``.
    - ``enable_gqa``: ``key`` and ``value`` may have fewer heads (dimension -3) than ``query``,
      dividing its number; key/value head ``h`` serves query heads ``h * group`` to
      ``(h + 1) * group - 1``.

    The leading dimensions broadcast, as in torch. A query that may attend to no key gets a
    zero output (as torch's CPU kernels give); scores of float16 and bfloat16 inputs are
    computed in float32.

    Shapes: ``query (..., n_q, d_k)``, ``key (..., n_k, d_k)``, ``value (..., n_k, d_v)``
    -> ``(..., n_q, d_v)``.

    Examples:
        >>> import torch
        >>> from selfattention import scaled_dot_product_attention
        >>> query = key = value = torch.eye(2)
        >>> scaled_dot_product_attention(query, key, value, scale=1.0)
        tensor([[0.7311, 0.2689],
                [0.2689, 0.7311]])
        >>> torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=1.0)
        tensor([[0.7311, 0.2689],
                [0.2689, 0.7311]])
    """
    steps = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, generator, always=False)
    return steps.context
