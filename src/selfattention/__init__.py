"""Self-attention in PyTorch, step by step.

Every function takes ``(..., seq_len, d)`` tensors (a leading batch dimension or more is
fine) and follows the conventions of :func:`torch.nn.functional.scaled_dot_product_attention`:
``scale=None`` means ``1 / sqrt(d_k)`` and a boolean mask is ``True`` where a query may attend.
"""

from selfattention.attention import (
    AttentionSteps,
    attention_context,
    attention_scores,
    attention_steps,
    attention_weights,
    mask_scores,
    scaled_dot_product_attention,
    weighted_values,
)
from selfattention.simplified import simplified_self_attention
from selfattention.trainable import SelfAttention, self_attention, self_attention_steps

__version__ = "0.1.0"

__all__ = [
    "AttentionSteps",
    "SelfAttention",
    "attention_context",
    "attention_scores",
    "attention_steps",
    "attention_weights",
    "mask_scores",
    "scaled_dot_product_attention",
    "self_attention",
    "self_attention_steps",
    "simplified_self_attention",
    "weighted_values",
]
