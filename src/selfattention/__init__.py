"""Self-attention in PyTorch, step by step.

Every function takes ``(..., seq_len, d)`` tensors (a leading batch dimension or more is
fine) and follows the conventions of `torch.nn.functional.scaled_dot_product_attention`:
``scale=None`` means ``1 / sqrt(d_k)`` and a boolean mask is ``True`` where a query may attend.
"""

from importlib.metadata import version

from selfattention._checks import checks, checks_enabled, set_checks
from selfattention.attention import (
    AttentionSteps,
    attention_context,
    attention_dropout,
    attention_scores,
    attention_steps,
    attention_weights,
    mask_scores,
    scaled_dot_product_attention,
    weighted_values,
)
from selfattention.block import TransformerBlock
from selfattention.blockwise import (
    BlockwiseGradients,
    OnlineSoftmaxState,
    blockwise_attention,
    blockwise_attention_gradients,
    blockwise_attention_steps,
)
from selfattention.causal import CausalSelfAttention
from selfattention.generation import generate
from selfattention.gpt import TinyGPT
from selfattention.interop import from_torch_multihead, to_torch_attn_mask, to_torch_multihead
from selfattention.kv_cache import KVCache
from selfattention.masks import causal_and, causal_mask, padding_mask
from selfattention.multihead import MultiHeadAttention, MultiHeadSteps
from selfattention.plotting import plot_attention
from selfattention.positions import sinusoidal_positions
from selfattention.rope import apply_rope, halves_to_pairs, rope_angles
from selfattention.scaling import SoftmaxSaturation, softmax_saturation
from selfattention.simplified import simplified_self_attention
from selfattention.toy import (
    InductionBatch,
    InductionModel,
    InductionTask,
    induction_batch,
    train_induction_model,
)
from selfattention.trainable import SelfAttention, self_attention, self_attention_steps

__version__ = version("selfattention")  # pyproject.toml's version, as installed

__all__ = [
    "AttentionSteps",
    "BlockwiseGradients",
    "CausalSelfAttention",
    "InductionBatch",
    "InductionModel",
    "InductionTask",
    "KVCache",
    "MultiHeadAttention",
    "MultiHeadSteps",
    "OnlineSoftmaxState",
    "SelfAttention",
    "SoftmaxSaturation",
    "TinyGPT",
    "TransformerBlock",
    "apply_rope",
    "attention_context",
    "attention_dropout",
    "attention_scores",
    "attention_steps",
    "attention_weights",
    "blockwise_attention",
    "blockwise_attention_gradients",
    "blockwise_attention_steps",
    "causal_and",
    "causal_mask",
    "checks",
    "checks_enabled",
    "from_torch_multihead",
    "generate",
    "halves_to_pairs",
    "induction_batch",
    "mask_scores",
    "padding_mask",
    "plot_attention",
    "rope_angles",
    "scaled_dot_product_attention",
    "self_attention",
    "self_attention_steps",
    "set_checks",
    "simplified_self_attention",
    "sinusoidal_positions",
    "softmax_saturation",
    "to_torch_attn_mask",
    "to_torch_multihead",
    "train_induction_model",
    "weighted_values",
]
