"""Self-attention with trainable query, key and value weights.

Each input is projected three times: ``queries = inputs @ w_query``,
``keys = inputs @ w_key``, ``values = inputs @ w_value``; then
``context = softmax(queries @ keys^T * scale) @ values``.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from selfattention._checks import (
    check_bool,
    check_finite,
    check_floating,
    check_mask,
    check_module_inputs,
    check_parameters,
    check_positive_int,
    check_scale,
    check_weight,
)
from selfattention.attention import AttentionSteps, attention_steps, scaled_dot_product_attention

__all__ = ["SelfAttention", "self_attention", "self_attention_steps"]


def self_attention_steps(
    inputs: Tensor,
    w_query: Tensor,
    w_key: Tensor,
    w_value: Tensor,
    *,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> AttentionSteps:
    """Self-attention with given weight matrices, keeping every intermediate tensor.

    ``attn_mask``, ``is_causal`` and ``scale`` mean what they mean in
    `selfattention.scaled_dot_product_attention`: ``scale=None`` means ``1 / sqrt(d_k)``, and
    ``scale=1.0`` leaves the scores unscaled; a boolean ``attn_mask`` is ``True`` where a query
    may attend to a key.

    Shapes: ``inputs (..., seq_len, d_in)``, ``w_query (d_in, d_k)``, ``w_key (d_in, d_k)``,
    ``w_value (d_in, d_v)`` -> `selfattention.AttentionSteps` with ``queries`` and
    ``keys (..., seq_len, d_k)``, ``values (..., seq_len, d_v)``, ``scores`` and ``weights
    (..., seq_len, seq_len)``, ``context (..., seq_len, d_v)``.

    A helper for reading the computation: it always checks its inputs and weights for NaN and
    infinity (see `selfattention.checks`).
    """
    queries, keys, values = _project(inputs, w_query, w_key, w_value, always=True)
    return attention_steps(queries, keys, values, attn_mask, is_causal, scale)


def _project(
    inputs: object, w_query: object, w_key: object, w_value: object, *, always: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """Checked queries, keys and values: ``inputs @ w`` for each weight matrix."""
    inputs = check_finite("inputs", check_floating("inputs", inputs), always=always)
    d_in = inputs.shape[-1]
    w_query = check_weight("w_query", w_query, d_in=d_in, inputs=inputs, always=always)
    w_key = check_weight("w_key", w_key, d_in=d_in, inputs=inputs, always=always)
    w_value = check_weight("w_value", w_value, d_in=d_in, inputs=inputs, always=always)
    if w_query.shape[1] != w_key.shape[1]:
        raise ValueError(
            f"w_query and w_key must project to the same width d_k: w_query has shape "
            f"{tuple(w_query.shape)}, w_key has shape {tuple(w_key.shape)}"
        )
    queries = inputs @ w_query  # (..., seq_len, d_k)
    keys = inputs @ w_key  # (..., seq_len, d_k)
    values = inputs @ w_value  # (..., seq_len, d_v)
    return queries, keys, values


def self_attention(
    inputs: Tensor,
    w_query: Tensor,
    w_key: Tensor,
    w_value: Tensor,
    *,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """Context vectors of self-attention with given weight matrices.

    ``softmax((inputs @ w_query) @ (inputs @ w_key)^T * scale) @ (inputs @ w_value)``;
    ``attn_mask``, ``is_causal`` and ``scale`` mean what they mean in
    `selfattention.scaled_dot_product_attention` (``scale=None`` is ``1 / sqrt(d_k)``).

    Shapes: ``inputs (..., seq_len, d_in)``, ``w_query (d_in, d_k)``, ``w_key (d_in, d_k)``,
    ``w_value (d_in, d_v)`` -> ``(..., seq_len, d_v)``.

    Examples:
        >>> import torch
        >>> from selfattention import self_attention
        >>> eye = torch.eye(2)
        >>> self_attention(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), eye, eye, eye, scale=1.0)
        tensor([[0.7311, 0.2689],
                [0.2689, 0.7311]])
    """
    queries, keys, values = _project(inputs, w_query, w_key, w_value)
    return scaled_dot_product_attention(queries, keys, values, attn_mask, is_causal=is_causal, scale=scale)


class SelfAttention(nn.Module):
    """Single-head self-attention with trainable projections.

    ``w_query``, ``w_key`` and ``w_value`` are ``nn.Linear(d_in, d_out)`` layers. An
    ``nn.Linear`` stores its matrix as ``(d_out, d_in)`` and computes ``x @ weight.T``, so
    without bias this module equals
    ``self_attention(inputs, w_query.weight.T, w_key.weight.T, w_value.weight.T)``.

    Args:
        d_in: width of each input vector.
        d_out: width of the queries, keys, values and outputs.
        qkv_bias: give the three projections a bias.
        scale: multiplies the scores; ``None`` means ``1 / sqrt(d_out)``.

    ``forward(inputs, mask=None)``: ``mask`` has the polarity of ``attn_mask`` in
    ``F.scaled_dot_product_attention`` (``True`` = may attend), the opposite of
    ``nn.MultiheadAttention``'s ``attn_mask``; hence its other name. It is boolean or floating
    (added to the scores, of the inputs' dtype), broadcastable to ``(..., seq_len, seq_len)``.
    ``forward`` calls PyTorch's ``F.scaled_dot_product_attention`` (a fused kernel where its
    conditions hold; see `selfattention.MultiHeadAttention`).

    Shapes: ``forward(inputs (..., seq_len, d_in), mask=None) -> (..., seq_len, d_out)``.
    """

    def __init__(self, d_in: int, d_out: int, *, qkv_bias: bool = False, scale: float | None = None) -> None:
        super().__init__()
        check_positive_int("d_in", d_in)
        check_positive_int("d_out", d_out)
        self.d_in = d_in
        self.d_out = d_out
        scale = check_scale(scale)
        self.scale = 1.0 / math.sqrt(d_out) if scale is None else scale
        qkv_bias = check_bool("qkv_bias", qkv_bias)
        self.w_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.w_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.w_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def project(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of the inputs.

        Shapes: ``(..., seq_len, d_in)`` -> three ``(..., seq_len, d_out)`` tensors.
        """
        inputs = check_module_inputs(inputs, self.d_in, self.w_query.weight)
        check_parameters(self)  # a value check: only inside checks()
        return self.w_query(inputs), self.w_key(inputs), self.w_value(inputs)

    def _check_mask(self, inputs: Tensor, mask: object) -> Tensor | None:
        """``mask``, checked against the scores ``(..., seq_len, seq_len)`` of ``inputs``."""
        scores_shape = (*inputs.shape[:-1], inputs.shape[-2])
        return check_mask(mask, scores_shape, dtype=inputs.dtype, device=inputs.device, name="mask")

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        queries, keys, values = self.project(inputs)  # each (..., seq_len, d_out)
        mask = self._check_mask(inputs, mask)
        return F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=self.scale)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, scale={self.scale:.4g}"
