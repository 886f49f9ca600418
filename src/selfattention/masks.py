"""Boolean attention masks, ``True`` where a query may attend to a key.

This is the convention of `torch.nn.functional.scaled_dot_product_attention` and of
every function in this package. ``nn.MultiheadAttention`` uses the opposite one (``True`` =
blocked): convert with ``~mask`` (see `selfattention.interop.to_torch_attn_mask`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from selfattention._checks import check_size, check_tensor

__all__ = ["causal_and", "causal_mask", "padding_mask"]


def causal_mask(seq_len: int, *, key_len: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """The mask that lets each position attend to itself and to earlier positions only.

    ``seq_len`` may be 0 (an empty mask) or a size read from a traced tensor's shape, so the
    mask can be built inside ``torch.compile`` and ``torch.export``.

    With ``key_len`` (at least ``seq_len``), the ``seq_len`` queries are the **last**
    ``seq_len`` of ``key_len`` positions, as when new tokens arrive at a
    [key/value cache][selfattention.kv_cache.KVCache]: query ``i`` may attend to keys
    ``0 .. key_len - seq_len + i``. This is the lower-right alignment of
    ``torch.nn.attention.bias.causal_lower_right``; ``F.scaled_dot_product_attention``'s
    ``is_causal=True`` aligns to the upper left instead.

    Shapes: ``-> (seq_len, key_len)`` (``key_len`` defaults to ``seq_len``), boolean; broadcasts
    against scores of shape ``(..., seq_len, key_len)``.

    Examples:
        >>> import torch
        >>> from selfattention import causal_mask
        >>> causal_mask(3)
        tensor([[ True, False, False],
                [ True,  True, False],
                [ True,  True,  True]])
        >>> causal_mask(2, key_len=4)  # two new queries after two cached positions
        tensor([[ True,  True,  True, False],
                [ True,  True,  True,  True]])
    """
    seq_len = check_size("seq_len", seq_len, minimum=0)
    if key_len is None:
        return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
    key_len = check_size("key_len", key_len, minimum=0)
    if not isinstance(key_len, torch.SymInt) and not isinstance(seq_len, torch.SymInt) and key_len < seq_len:
        raise ValueError(f"key_len={key_len} must be at least seq_len={seq_len}: the queries are the last positions")
    return torch.ones(seq_len, key_len, dtype=torch.bool, device=device).tril(key_len - seq_len)


def causal_and(
    mask: Tensor | None,
    seq_len: int,
    *,
    key_len: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """`causal_mask` combined with an optional ``mask`` (e.g. for padding): a query may attend
    to a key only where both allow it. A boolean ``mask`` (``True`` = may attend) gives a boolean
    result; a floating one (added to the scores) gives it back with ``-inf`` where the causal
    mask blocks. ``key_len`` aligns the queries to the last positions, as in `causal_mask`. The
    causal mask is built on ``device``, or on ``mask``'s device when ``device`` is not given.

    Shapes: ``mask`` broadcastable with ``(seq_len, key_len)`` -> the broadcast shape.

    Examples:
        >>> import torch
        >>> from selfattention import causal_and
        >>> causal_and(torch.tensor([True, True, False]), 3)  # the third key is padding
        tensor([[ True, False, False],
                [ True,  True, False],
                [ True,  True, False]])
    """
    if mask is None:
        return causal_mask(seq_len, key_len=key_len, device=device)
    mask = check_tensor("mask", mask)
    return combine(mask, causal_mask(seq_len, key_len=key_len, device=mask.device if device is None else device))


def padding_mask(lengths: Tensor | Sequence[int], seq_len: int | None = None) -> Tensor:
    """Which positions of a padded batch hold real tokens: ``True`` for the first ``lengths[b]``
    positions of sequence ``b``, ``False`` for the padding after them.

    Used as a key mask (``True`` = may attend), it keeps every query away from the padding:
    give it a query dimension, ``mask[:, None, :]`` for scores ``(batch, seq_len, seq_len)``, or a
    head dimension too, ``mask[:, None, None, :]`` for ``(batch, num_heads, seq_len, seq_len)``,
    and combine it with a causal mask by ``&`` (or `causal_and`). For a batch padded on the left,
    flip it: ``padding_mask(lengths, seq_len).flip(-1)``. Reads the lengths' values (a host
    synchronisation for lengths on an accelerator).

    Args:
        lengths: the number of real tokens of each sequence, a 1-D integer tensor or a sequence
            of ints, each between 0 and ``seq_len``.
        seq_len: the padded length; ``None`` means the longest of ``lengths`` (0 for an empty
            batch).

    Shapes: ``lengths (batch,)`` -> ``(batch, seq_len)``, boolean, on the device of ``lengths``.

    Examples:
        >>> import torch
        >>> from selfattention import padding_mask
        >>> padding_mask(torch.tensor([3, 1]))
        tensor([[ True,  True,  True],
                [ True, False, False]])
        >>> padding_mask([2, 4], seq_len=5)
        tensor([[ True,  True, False, False, False],
                [ True,  True,  True,  True, False]])
    """
    if not isinstance(lengths, Tensor):
        if isinstance(lengths, str | bytes) or not isinstance(lengths, Sequence):
            raise TypeError(f"lengths must be a 1-D integer tensor or a sequence of ints, got {type(lengths).__name__}")
        for length in lengths:
            check_size("lengths", length, minimum=0)
        lengths = torch.tensor([int(length) for length in lengths], dtype=torch.long)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(f"lengths must have shape (batch,), one length per sequence, got shape {tuple(lengths.shape)}")
    if lengths.numel() > 0 and bool((lengths < 0).any()):
        raise ValueError(f"lengths must be at least 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if lengths.numel() > 0 else 0
    if seq_len is None:
        seq_len = longest
    seq_len = check_size("seq_len", seq_len, minimum=0)
    if longest > seq_len:
        raise ValueError(f"lengths must be at most seq_len={seq_len}, got a length of {longest}")
    return torch.arange(seq_len, device=lengths.device) < lengths[:, None]  # (batch, seq_len)


def combine(mask: Tensor, allowed: Tensor) -> Tensor:
    """``mask`` further restricted to the ``True`` entries of the boolean ``allowed``: ``&`` for a
    boolean ``mask``, ``-inf`` where ``allowed`` is ``False`` for a floating one. Every place
    that joins a mask and a causal mask goes through here."""
    if mask.dtype == torch.bool:
        return mask & allowed
    if not mask.is_floating_point():
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend) or a floating tensor added to the scores, "
            f"got dtype {mask.dtype}"
        )
    return mask.masked_fill(~allowed, float("-inf"))


def upper_left_causal_mask(query_len: int, key_len: int, *, device: torch.device | str | None = None) -> Tensor:
    """``F.scaled_dot_product_attention``'s ``is_causal=True`` mask: query ``i`` may attend to keys
    ``0 .. i``, whatever the lengths (the upper-left alignment of
    ``torch.nn.attention.bias.causal_upper_left``). With as many queries as keys it is
    `causal_mask`."""
    return torch.ones(query_len, key_len, dtype=torch.bool, device=device).tril()
