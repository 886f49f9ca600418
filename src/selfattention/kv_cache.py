"""The key/value cache: generation without recomputing the keys and values of the past.

A decoder generates one token per step, and each step attends over every token so far. The
keys and values of the earlier tokens do not change from one step to the next (the causal
mask keeps later tokens out of them), so a `KVCache` keeps them: each call of
``MultiHeadAttention(..., causal=True)`` with ``cache=`` computes the keys and values of its
new tokens only, appends them, and attends over everything held.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_finite, check_floating, check_like, check_size, scanning

__all__ = ["KVCache"]


class KVCache:
    """The keys and values one attention layer has seen so far, for incremental decoding.

    Use one cache per layer and per sequence batch: pass it as
    ``MultiHeadAttention.forward(..., cache=cache)``, which appends the keys and values of
    the new tokens (after RoPE, when the module has ``rope=True``) and attends over all of
    them. The keys and values are stored per key/value head, so grouped-query attention
    (``num_kv_heads < num_heads``) stores ``num_heads / num_kv_heads`` times less.

    Args:
        max_len: the most positions the cache may hold (e.g. a model's context length);
            ``None`` for no limit. Appending past it raises a ``ValueError``.

    Attributes:
        keys: ``(..., num_kv_heads, seq_len, head_dim)`` or ``None`` while empty.
        values: ``(..., num_kv_heads, seq_len, head_dim)`` or ``None`` while empty.

    The cache grows by concatenation and reads only shapes, never tensor values. It is meant
    for inference (``torch.no_grad()``); ``reset()`` empties it for a new sequence.

    Examples:
        >>> import torch
        >>> from selfattention import KVCache
        >>> cache = KVCache()
        >>> keys = values = torch.zeros(1, 2, 5, 4)  # (batch, num_kv_heads, seq_len, head_dim)
        >>> _ = cache.append(keys, values)
        >>> len(cache), cache.nbytes  # 2 tensors * 1 * 2 * 5 * 4 floats * 4 bytes
        (5, 320)
    """

    def __init__(self, max_len: int | None = None) -> None:
        self.max_len = None if max_len is None else check_size("max_len", max_len, minimum=1)
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    @property
    def seq_len(self) -> int:
        """The number of positions held (the position the next token gets)."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def __len__(self) -> int:
        return self.seq_len

    @property
    def nbytes(self) -> int:
        """The memory the cached keys and values occupy, in bytes."""
        if self.keys is None or self.values is None:
            return 0
        return self.keys.nbytes + self.values.nbytes

    def check(self, keys: Tensor, values: Tensor) -> None:
        """Check that ``keys`` and ``values`` can be appended: floating tensors of at least three
        dimensions, of one shape, dtype and device, of the shape but for the length of what is
        held, and within ``max_len``. Metadata only, unless value checks are on (`selfattention.checks`):
        then the new keys and values and everything held are scanned for NaN and infinity."""
        keys = check_floating("keys", keys, min_dim=3)
        values = check_floating("values", values, min_dim=3)
        check_like("values", values, "keys", keys)
        if keys.shape != values.shape:
            raise ValueError(
                f"keys and values must have the same shape, got {tuple(keys.shape)} and {tuple(values.shape)}"
            )
        new = keys.shape[-2]
        if self.max_len is not None and self.seq_len + new > self.max_len:
            raise ValueError(
                f"cache holds {self.seq_len} positions and max_len={self.max_len}: "
                f"{new} more would reach position {self.seq_len + new - 1}, past the limit"
            )
        if scanning():
            for name, tensor in (
                ("keys", keys),
                ("values", values),
                ("cache.keys", self.keys),
                ("cache.values", self.values),
            ):
                if tensor is not None:
                    check_finite(name, tensor)
        if self.keys is None:
            return
        held = self.keys
        if keys.shape[:-3] != held.shape[:-3]:
            raise ValueError(
                f"cache holds keys of batch shape {tuple(held.shape[:-3])} but the new ones have batch "
                f"shape {tuple(keys.shape[:-3])}: use one cache per batch of sequences, or reset() it"
            )
        if keys.shape[-3] != held.shape[-3] or keys.shape[-1] != held.shape[-1]:
            raise ValueError(
                f"cache holds keys of shape (..., num_kv_heads={held.shape[-3]}, seq_len, head_dim="
                f"{held.shape[-1]}) but the new ones have shape {tuple(keys.shape)}: use one cache per layer"
            )
        check_like("keys", keys, "the keys the cache holds", held)

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Append the keys and values of new positions; return everything held.

        Shapes: ``keys``, ``values`` ``(..., num_kv_heads, new_len, head_dim)`` ->
        ``(..., num_kv_heads, seq_len + new_len, head_dim)`` each.
        """
        self.check(keys, values)
        if self.keys is None or self.values is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat((self.keys, keys), dim=-2)
            self.values = torch.cat((self.values, values), dim=-2)
        return self.keys, self.values

    def reset(self) -> None:
        """Empty the cache, for a new sequence."""
        self.keys = self.values = None

    def __repr__(self) -> str:
        shape = None if self.keys is None else tuple(self.keys.shape)
        return f"KVCache(seq_len={self.seq_len}, max_len={self.max_len}, keys_shape={shape}, nbytes={self.nbytes})"
