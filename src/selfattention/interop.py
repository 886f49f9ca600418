"""Moving weights and masks between this package and ``torch.nn.MultiheadAttention``.

``nn.MultiheadAttention`` keeps the three input projections in one ``in_proj_weight`` of
shape ``(3 * embed_dim, embed_dim)`` (query rows, then key rows, then value rows), and its
boolean ``attn_mask`` is ``True`` where attention is **blocked**: the opposite of
``scaled_dot_product_attention`` and of this package.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from selfattention._checks import check_bool, check_tensor
from selfattention.multihead import MultiHeadAttention

__all__ = ["from_torch_multihead", "to_torch_attn_mask", "to_torch_multihead"]


def to_torch_attn_mask(mask: Tensor) -> Tensor:
    """Convert a mask of this package (``True`` = may attend) for ``nn.MultiheadAttention``
    (``True`` = blocked). A float (additive) mask means the same to both and is returned as is.

    Examples:
        >>> import torch
        >>> from selfattention import to_torch_attn_mask
        >>> to_torch_attn_mask(torch.tensor([[True, False]]))
        tensor([[False,  True]])
    """
    mask = check_tensor("mask", mask)
    if mask.dtype == torch.bool:
        return ~mask
    if mask.is_floating_point():
        return mask
    raise TypeError(f"mask must be boolean or floating, got dtype {mask.dtype}")


def to_torch_multihead(module: MultiHeadAttention) -> nn.MultiheadAttention:
    """An ``nn.MultiheadAttention`` (``batch_first=True``) computing what ``module`` computes.

    Needs ``d_in == d_out`` (PyTorch's module projects from and to ``embed_dim``), one
    key/value head per query head (``nn.MultiheadAttention`` has no grouped-query attention)
    and ``rope=False`` (it has no rotary positions). For cross-attention, call the returned
    module with ``(inputs, context, context)``. Without
    ``qkv_bias`` the input projection bias is set to zero. Causal masking is not a weight:
    pass ``attn_mask=to_torch_attn_mask(causal_mask(seq_len))`` to the returned module.
    """
    if not isinstance(module, MultiHeadAttention):
        raise TypeError(f"module must be a MultiHeadAttention, got {type(module).__name__}")
    if module.d_in != module.d_out:
        raise ValueError(
            f"nn.MultiheadAttention needs d_in == d_out (its embed_dim), got d_in={module.d_in}, d_out={module.d_out}"
        )
    if module.num_kv_heads != module.num_heads:
        raise ValueError(
            f"nn.MultiheadAttention has one key/value head per query head, got num_heads="
            f"{module.num_heads} and num_kv_heads={module.num_kv_heads}: grouped-query attention "
            f"cannot be expressed by it"
        )
    if module.rope:
        raise ValueError("nn.MultiheadAttention has no rotary positions, got a module with rope=True")
    linears = (module.w_query, module.w_key, module.w_value)
    torch_module = nn.MultiheadAttention(
        module.d_out,
        module.num_heads,
        dropout=module.dropout,
        bias=True,
        batch_first=True,
        device=module.out_proj.weight.device,
        dtype=module.out_proj.weight.dtype,
    )
    with torch.no_grad():
        torch_module.in_proj_weight.copy_(torch.cat([linear.weight for linear in linears]))
        assert torch_module.in_proj_bias is not None
        if module.w_query.bias is None:
            torch_module.in_proj_bias.zero_()
        else:
            torch_module.in_proj_bias.copy_(torch.cat([linear.bias for linear in linears]))
        torch_module.out_proj.weight.copy_(module.out_proj.weight)
        torch_module.out_proj.bias.copy_(module.out_proj.bias)
    return torch_module.train(module.training)


def from_torch_multihead(torch_module: nn.MultiheadAttention, *, causal: bool = False) -> MultiHeadAttention:
    """A `selfattention.MultiHeadAttention` with the weights of ``torch_module``.

    The result takes batch-first inputs ``(..., seq_len, d_in)``, as every module of this
    package does. A ``torch_module`` with ``batch_first=False`` (PyTorch's default) takes
    ``(seq_len, batch, embed_dim)``: its weights are converted all the same, with a
    ``UserWarning`` saying so; transpose such inputs with ``inputs.transpose(0, 1)``.
    """
    if not isinstance(torch_module, nn.MultiheadAttention):
        raise TypeError(f"torch_module must be an nn.MultiheadAttention, got {type(torch_module).__name__}")
    if not torch_module.batch_first:
        warnings.warn(
            "torch_module has batch_first=False and takes (seq_len, batch, embed_dim) inputs; the "
            "MultiHeadAttention returned takes batch-first (batch, seq_len, embed_dim) inputs: transpose "
            "yours with inputs.transpose(0, 1)",
            UserWarning,
            stacklevel=2,
        )
    if not torch_module.kdim == torch_module.vdim == torch_module.embed_dim or torch_module.in_proj_weight is None:
        raise ValueError("only nn.MultiheadAttention with kdim == vdim == embed_dim is supported")
    if torch_module.bias_k is not None or torch_module.add_zero_attn:
        raise ValueError("add_bias_kv and add_zero_attn have no counterpart here")
    causal = check_bool("causal", causal)
    embed_dim = torch_module.embed_dim
    has_bias = torch_module.in_proj_bias is not None
    module = MultiHeadAttention(
        embed_dim,
        embed_dim,
        torch_module.num_heads,
        dropout=torch_module.dropout,
        causal=causal,
        qkv_bias=has_bias,
    ).to(device=torch_module.in_proj_weight.device, dtype=torch_module.in_proj_weight.dtype)
    weights = torch_module.in_proj_weight.detach().chunk(3)
    with torch.no_grad():
        for linear, weight in zip((module.w_query, module.w_key, module.w_value), weights, strict=True):
            linear.weight.copy_(weight)
        if has_bias:
            biases = torch_module.in_proj_bias.detach().chunk(3)
            for linear, bias in zip((module.w_query, module.w_key, module.w_value), biases, strict=True):
                linear.bias.copy_(bias)
        module.out_proj.weight.copy_(torch_module.out_proj.weight)
        if torch_module.out_proj.bias is not None:
            module.out_proj.bias.copy_(torch_module.out_proj.bias)
        else:
            module.out_proj.bias.zero_()
    return module.train(torch_module.training)
