"""Causal self-attention: each token attends to itself and to earlier tokens only.

A decoder generates text one token at a time, so while it is trained no token may look at
the tokens after it. The scores of those pairs are set to ``-inf`` before the softmax, which
gives them a weight of exactly 0; see `selfattention.causal_mask`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from selfattention._checks import check_dropout
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

    ``forward(inputs, mask=None)`` combines the causal mask with an optional ``mask``, boolean
    (``True`` = may attend, e.g. to ignore padding) or floating (added to the scores),
    broadcastable to ``(..., seq_len, seq_len)``. A query left with no key to attend to gets a
    zero output. ``forward`` calls PyTorch's ``F.scaled_dot_product_attention`` (with
    ``is_causal=True`` when there is no other mask), a fused kernel where its conditions hold.

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
        mask = self._check_mask(inputs, mask)
        dropout_p = self.dropout if self.training else 0.0
        if mask is None:
            return F.scaled_dot_product_attention(
                queries, keys, values, dropout_p=dropout_p, is_causal=True, scale=self.scale
            )  # (..., seq_len, d_out)
        mask = causal_and(mask, inputs.shape[-2], device=inputs.device)  # (..., seq_len, seq_len)
        return F.scaled_dot_product_attention(
            queries, keys, values, attn_mask=mask, dropout_p=dropout_p, scale=self.scale
        )  # (..., seq_len, d_out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dropout={self.dropout}"
