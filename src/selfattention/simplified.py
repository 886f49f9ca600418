"""Simplified self-attention: no trainable weights.

Every input vector is at once the query, the key and the value:
``context = softmax(inputs @ inputs^T) @ inputs``, with no scaling.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_finite, check_floating

__all__ = ["simplified_self_attention"]


def simplified_self_attention(inputs: Tensor) -> Tensor:
    """Context vectors of self-attention without trainable weights.

    ``scores = inputs @ inputs^T``, ``weights = softmax(scores)`` over the last dimension
    (each row sums to 1), ``context = weights @ inputs``.

    Shapes: ``inputs (..., seq_len, d)`` -> ``(..., seq_len, d)``; an empty sequence
    (``seq_len == 0``) gives an empty result.

    Examples:
        >>> import torch
        >>> from selfattention import simplified_self_attention
        >>> simplified_self_attention(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        tensor([[0.7311, 0.2689],
                [0.2689, 0.7311]])
    """
    inputs = check_finite("inputs", check_floating("inputs", inputs))  # NaN scan only if checks()
    scores = inputs @ inputs.transpose(-2, -1)  # (..., seq_len, seq_len)
    weights = torch.softmax(scores, dim=-1)  # (..., seq_len, seq_len), rows sum to 1
    return weights @ inputs  # (..., seq_len, d)
