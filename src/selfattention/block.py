"""The transformer block: attention and an MLP, each added to a residual stream after a layer norm.

A pre-norm block (GPT-2; Xiong et al., 2020) computes

    x = x + attention(norm_1(x))
    x = x + mlp(norm_2(x))

so every sub-layer reads a normalised copy of the stream and adds what it computes to it: the
attention layer moves information between positions, the MLP transforms each position on its own.
"""

from __future__ import annotations

from torch import Tensor, nn

from selfattention._checks import check_bool, check_dropout, check_finite, check_floating, check_positive_int
from selfattention.kv_cache import KVCache
from selfattention.multihead import MultiHeadAttention

__all__ = ["TransformerBlock"]


class TransformerBlock(nn.Module):
    """A pre-norm transformer block built on `MultiHeadAttention`.

    ``forward(x) = h + mlp(norm_2(h))`` with ``h = x + attention(norm_1(x))``, where the MLP is
    ``Linear(d_model, d_ff) -> GELU -> Linear(d_ff, d_model)`` and each sub-layer's output goes
    through dropout before it is added (nothing is dropped in evaluation mode).

    Args:
        d_model: width of the residual stream (the input and the output).
        num_heads: query heads of the attention layer; must divide ``d_model``.
        num_kv_heads: key/value heads (grouped-query attention), ``None`` for ``num_heads``.
        d_ff: width of the MLP's hidden layer, ``None`` for ``4 * d_model`` (Vaswani et al., 2017).
        dropout: probability of dropping an attention weight and an element of each sub-layer's
            output while training.
        rope: rotate queries and keys by their positions (`selfattention.apply_rope`).
        causal: let each token attend only to itself and earlier tokens (a decoder); needed for
            ``cache``.

    ``forward(x, *, cache=None)``: ``cache`` is a `selfattention.KVCache` for this block's
    attention layer; the call appends the keys and values of ``x``'s tokens to it and attends
    over everything it holds (see `MultiHeadAttention`).

    Shapes: ``forward(x (..., seq_len, d_model)) -> (..., seq_len, d_model)``.

    Examples:
        >>> import torch
        >>> from selfattention import TransformerBlock
        >>> block = TransformerBlock(d_model=16, num_heads=2)
        >>> block(torch.zeros(3, 5, 16)).shape
        torch.Size([3, 5, 16])
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        d_ff: int | None = None,
        dropout: float = 0.0,
        rope: bool = False,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.d_model = check_positive_int("d_model", d_model)
        if d_model % check_positive_int("num_heads", num_heads) != 0:
            raise ValueError(
                f"num_heads={num_heads} must divide d_model={d_model}: each head gets d_model // num_heads "
                f"dimensions (try num_heads in {[h for h in range(1, d_model + 1) if d_model % h == 0]})"
            )
        self.d_ff = 4 * d_model if d_ff is None else check_positive_int("d_ff", d_ff)
        dropout = check_dropout(dropout)
        self.norm_1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(
            d_model,
            d_model,
            num_heads,
            num_kv_heads=num_kv_heads,
            dropout=dropout,
            causal=check_bool("causal", causal),
            rope=check_bool("rope", rope),
        )
        self.norm_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, self.d_ff), nn.GELU(), nn.Linear(self.d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, *, cache: KVCache | None = None) -> Tensor:
        x = check_finite("x", check_floating("x", x))  # (..., seq_len, d_model)
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (..., seq_len, d_model={self.d_model}), got shape {tuple(x.shape)}")
        x = x + self.dropout(self.attention(self.norm_1(x), cache=cache))  # positions exchange information
        x = x + self.dropout(self.mlp(self.norm_2(x)))  # each position on its own
        return x
