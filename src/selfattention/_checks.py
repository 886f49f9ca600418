"""Input checks shared by the public functions.

Every check raises a ``TypeError`` (wrong kind of value or dtype) or a ``ValueError``
(wrong shape) that names the argument, what was seen and what was expected, so a bad
call fails loudly instead of broadcasting silently or producing NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(name: str, value: object, *, min_dim: int = 2) -> Tensor:
    """A floating-point tensor with at least ``min_dim`` dimensions."""
    tensor = check_tensor(name, value)
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype (e.g. torch.float32), got {tensor.dtype}; "
            f"convert it with {name}.float()"
        )
    if tensor.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimensions (..., seq_len, d), "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_finite(name: str, tensor: Tensor, *, allow_neg_inf: bool = False) -> Tensor:
    """No NaN and no infinity (``-inf`` allowed where it means "blocked", e.g. in scores)."""
    bad = torch.isnan(tensor) | (torch.isposinf(tensor) if allow_neg_inf else torch.isinf(tensor))
    if bad.any():
        index = tuple(bad.nonzero()[0].tolist())
        kind = "NaN or +inf" if allow_neg_inf else "NaN or infinite values"
        raise ValueError(
            f"{name} contains {kind} (the first at index {index}, value "
            f"{tensor[index].item()}); attention would spread it to every output"
        )
    return tensor


def check_same_dtype(**tensors: Tensor) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        seen = ", ".join(f"{name} is {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"all tensors must share one dtype: {seen}")


def check_queries_keys(queries: object, keys: object) -> tuple[Tensor, Tensor]:
    """Queries ``(..., n_q, d_k)`` and keys ``(..., n_k, d_k)`` that can be multiplied."""
    queries = check_finite("queries", check_floating("queries", queries))
    keys = check_finite("keys", check_floating("keys", keys))
    check_same_dtype(queries=queries, keys=keys)
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same last dimension d_k: queries has shape "
            f"{tuple(queries.shape)}, keys has shape {tuple(keys.shape)}"
        )
    if queries.shape[:-2] != keys.shape[:-2]:
        raise ValueError(
            f"queries and keys must have the same leading (batch) dimensions: queries has "
            f"shape {tuple(queries.shape)}, keys has shape {tuple(keys.shape)}"
        )
    return queries, keys


def check_values(values: object, keys: Tensor) -> Tensor:
    """Values ``(..., n_k, d_v)``: one per key."""
    values = check_finite("values", check_floating("values", values))
    check_same_dtype(keys=keys, values=values)
    if values.shape[:-1] != keys.shape[:-1]:
        raise ValueError(
            f"keys (..., n_k, d_k) and values (..., n_k, d_v) must have the same shape but "
            f"for the last dimension: keys has shape {tuple(keys.shape)}, values has shape "
            f"{tuple(values.shape)}"
        )
    return values


def check_causal_lengths(name: str, n_q: int, n_k: int) -> None:
    """A causal mask is only unambiguous with as many queries as keys."""
    if n_q != n_k:
        raise ValueError(
            f"{name}=True needs as many queries as keys, got {n_q} queries and {n_k} keys: "
            f"with different lengths it is ambiguous which key a query is aligned with"
        )


def check_module_inputs(inputs: object, d_in: int) -> Tensor:
    """The inputs of a module: finite floating ``(..., seq_len, d_in)``."""
    tensor = check_finite("inputs", check_floating("inputs", inputs))
    if tensor.shape[-1] != d_in:
        raise ValueError(
            f"inputs must have shape (..., seq_len, d_in={d_in}), got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_weight(name: str, weight: object, *, d_in: int, dtype: torch.dtype) -> Tensor:
    """A projection matrix of shape ``(d_in, d_out)`` matching the inputs."""
    tensor = check_finite(name, check_floating(name, weight, min_dim=2))
    if tensor.dim() != 2 or tensor.shape[0] != d_in:
        raise ValueError(
            f"{name} must have shape (d_in, d_out) = ({d_in}, d_out) to multiply inputs "
            f"whose last dimension is d_in={d_in}, got shape {tuple(tensor.shape)}"
        )
    if tensor.dtype != dtype:
        raise TypeError(f"{name} has dtype {tensor.dtype} but inputs have dtype {dtype}")
    return tensor


def check_scale(scale: object) -> float | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a float or None, got {type(scale).__name__}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    return float(scale)


def check_mask(mask: object, scores_shape: torch.Size) -> Tensor | None:
    """A boolean (``True`` = may attend) or floating (added to the scores) mask."""
    if mask is None:
        return None
    tensor = check_tensor("mask", mask)
    if tensor.dtype != torch.bool and not tensor.is_floating_point():
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend) or a floating tensor added "
            f"to the scores, got dtype {tensor.dtype}"
        )
    expected = tuple(scores_shape)
    try:
        broadcast = torch.broadcast_shapes(tensor.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(tensor.shape)} cannot broadcast to the scores' shape "
            f"{expected} (..., query_len, key_len)"
        )
    if tensor.is_floating_point():
        check_finite("mask", tensor, allow_neg_inf=True)
    return tensor


def check_dropout(dropout: object, *, name: str = "dropout") -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(dropout).__name__}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {dropout}")
    return float(dropout)


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value
