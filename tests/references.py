"""Independent references for grouped-query attention, RoPE, the KV cache and cross-attention.

Written from the formulas, head by head and pair by pair in float64, without calling the
package's helpers: only the module's weights are read.
"""

from __future__ import annotations

import math

import torch


def rope_pairs(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoFormer's rotation, pair (2i, 2i+1) by position * base^(-2i/d), one pair at a time."""
    x = x.double()
    out = torch.empty_like(x)
    d = x.shape[-1]
    pos = positions.double()[..., :, None]  # (..., seq_len, 1)
    for i in range(d // 2):
        angle = pos[..., 0] * base ** (-2 * i / d)
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        out[..., 2 * i] = a * torch.cos(angle) - b * torch.sin(angle)
        out[..., 2 * i + 1] = a * torch.sin(angle) + b * torch.cos(angle)
    return out


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Meta's Llama formulation: pairs as complex numbers times exp(1j * angle)."""
    x = x.double()
    d = x.shape[-1]
    theta = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(positions.double(), theta)
    rotation = torch.polar(torch.ones_like(angles), angles)
    as_complex = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(as_complex * rotation).flatten(-2)


def rope_halves(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """GPT-NeoX / Hugging Face: pair (i, i + d/2), with rotate_half."""
    x = x.double()
    d = x.shape[-1]
    theta = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(positions.double(), theta)
    cos, sin = torch.cat((angles, angles), -1).cos(), torch.cat((angles, angles), -1).sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    rotate_half = torch.cat((-x2, x1), dim=-1)
    return x * cos + rotate_half * sin


def linear(x: torch.Tensor, layer: torch.nn.Linear, rows: slice | None = None) -> torch.Tensor:
    """``layer`` applied to ``x`` in float64, keeping only the output features ``rows`` when given:
    (..., in_features) -> (..., out_features or len(rows))."""
    weight = layer.weight.detach().double()
    bias = None if layer.bias is None else layer.bias.detach().double()
    if rows is not None:
        weight = weight[rows]
        bias = None if bias is None else bias[rows]
    out = x.double() @ weight.T
    return out if bias is None else out + bias


def reference_attention(
    module,
    inputs: torch.Tensor,
    *,
    context: torch.Tensor | None = None,
    start: int = 0,
    past: torch.Tensor | None = None,
) -> torch.Tensor:
    """What ``module`` should compute, in float64, one head at a time.

    ``inputs`` (batch, n, d_in) are at positions ``start .. start + n - 1``; with ``past``
    (batch, start, d_in), the earlier tokens' inputs, the keys and values cover ``past`` and
    ``inputs`` (a decoding step after ``start`` tokens). With ``context`` the keys and values
    come from it.
    """
    heads, kv_heads, d = module.num_heads, module.num_kv_heads, module.head_dim
    group = heads // kv_heads
    source = context if context is not None else (inputs if past is None else torch.cat((past, inputs), dim=-2))
    n_q, n_k = inputs.shape[-2], source.shape[-2]
    q_positions = torch.arange(start, start + n_q)
    k_positions = torch.arange(n_k) if context is None else None
    if past is None and context is None:
        k_positions = q_positions
    outputs = []
    for h in range(heads):
        g = h // group  # the key/value head of query head h
        q = linear(inputs, module.w_query, slice(h * d, (h + 1) * d))
        k = linear(source, module.w_key, slice(g * d, (g + 1) * d))
        v = linear(source, module.w_value, slice(g * d, (g + 1) * d))
        if module.rope:
            q, k = rope_pairs(q, q_positions), rope_pairs(k, k_positions)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d)
        if module.causal:
            blocked = k_positions[None, :] > q_positions[:, None]
            scores = scores.masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        outputs.append(weights @ v)
    return linear(torch.cat(outputs, dim=-1), module.out_proj)
