"""Causal self-attention: each token attends to itself and to earlier tokens only.

A decoder generates text one token at a time, so while it is trained no token may look at
the tokens after it. The scores of those pairs are set to ``-inf`` before the softmax, which
gives them a weight of exactly 0; see `selfattention.causal_mask`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_dropout, check_mask
from selfattention.attention import scaled_dot_product_attention
from selfattention.masks import causal_and
from selfattention.trainable import SelfAttention

__all__ = ["CausalSelfAttention"]


class CausalSelfAttention(SelfAttention):
    """Single-head causal self-attention with dropout on the attention weights.

    Args:
        d_in: width of each input vector.
        d_out: width of the queries, keys, values and outputs.
        dropout: probability of zeroing each attention weight while training
            (``module.train()``); in evaluation mode (``module.eval()``) nothing is dropped.
        qkv_bias: give the query, key and value projections a bias.
        scale: multiplies the scores; ``None`` means ``1 / sqrt(d_out)``.

    ``forward(inputs, mask=None)`` combines the causal mask with an optional boolean ``mask``
    (``True`` = may attend, e.g. to ignore padding), broadcastable to
    ``(..., seq_len, seq_len)``. A query left with no key to attend to gets a zero output.

    Shapes: ``forward(inputs (..., seq_len, d_in)) -> (..., seq_len, d_out)``.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        dropout: float = 0.0,
        qkv_bias: bool = False,
        scale: float | None = None,
    ) -> None:
        super().__init__(d_in, d_out, qkv_bias=qkv_bias, scale=scale)
        self.dropout = check_dropout(dropout)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        queries, keys, values = self.project(inputs)  # each (..., seq_len, d_out)
        seq_len = inputs.shape[-2]
        if mask is not None:
            mask = check_mask(mask, torch.Size((*inputs.shape[:-1], seq_len)))
        return scaled_dot_product_attention(
            queries,
            keys,
            values,
            mask=causal_and(mask, seq_len, device=inputs.device),
            scale=self.scale,
            dropout_p=self.dropout if self.training else 0.0,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dropout={self.dropout}"
