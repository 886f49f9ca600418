"""Rotary position embedding (RoPE): positions enter attention by rotating queries and keys.

RoPE (Su et al., 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding") cuts
each query and key vector of width ``head_dim`` into ``head_dim / 2`` pairs and turns pair
``i`` of the vector at position ``m`` by the angle ``m * theta_i``, with
``theta_i = base ** (-2 i / head_dim)``. A rotation keeps lengths, and the dot product of a
query turned by ``m * theta`` with a key turned by ``n * theta`` depends on ``m - n`` only:
the scores see the offset between two tokens, not where they are.

Two layouts of the pairs are in use, and weights trained with one give wrong scores with
the other:

- **interleaved pairs** ``(x[0], x[1]), (x[2], x[3]), ...``: the RoFormer paper and Meta's
  Llama code (``torch.view_as_complex`` on the last dimension). `apply_rope` follows this one.
- **split halves** ``(x[0], x[d/2]), (x[1], x[d/2 + 1]), ...``: GPT-NeoX and Hugging Face's
  ``rotate_half``.

They differ only in the order of the coordinates: `halves_to_pairs` is the permutation that
turns a split-halves layout into the interleaved one (of a vector, or of the rows of each
head's query and key projection).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from selfattention._checks import broadcasts_to, check_finite, check_floating, check_size, check_tensor

__all__ = ["apply_rope", "halves_to_pairs", "rope_angles"]


def _check_base(base: object, name: str = "base") -> float:
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"{name} must be a float, got {type(base).__name__}")
    base = float(base)
    if not base > 1.0 or base == float("inf"):
        raise ValueError(f"{name} must be a finite number greater than 1, got {base}")
    return base


def _check_positions(positions: object) -> Tensor:
    """An integer or floating tensor of positions (scanned for NaN and infinity when value
    checks are on)."""
    positions = check_tensor("positions", positions)
    if positions.dtype == torch.bool or positions.is_complex():
        raise TypeError(f"positions must be an integer or floating tensor, got dtype {positions.dtype}")
    return check_finite("positions", positions) if positions.is_floating_point() else positions


def _check_head_dim(head_dim: object) -> int:
    head_dim = check_size("head_dim", head_dim, minimum=2)
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs of coordinates), got {head_dim}")
    return head_dim


def rope_angles(positions: Tensor, head_dim: int, *, base: float = 10000.0) -> Tensor:
    """The rotation angles ``positions[..., None] * theta_i``, ``theta_i = base ** (-2 i / head_dim)``.

    Computed in float64 for float64 positions and in float32 otherwise. ``positions`` is an
    integer or floating tensor (not boolean), ``head_dim`` an even size.

    Shapes: ``positions (..., seq_len)`` -> ``(..., seq_len, head_dim / 2)``.

    Examples:
        >>> import torch
        >>> from selfattention import rope_angles
        >>> rope_angles(torch.arange(3), 4, base=100.0)
        tensor([[0.0000, 0.0000],
                [1.0000, 0.1000],
                [2.0000, 0.2000]])
    """
    positions = _check_positions(positions)
    head_dim = _check_head_dim(head_dim)
    base = _check_base(base)
    dtype = torch.float64 if positions.dtype == torch.float64 else torch.float32
    exponents = torch.arange(0, head_dim, 2, device=positions.device, dtype=dtype) / head_dim
    theta = base**-exponents  # (head_dim / 2,)
    return positions.to(dtype)[..., None] * theta  # (..., seq_len, head_dim / 2)


def apply_rope(x: Tensor, positions: Tensor | None = None, *, base: float = 10000.0) -> Tensor:
    """Rotate each pair ``(x[2i], x[2i + 1])`` of every vector by ``position * theta_i``.

    The interleaved-pairs convention of the RoFormer paper and Meta's Llama: equal to
    multiplying the complex numbers ``x[2i] + 1j * x[2i + 1]`` by ``exp(1j * position *
    theta_i)``, with ``theta_i = base ** (-2 i / head_dim)``. For weights trained with the
    split-halves convention (GPT-NeoX, Hugging Face's ``rotate_half``), reorder the last
    dimension with `halves_to_pairs` first.

    Args:
        x: queries or keys, floating, with an even last dimension ``head_dim``.
        positions: the position of each vector along ``seq_len``, integer or floating;
            ``None`` means ``0, 1, ..., seq_len - 1``.
        base: the base of the angles' geometric progression, 10000 in RoFormer and Llama 2.

    The angles are computed in float32 (float64 for float64 ``x``), then the result is cast
    back to ``x``'s dtype. Reads no tensor values: no host synchronisation.

    Shapes: ``x (..., seq_len, head_dim)``, ``positions (seq_len,)`` or broadcastable to
    ``x.shape[:-1]`` -> ``(..., seq_len, head_dim)``.

    Examples:
        >>> import torch
        >>> from selfattention import apply_rope
        >>> x = torch.tensor([[1.0, 0.0, 1.0, 0.0]]).expand(3, 4)  # three positions, head_dim 4
        >>> apply_rope(x, base=100.0)  # pair 0 turns by 1 radian a step, pair 1 by 0.1
        tensor([[ 1.0000,  0.0000,  1.0000,  0.0000],
                [ 0.5403,  0.8415,  0.9950,  0.0998],
                [-0.4161,  0.9093,  0.9801,  0.1987]])
    """
    x = check_finite("x", check_floating("x", x))
    seq_len, head_dim = x.shape[-2], x.shape[-1]
    if head_dim % 2 != 0:
        raise ValueError(
            f"x must have an even last dimension (head_dim) to be rotated in pairs, got shape {tuple(x.shape)}"
        )
    if positions is None:
        positions = torch.arange(seq_len, device=x.device)
    else:
        positions = _check_positions(positions)
        if positions.dim() == 0 or positions.shape[-1] != seq_len or not broadcasts_to(positions.shape, x.shape[:-1]):
            raise ValueError(
                f"positions must have shape (..., seq_len={seq_len}) and broadcast to x's shape without "
                f"enlarging it, one per vector of x of shape {tuple(x.shape)}, got shape {tuple(positions.shape)}"
            )
        if positions.device != x.device:
            raise ValueError(f"positions are on {positions.device} but x is on {x.device}")
    angles = rope_angles(positions if x.dtype != torch.float64 else positions.double(), head_dim, base=base)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)  # (..., seq_len, head_dim / 2)
    pairs = x.unflatten(-1, (head_dim // 2, 2))  # (..., seq_len, head_dim / 2, 2)
    first, second = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((first * cos - second * sin, first * sin + second * cos), dim=-1)
    return rotated.flatten(-2)  # (..., seq_len, head_dim)


def halves_to_pairs(head_dim: int, *, device: torch.device | str | None = None) -> Tensor:
    """The permutation from the split-halves layout to the interleaved-pairs layout.

    With ``perm = halves_to_pairs(head_dim)``, ``x[..., perm]`` puts coordinate ``i`` and
    ``i + head_dim / 2`` (a pair in GPT-NeoX and Hugging Face's ``rotate_half``) side by side,
    at ``2 i`` and ``2 i + 1`` (a pair in `apply_rope`): rotating ``x[..., perm]`` with
    `apply_rope` gives the split-halves rotation of ``x``, reordered by ``perm``. Reorder the
    rows of each head of a query and key projection the same way and the scores are
    unchanged. ``perm.argsort()`` goes back.

    Shapes: ``-> (head_dim,)``, int64.

    Examples:
        >>> from selfattention import halves_to_pairs
        >>> halves_to_pairs(6)
        tensor([0, 3, 1, 4, 2, 5])
    """
    head_dim = _check_head_dim(head_dim)
    return torch.arange(head_dim, device=device).view(2, head_dim // 2).T.flatten()
