"""A tiny GPT: token ids in, next-token logits out.

Token embeddings (plus learned position embeddings when the blocks do not use RoPE), a stack of
causal `TransformerBlock`s, a final layer norm and a linear output head: the architecture of GPT-2
(Radford et al., 2019) and of Raschka's *Build a Large Language Model (From Scratch)*, ch. 4, at a
size that trains on a CPU in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from selfattention._checks import check_bool, check_dropout, check_positive_int, check_tensor, scanning
from selfattention.block import TransformerBlock
from selfattention.kv_cache import KVCache

__all__ = ["TinyGPT"]


class TinyGPT(nn.Module):
    """A decoder-only language model built from `TransformerBlock`.

    Args:
        vocab_size: number of distinct token ids.
        context_len: the most tokens the model reads at once (the number of learned positions
            with ``rope=False``).
        d_model: width of the embeddings and of the residual stream.
        num_layers: number of transformer blocks.
        num_heads: query heads per block; must divide ``d_model``.
        num_kv_heads: key/value heads per block (grouped-query attention), ``None`` for
            ``num_heads``.
        rope: positions by rotating queries and keys (RoPE, Su et al., 2021) in every block;
            ``False`` adds a learned position embedding to the token embeddings (GPT-2).
        dropout: probability of dropping embeddings, attention weights and sub-layer outputs
            while training.

    ``forward(ids, *, caches=None)``: ``caches`` is one `selfattention.KVCache` per block (see
    `new_caches`); the call appends the keys and values of ``ids`` to them and returns the logits
    of the new tokens only, their positions continuing from what the caches hold.

    Shapes: ``forward(ids (..., seq_len)) -> logits (..., seq_len, vocab_size)``; the logits at
    position ``t`` score the token at ``t + 1``. ``seq_len`` (plus the cached length) is at most
    ``context_len``.

    Examples:
        >>> import torch
        >>> from selfattention import TinyGPT
        >>> model = TinyGPT(vocab_size=10, context_len=8, d_model=16, num_layers=2, num_heads=2)
        >>> model(torch.tensor([[1, 2, 3]])).shape
        torch.Size([1, 3, 10])
    """

    def __init__(
        self,
        vocab_size: int,
        context_len: int,
        d_model: int,
        num_layers: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        rope: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.context_len = check_positive_int("context_len", context_len)
        check_positive_int("num_layers", num_layers)
        self.rope = check_bool("rope", rope)
        dropout = check_dropout(dropout)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        # Learned absolute positions only without RoPE: with RoPE the blocks rotate by position.
        self.position_embedding = None if rope else nn.Embedding(context_len, d_model)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, num_heads, num_kv_heads=num_kv_heads, dropout=dropout, rope=rope)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def new_caches(self) -> list[KVCache]:
        """One empty `selfattention.KVCache` per block, each holding at most ``context_len`` positions."""
        return [KVCache(max_len=self.context_len) for _ in self.blocks]

    def _check_ids(self, ids: object, start: int) -> Tensor:
        tensor = check_tensor("ids", ids)
        if tensor.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"ids must be integer token ids (torch.int64), got {tensor.dtype}")
        if tensor.dim() < 1 or tensor.shape[-1] < 1:
            raise ValueError(f"ids must have shape (..., seq_len) with seq_len >= 1, got shape {tuple(tensor.shape)}")
        if start + tensor.shape[-1] > self.context_len:
            cached = f" after the {start} positions the caches hold" if start else ""
            raise ValueError(
                f"ids has {tensor.shape[-1]} tokens{cached}, more than context_len={self.context_len}: "
                f"pass at most the last {self.context_len - start} (generate() slides a window)"
            )
        if scanning() and bool(((tensor < 0) | (tensor >= self.vocab_size)).any()):
            raise ValueError(f"ids must be in [0, vocab_size={self.vocab_size}), got values outside it")
        return tensor

    def _check_caches(self, caches: object) -> list[KVCache]:
        if not isinstance(caches, Sequence) or not all(isinstance(cache, KVCache) for cache in caches):
            raise TypeError(f"caches must be a list of KVCache (model.new_caches()), got {type(caches).__name__}")
        if len(caches) != len(self.blocks):
            raise ValueError(f"caches must hold one KVCache per block ({len(self.blocks)}), got {len(caches)}")
        if len({cache.seq_len for cache in caches}) != 1:
            raise ValueError("caches must all hold the same number of positions; reset() them for a new sequence")
        return list(caches)

    def forward(self, ids: Tensor, *, caches: Sequence[KVCache] | None = None) -> Tensor:
        checked_caches = None if caches is None else self._check_caches(caches)
        start = 0 if checked_caches is None else checked_caches[0].seq_len  # positions continue from the cache
        ids = self._check_ids(ids, start)
        stream = self.token_embedding(ids)  # (..., seq_len, d_model)
        if self.position_embedding is not None:
            positions = torch.arange(start, start + ids.shape[-1], device=ids.device)
            stream = stream + self.position_embedding(positions)
        stream = self.dropout(stream)
        for index, block in enumerate(self.blocks):
            stream = block(stream, cache=None if checked_caches is None else checked_caches[index])
        logits: Tensor = self.head(self.final_norm(stream))  # (..., seq_len, vocab_size)
        return logits
