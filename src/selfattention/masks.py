"""Boolean attention masks, ``True`` where a query may attend to a key.

This is the convention of `torch.nn.functional.scaled_dot_product_attention` and of
every function in this package. ``nn.MultiheadAttention`` uses the opposite one (``True`` =
blocked): convert with ``~mask`` (see `selfattention.interop.to_torch_attn_mask`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_positive_int

__all__ = ["causal_mask"]


def causal_mask(seq_len: int, *, device: torch.device | str | None = None) -> Tensor:
    """The mask that lets each position attend to itself and to earlier positions only.

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
    check_positive_int("seq_len", seq_len)
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
