"""Multi-head attention: several attention heads side by side, in one batched product.

The queries, keys and values of width ``d_out`` are split into ``num_heads`` slices of width
``head_dim = d_out // num_heads``; each head attends with its own slice, and the heads'
outputs are concatenated and mixed by an output projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch.nn.functional as F
from torch import Tensor, nn

from selfattention._checks import (
    check_bool,
    check_dropout,
    check_mask,
    check_module_inputs,
    check_positive_int,
)
from selfattention.attention import AttentionSteps, attention_steps
from selfattention.masks import causal_and, causal_mask

__all__ = ["MultiHeadAttention", "MultiHeadSteps"]


@dataclass(frozen=True)
class MultiHeadSteps(AttentionSteps):
    """Every intermediate tensor of one `MultiHeadAttention` forward pass (no dropout).

    The fields of `AttentionSteps`, per head: ``queries``, ``keys``, ``values`` and
    ``context`` are ``(..., num_heads, seq_len, head_dim)``, ``scores`` and ``weights``
    ``(..., num_heads, seq_len, seq_len)``. Then:

    Attributes:
        concatenated: ``(..., seq_len, d_out)``, the heads side by side.
        output: ``(..., seq_len, d_out)``, after the output projection.
    """

    concatenated: Tensor
    output: Tensor


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention.

    Args:
        d_in: width of each input vector.
        d_out: width of the output, split evenly across the heads.
        num_heads: number of heads; must divide ``d_out``.
        dropout: probability of zeroing each attention weight while training; nothing is
            dropped in evaluation mode (``module.eval()``).
        causal: let each token attend only to itself and earlier tokens.
        qkv_bias: give the query, key and value projections a bias (the output projection
            always has one, as in ``nn.MultiheadAttention``).

    The scores of each head are scaled by ``1 / sqrt(head_dim)``, the width of one head (not
    of ``d_out``). ``forward(inputs, mask=None)`` takes an optional boolean ``mask``
    (``True`` = may attend) of shape ``(seq_len, seq_len)``, or with batch dimensions
    ``(..., 1 or num_heads, seq_len, seq_len)``; with ``causal=True`` it is combined with
    the causal mask.

    ``forward`` runs on PyTorch's fused ``F.scaled_dot_product_attention`` (flash or
    memory-efficient kernels where the device has them) and checks only metadata; ``steps``
    computes the same thing explicitly, one tensor at a time.

    Shapes: ``forward(inputs (..., seq_len, d_in)) -> (..., seq_len, d_out)``.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        causal: bool = False,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("d_in", d_in)
        check_positive_int("d_out", d_out)
        check_positive_int("num_heads", num_heads)
        if d_out % num_heads != 0:
            raise ValueError(
                f"num_heads={num_heads} must divide d_out={d_out}: each head gets "
                f"d_out // num_heads dimensions (try num_heads in "
                f"{[h for h in range(1, d_out + 1) if d_out % h == 0]})"
            )
        self.d_in, self.d_out, self.num_heads = d_in, d_out, num_heads
        self.head_dim = d_out // num_heads
        self.dropout = check_dropout(dropout)
        self.causal = check_bool("causal", causal)
        self.w_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.w_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.w_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)

    def split_heads(self, projected: Tensor) -> Tensor:
        """``(..., seq_len, d_out) -> (..., num_heads, seq_len, head_dim)``."""
        *batch, seq_len, _ = projected.shape
        return projected.view(*batch, seq_len, self.num_heads, self.head_dim).transpose(-3, -2)

    def merge_heads(self, context: Tensor) -> Tensor:
        """``(..., num_heads, seq_len, head_dim) -> (..., seq_len, d_out)``: heads side by side."""
        *batch, _, seq_len, _ = context.shape
        return context.transpose(-3, -2).reshape(*batch, seq_len, self.d_out)

    def check(self, inputs: Tensor, mask: Tensor | None) -> tuple[Tensor | None, bool]:
        """Check ``inputs`` and ``mask`` (metadata only) and return the ``attn_mask`` and
        ``is_causal`` arguments of ``F.scaled_dot_product_attention``: with ``causal=True``,
        ``(None, True)`` without a mask, or the mask combined with the causal mask.

        Shapes: ``inputs (..., seq_len, d_in)``, ``mask (seq_len, seq_len)`` or
        ``(..., 1 or num_heads, seq_len, seq_len)`` -> a mask broadcastable to
        ``(..., num_heads, seq_len, seq_len)``, or ``None``.
        """
        inputs = check_module_inputs(inputs, self.d_in, self.w_query.weight)
        *batch, seq_len, _ = inputs.shape
        if mask is not None:
            scores_shape = (*batch, self.num_heads, seq_len, seq_len)
            mask = check_mask(mask, scores_shape, dtype=inputs.dtype, device=inputs.device)
            if mask.dim() > 2 and mask.dim() != len(scores_shape):
                raise ValueError(
                    f"a mask with batch dimensions must have a head dimension too: expected "
                    f"shape (..., 1 or {self.num_heads}, {seq_len}, {seq_len}) for inputs of "
                    f"shape {tuple(inputs.shape)}, got {tuple(mask.shape)}"
                )
        if not self.causal:
            return mask, False
        if mask is None:
            return None, True
        return causal_and(mask, seq_len, device=inputs.device), False

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        mask, is_causal = self.check(inputs, mask)
        queries = self.split_heads(self.w_query(inputs))  # (..., num_heads, seq_len, head_dim)
        keys = self.split_heads(self.w_key(inputs))  # (..., num_heads, seq_len, head_dim)
        values = self.split_heads(self.w_value(inputs))  # (..., num_heads, seq_len, head_dim)
        context = F.scaled_dot_product_attention(  # (..., num_heads, seq_len, head_dim)
            queries, keys, values, attn_mask=mask, is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
        )  # fmt: skip
        return self.out_proj(self.merge_heads(context))  # (..., seq_len, d_out)

    def steps(self, inputs: Tensor, mask: Tensor | None = None) -> MultiHeadSteps:
        """The forward pass without dropout, computed explicitly and keeping every
        intermediate tensor (and checking the values for NaN and infinity)."""
        mask, is_causal = self.check(inputs, mask)
        if is_causal:
            mask = causal_mask(inputs.shape[-2], device=inputs.device)
        queries = self.split_heads(self.w_query(inputs))  # (..., num_heads, seq_len, head_dim)
        keys = self.split_heads(self.w_key(inputs))  # (..., num_heads, seq_len, head_dim)
        values = self.split_heads(self.w_value(inputs))  # (..., num_heads, seq_len, head_dim)
        steps = attention_steps(queries, keys, values, mask=mask)
        concatenated = self.merge_heads(steps.context)
        per_head = {field.name: getattr(steps, field.name) for field in fields(steps)}
        return MultiHeadSteps(**per_head, concatenated=concatenated, output=self.out_proj(concatenated))

    def extra_repr(self) -> str:
        return (
            f"d_in={self.d_in}, d_out={self.d_out}, num_heads={self.num_heads}, "
            f"head_dim={self.head_dim}, dropout={self.dropout}, causal={self.causal}, "
            f"scale=1/sqrt({self.head_dim})={1 / math.sqrt(self.head_dim):.4g}"
        )
