"""Attention over given queries, keys and values: scores, weights, context.

The four steps every variant on the site shares, each a small function so that a page
can print the result of each one, and `scaled_dot_product_attention`, which
chains them with the same defaults as `torch.nn.functional.scaled_dot_product_attention`:
``scale=None`` means ``1 / sqrt(d_k)`` and a boolean ``mask`` is ``True`` where a query
may attend to a key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfattention._checks import (
    check_bool,
    check_causal_lengths,
    check_dropout,
    check_finite,
    check_floating,
    check_mask,
    check_queries_keys,
    check_same_device,
    check_same_dtype,
    check_scale,
    check_values,
    default_scale,
)
from selfattention.masks import causal_mask

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


def attention_scores(queries: Tensor, keys: Tensor, *, scale: float | None = None) -> Tensor:
    """Scaled dot products of every query with every key.

    ``scores = queries @ keys^T * scale``, with ``scale=None`` meaning ``1 / sqrt(d_k)``.
    The scores of float16 and bfloat16 inputs are float32, as inside torch's kernels: a
    product of large float16 queries and keys would overflow float16's range (65504).

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)`` -> ``(..., n_q, n_k)``.

    Examples:
        >>> import torch
        >>> from selfattention import attention_scores
        >>> attention_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]]), scale=1.0)
        tensor([[11.]])
    """
    queries, keys = check_queries_keys(queries, keys)
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


def mask_scores(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Apply a mask to the scores before the softmax.

    A boolean ``mask`` is ``True`` where a query may attend to a key (the convention of
    `torch.nn.functional.scaled_dot_product_attention`; ``nn.MultiheadAttention``
    uses the opposite one): a blocked score becomes ``-inf``, so its weight after the
    softmax is exactly 0. A floating ``mask`` is added to the scores. Either must
    broadcast to the scores' shape without changing it. ``mask=None`` returns the scores.

    Shapes: ``scores (..., n_q, n_k)``, ``mask`` broadcastable to it -> ``(..., n_q, n_k)``.

    Examples:
        >>> import torch
        >>> from selfattention import mask_scores
        >>> mask_scores(torch.tensor([[1.0, 2.0]]), torch.tensor([[True, False]]))
        tensor([[1., -inf]])
    """
    scores = check_finite("scores", check_floating("scores", scores), allow_neg_inf=True)
    return _mask(scores, check_mask(mask, scores.shape, dtype=scores.dtype, device=scores.device))


def _mask(scores: Tensor, mask: Tensor | None) -> Tensor:
    """`mask_scores` for a checked mask."""
    if mask is None:
        return scores
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, float("-inf"))
    return scores + mask


