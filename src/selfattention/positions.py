"""Absolute position encodings: a vector per position, added to the token embeddings.

The sinusoidal encoding of the Transformer (Vaswani et al., 2017, "Attention Is All You
Need", section 3.5) gives position ``pos`` the vector

    PE[pos, 2i]     = sin(pos / base ** (2i / d_model))
    PE[pos, 2i + 1] = cos(pos / base ** (2i / d_model))

with ``base = 10000``: pair ``i`` is a point on a circle that turns by the angle
``omega_i = base ** (-2i / d_model)`` per position. So ``PE[pos + k]`` is ``PE[pos]`` with each
pair rotated by ``k * omega_i``, the same linear map for every ``pos``. Learned position
embeddings (GPT-2) are a trainable table ``torch.nn.Embedding(context_len, d_model)`` used the
same way; rotary embeddings (`selfattention.rope`) rotate the queries and keys instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfattention._checks import check_size
from selfattention.rope import _check_base

__all__ = ["sinusoidal_positions"]


def sinusoidal_positions(
    seq_len: int,
    d_model: int,
    *,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The sinusoidal position encoding of Vaswani et al. (2017), one row per position.

    Row ``pos`` holds ``sin(pos * omega_i)`` at column ``2i`` and ``cos(pos * omega_i)`` at
    column ``2i + 1``, with ``omega_i = base ** (-2i / d_model)``: pairs interleaved as in the
    paper. The angles are computed in float64 and the result cast to ``dtype``, so that far
    positions keep their accuracy. Add it to token embeddings of width ``d_model``.

    Args:
        seq_len: the number of positions, ``0, 1, ..., seq_len - 1`` (may be 0).
        d_model: the width of the embeddings, even (sine and cosine come in pairs).
        base: the base of the frequencies' geometric progression, 10000 in the paper.
        dtype: a floating dtype for the result.
        device: where to build the result.

    Shapes: ``-> (seq_len, d_model)``.

    Examples:
        >>> import torch
        >>> from selfattention import sinusoidal_positions
        >>> sinusoidal_positions(3, 4, base=100.0)  # columns: sin, cos at omega 1, then at omega 0.1
        tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
                [ 0.8415,  0.5403,  0.0998,  0.9950],
                [ 0.9093, -0.4161,  0.1987,  0.9801]])
    """
    seq_len = check_size("seq_len", seq_len, minimum=0)
    d_model = check_size("d_model", d_model, minimum=2)
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (each frequency gives a sine and a cosine column), got {d_model}")
    base = _check_base(base)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float32), got {dtype!r}")
    positions = torch.arange(seq_len, dtype=torch.float64, device=device)
    omega = base ** -(torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)  # (d_model / 2,)
    angles = positions[:, None] * omega  # (seq_len, d_model / 2)
    encoding = torch.stack((angles.sin(), angles.cos()), dim=-1)  # (seq_len, d_model / 2, 2): interleaved pairs
    return encoding.flatten(-2).to(dtype)  # (seq_len, d_model)
