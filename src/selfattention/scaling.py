"""Why scores are scaled by ``1 / sqrt(d_k)``: a seeded experiment.

For queries and keys with independent standard-normal entries, a dot product
``q . k = sum_i q_i k_i`` is a sum of ``d_k`` terms of variance 1, so its variance is ``d_k``.
Unscaled, the scores spread further apart as ``d_k`` grows, the softmax puts nearly all the
weight on one key, and its gradient vanishes. Multiplying by ``1 / sqrt(d_k)`` brings the
variance back to 1 whatever ``d_k`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from selfattention._checks import check_positive_int
from selfattention.attention import attention_scores

__all__ = ["SoftmaxSaturation", "softmax_saturation"]


@dataclass(frozen=True)
class SoftmaxSaturation:
    """Statistics of the attention of random queries over random keys.

    Attributes:
        d_k: width of the queries and keys.
        score_variance: variance of the (scaled) scores.
        max_weight: the largest softmax weight of a query, averaged over the queries; it
            tends to 1 (one-hot weights) when the softmax saturates.
        gradient_norm: norm of the softmax's Jacobian ``diag(w) - w w^T`` (how much the
            weights respond to the scores), averaged over the queries; it tends to 0.
    """

    d_k: int
    score_variance: float
    max_weight: float
    gradient_norm: float


def softmax_saturation(
    d_k: int,
    *,
    scale: float | None = None,
    num_keys: int = 16,
    num_queries: int = 2000,
    generator: torch.Generator | None = None,
) -> SoftmaxSaturation:
    """Draw standard-normal queries and keys of width ``d_k`` and measure their attention.

    ``scale=None`` scales the scores by ``1 / sqrt(d_k)``, ``scale=1.0`` leaves them unscaled.
    Pass a seeded ``generator`` for reproducible numbers. Computed in float64.

    Shapes: ``num_queries`` queries ``(num_queries, 1, d_k)``, each over its own ``num_keys``
    keys ``(num_queries, num_keys, d_k)``.
    """
    check_positive_int("d_k", d_k)
    check_positive_int("num_keys", num_keys)
    check_positive_int("num_queries", num_queries)
    queries = torch.randn(num_queries, 1, d_k, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64)
    scores = attention_scores(queries, keys, scale=scale).squeeze(-2)  # (num_queries, num_keys)
    weights = torch.softmax(scores, dim=-1)  # (num_queries, num_keys)
    jacobian = torch.diag_embed(weights) - weights.unsqueeze(-1) * weights.unsqueeze(-2)
    return SoftmaxSaturation(
        d_k=d_k,
        score_variance=scores.var().item(),
        max_weight=weights.amax(dim=-1).mean().item(),
        gradient_norm=torch.linalg.matrix_norm(jacobian).mean().item(),
    )
