"""Boolean attention masks, ``True`` where a query may attend to a key.

This is the convention of `torch.nn.functional.scaled_dot_product_attention` and of
every function in this package. ``nn.MultiheadAttention`` uses the opposite one (``True`` =
blocked): convert with ``~mask`` (see `selfattention.interop.to_torch_attn_mask`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_size, check_tensor

__all__ = ["causal_mask", "causal_and"]


def causal_mask(seq_len: int, *, device: torch.device | str | None = None) -> Tensor:
    """The mask that lets each position attend to itself and to earlier positions only.

    ``seq_len`` may be 0 (an empty mask) or a size read from a traced tensor's shape, so the
    mask can be built inside ``torch.compile`` and ``torch.export``.

    Shapes: ``-> (seq_len, seq_len)``, boolean, lower-triangular; broadcasts against scores of
    shape ``(..., seq_len, seq_len)``.

    Examples:
        >>> import torch
        >>> from selfattention import causal_mask
        >>> causal_mask(3)
        tensor([[ True, False, False],
                [ True,  True, False],
                [ True,  True,  True]])
    """
    seq_len = check_size("seq_len", seq_len, minimum=0)
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def causal_and(mask: Tensor | None, seq_len: int, *, device: torch.device | str | None = None) -> Tensor:
    """The causal mask, combined with an optional boolean ``mask`` (e.g. for padding): a query
    may attend to a key only where both allow it. The causal mask is built on ``device``, or
    on ``mask``'s device when ``device`` is not given.

    Shapes: ``mask`` broadcastable with ``(seq_len, seq_len)`` -> the broadcast shape, boolean.
    """
    if mask is None:
        return causal_mask(seq_len, device=device)
    mask = check_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"with the causal mask, mask must be boolean (True = may attend), got dtype {mask.dtype}"
        )
    return causal_mask(seq_len, device=mask.device if device is None else device) & mask
