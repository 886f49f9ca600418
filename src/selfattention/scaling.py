"""Why scores are scaled by ``1 / sqrt(d_k)``: a seeded experiment.

For queries and keys with independent standard-normal entries, a dot product
``q . k = sum_i q_i k_i`` is a sum of ``d_k`` terms of variance 1, so its variance is ``d_k``.
Unscaled, the scores spread further apart as ``d_k`` grows and the softmax puts nearly all the
weight on one key: its Jacobian tends to 0, and the gradient comes back through fewer and fewer
keys, although the gradient that reaches the query grows. Multiplying by ``1 / sqrt(d_k)`` brings
the variance back to 1 whatever ``d_k`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from selfattention._checks import check_positive_int
from selfattention.attention import attention_scores

__all__ = ["SoftmaxSaturation", "softmax_saturation"]

# A key counts in SoftmaxSaturation.gradient_key_fraction when the gradient reaching its score is
# at least this fraction of the largest one of the same query.
_GRADIENT_THRESHOLD = 0.01


@dataclass(frozen=True)
class SoftmaxSaturation:
    """Statistics of the attention of random queries over random keys.

    The gradients are those of a loss ``L = sum_j w_j u_j``: the attention's output over
    standard-normal values ``u_j`` of width 1, one per key. Its gradient with respect to the
    score ``s_j`` of key ``j`` is ``w_j (u_j - sum_i w_i u_i)``, and with respect to the query
    ``scale * sum_j (dL/ds_j) k_j``.

    Attributes:
        d_k: width of the queries and keys.
        score_variance: variance of the (scaled) scores.
        max_weight: the largest softmax weight of a query, averaged over the queries; it
            tends to 1 (one-hot weights) when the softmax saturates.
        jacobian_norm: Frobenius norm of the softmax's Jacobian ``dw/ds = diag(w) - w w^T``,
            averaged over the queries. It is not the norm of a gradient: it says how much the
            weights respond to the scores, and bounds the gradient that the softmax passes back,
            ``||J u|| <= ||J||_F ||u||``. It tends to 0 when the softmax saturates.
        query_gradient_norm: Euclidean norm of ``dL/dq``, the gradient that reaches the query,
            averaged over the queries.
        gradient_key_fraction: the fraction of a query's keys whose score gets a gradient
            ``|dL/ds_j|`` above 0 and at least 1/100 of the largest of that query, averaged over
            the queries: the share of the keys that the gradient comes through.
    """

    d_k: int
    score_variance: float
    max_weight: float
    jacobian_norm: float
    query_gradient_norm: float
    gradient_key_fraction: float


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
    Pass a seeded ``generator`` for reproducible numbers: the queries are drawn first, then the
    keys, then the values ``u`` of the loss that `SoftmaxSaturation` describes. Computed in float64,
    with autograd enabled even inside ``torch.no_grad()``.

    Shapes: ``num_queries`` queries ``(num_queries, 1, d_k)``, each over its own ``num_keys``
    keys ``(num_queries, num_keys, d_k)`` and values ``(num_queries, num_keys)``.
    """
    check_positive_int("d_k", d_k)
    check_positive_int("num_keys", num_keys)
    check_positive_int("num_queries", num_queries)
    queries = torch.randn(num_queries, 1, d_k, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64)
    values = torch.randn(num_queries, num_keys, generator=generator, dtype=torch.float64)
    with torch.enable_grad():
        queries.requires_grad_(True)
        scores = attention_scores(queries, keys, scale=scale).squeeze(-2)  # (num_queries, num_keys)
        weights = torch.softmax(scores, dim=-1)  # (num_queries, num_keys)
        loss = (weights * values).sum()  # each query's output, summed over the queries
        score_gradient, query_gradient = torch.autograd.grad(loss, (scores, queries))
    weights = weights.detach()
    jacobian = torch.diag_embed(weights) - weights.unsqueeze(-1) * weights.unsqueeze(-2)
    score_gradient = score_gradient.abs()  # (num_queries, num_keys)
    largest = score_gradient.amax(dim=-1, keepdim=True)  # (num_queries, 1)
    reached = (score_gradient > 0) & (score_gradient >= _GRADIENT_THRESHOLD * largest)
    return SoftmaxSaturation(
        d_k=d_k,
        score_variance=scores.detach().var().item(),
        max_weight=weights.amax(dim=-1).mean().item(),
        jacobian_norm=torch.linalg.matrix_norm(jacobian).mean().item(),
        query_gradient_norm=torch.linalg.vector_norm(query_gradient.squeeze(-2), dim=-1).mean().item(),
        gradient_key_fraction=reached.double().mean().item(),
    )