def attention_weights(scores: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Softmax of the (masked) scores over the keys, the last dimension.

    ``mask`` is applied first, as in `mask_scores`. A query that may attend to no
    key at all (every score ``-inf``) gets weights of 0, and so a zero context vector, never
    NaN (torch's ``scaled_dot_product_attention`` gives the same zero output on the CPU).

    Shapes: ``scores (..., n_q, n_k)`` -> ``(..., n_q, n_k)``; each row sums to 1, or is
    all 0 when fully masked.

    Examples:
        >>> import torch
        >>> from selfattention import attention_weights
        >>> attention_weights(torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        ...                   mask=torch.tensor([[True, True], [False, False]]))
        tensor([[0.5000, 0.5000],
                [0.0000, 0.0000]])
    """
    return _softmax(mask_scores(scores, mask))


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
    check_same_dtype(weights=weights, values=values)
    check_same_device(weights=weights, values=values)
    if weights.shape[-1] != values.shape[-2] or weights.shape[:-2] != values.shape[:-2]:
        raise ValueError(
            f"weights (..., n_q, n_k) and values (..., n_k, d_v) must agree on n_k and on "
            f"the leading dimensions: weights has shape {tuple(weights.shape)}, values has "
            f"shape {tuple(values.shape)}"
        )


@dataclass(frozen=True)
class AttentionSteps:
    """Every intermediate tensor of one attention computation.

    Attributes:
        queries: ``(..., n_q, d_k)``.
        keys: ``(..., n_k, d_k)``.
        values: ``(..., n_k, d_v)``.
        scores: ``(..., n_q, n_k)``, scaled (and masked, when a mask was given): what
            the softmax is applied to; float32 for float16 and bfloat16 inputs (see
            `attention_scores`).
        weights: ``(..., n_q, n_k)``, the softmax of the scores; each row sums to 1, or is
            all 0 for a query that may attend to no key.
        context: ``(..., n_q, d_v)``, ``weights @ values``.
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


def attention_steps(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    mask: Tensor | None = None,
    scale: float | None = None,
    is_causal: bool = False,
) -> AttentionSteps:
    """Scaled dot-product attention, keeping every intermediate tensor.

    ``mask`` and ``is_causal`` mean what they mean in `scaled_dot_product_attention`. A helper
    for reading the computation: it always checks its inputs for NaN and infinity (see
    `selfattention.checks`), and keeps four ``(..., n_q, n_k)`` tensors.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> `AttentionSteps` whose ``context`` is ``(..., n_q, d_v)``.
    """
    queries, keys = check_queries_keys(queries, keys, always=True)
    values = check_values(values, keys, always=True)
    scale = check_scale(scale)
    mask = _check_mask_or_causal(mask, check_bool("is_causal", is_causal), queries, keys, always=True)
    scores = _mask(_scores(queries, keys, scale), mask)  # (..., n_q, n_k), -inf where blocked
    weights = _softmax(scores).to(values.dtype)  # (..., n_q, n_k)
    context = weights @ values  # (..., n_q, d_v)
    return AttentionSteps(queries, keys, values, scores, weights, context)


def _check_mask_or_causal(
    mask: object, is_causal: bool, queries: Tensor, keys: Tensor, *, always: bool = False
) -> Tensor | None:
    """The checked mask, or the causal mask when ``is_causal`` (built from the shapes, so that
    it traces)."""
    n_q, n_k = queries.shape[-2], keys.shape[-2]
    if is_causal:
        if mask is not None:
            raise ValueError("pass either mask or is_causal=True, not both (as in torch)")
        check_causal_lengths("is_causal", n_q, n_k)
        return causal_mask(n_q, device=queries.device)
    scores_shape = (*queries.shape[:-1], n_k)
    return check_mask(mask, scores_shape, dtype=queries.dtype, device=queries.device, always=always)


def attention_dropout(weights: Tensor, p: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Inverted dropout on attention weights: zero each with probability ``p``, scale the rest
    by ``1 / (1 - p)`` so that the expected weights are unchanged.

    Dropout is random: pass a seeded ``generator`` (or seed torch) for reproducible numbers.
    ``p=0`` returns the weights unchanged.

    Shapes: ``weights (..., n_q, n_k)`` -> ``(..., n_q, n_k)``.
    """
    weights = check_finite("weights", check_floating("weights", weights))
    p = check_dropout(p, name="dropout_p")
    return _dropout(weights, p, generator)


def _dropout(weights: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    if p == 0.0:
        return weights
    keep = torch.rand(weights.shape, generator=generator, device=weights.device) >= p
    return weights * keep / (1.0 - p)


def scaled_dot_product_attention(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    *,
    mask: Tensor | None = None,
    scale: float | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``dropout(softmax(queries @ keys^T * scale + mask)) @ values``.

    The same computation and defaults as `torch.nn.functional.scaled_dot_product_attention`:
    ``scale=None`` means ``1 / sqrt(d_k)``; a boolean ``mask`` is ``True`` where a query may
    attend to a key, a floating ``mask`` is added to the scores; ``is_causal=True`` applies
    `selfattention.causal_mask` (and needs as many queries as keys); ``dropout_p`` drops
    attention weights, drawing from ``generator`` when one is given.

    Shapes: ``queries (..., n_q, d_k)``, ``keys (..., n_k, d_k)``, ``values (..., n_k, d_v)``
    -> ``(..., n_q, d_v)``.
    """
    queries, keys = check_queries_keys(queries, keys)
    values = check_values(values, keys)
    scale = check_scale(scale)
    mask = _check_mask_or_causal(mask, check_bool("is_causal", is_causal), queries, keys)
    dropout_p = check_dropout(dropout_p, name="dropout_p")
    scores = _mask(_scores(queries, keys, scale), mask)  # (..., n_q, n_k)
    # Only a mask can block a whole row (a causal one never does: query i sees key i).
    weights = _softmax(scores) if mask is not None and not is_causal else torch.softmax(scores, dim=-1)
    return _dropout(weights.to(values.dtype), dropout_p, generator) @ values  # (..., n_q, d_v)
