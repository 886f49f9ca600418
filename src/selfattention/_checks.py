"""Input checks shared by the public functions, and the switch for value checks.

Every check raises a ``TypeError`` (wrong kind of value or dtype) or a ``ValueError``
(wrong shape, device or value) that names the argument, what was seen and what was expected.

Two kinds of check:

- **metadata checks** (types, dtypes, shapes, devices, Python arguments) run on every call.
  They read no tensor values, so they cost next to nothing, need no host synchronisation and
  compile away under ``torch.compile`` and ``torch.export``.
- **value checks** (NaN and infinity in the inputs, weights and masks) read every value and
  wait for the answer (a host synchronisation). The teaching helpers that return every step
  (`attention_steps`, `self_attention_steps`, ``MultiHeadAttention.steps``,
  `blockwise_attention_steps`) always run them; every other function and ``forward`` runs them
  only inside ``with checks():`` or after ``set_checks(True)``. While a function is being
  traced by ``torch.compile`` or ``torch.export`` there are no values to read, and value
  checks are skipped.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
from types import TracebackType
from typing import overload

import torch
from torch import Tensor

__all__ = ["checks", "checks_enabled", "set_checks"]

_VALUE_CHECKS = False  # see set_checks


def checks_enabled() -> bool:
    """Whether value checks (NaN and infinity scans) run in every function, not only in the
    helpers that return every step. ``False`` unless switched on by `set_checks` or `checks`."""
    return _VALUE_CHECKS


def set_checks(enabled: bool) -> None:
    """Switch value checks on or off for every function, for the whole process.

    With ``enabled=True`` every function and module scans its floating inputs, weights and
    masks and raises a ``ValueError`` at the first NaN or infinity (``-inf`` is allowed in
    masks and scores, where it means "blocked"). Each scan reads the values back to the host:
    use it to find where a NaN comes from, not in a training loop. To switch them on for a
    block of code only, use `checks`.
    """
    global _VALUE_CHECKS
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {type(enabled).__name__}")
    _VALUE_CHECKS = enabled


class checks(contextlib.ContextDecorator):  # lower case: used like torch.no_grad
    """Value checks on (or off) inside a ``with`` block or a decorated function.

    ``with checks():`` runs the NaN and infinity scans of `set_checks` in every call inside
    the block, and restores the previous setting on leaving it; ``checks(enabled=False)``
    switches them off. Metadata checks (types, dtypes, shapes, devices) always run.

    Examples:
        >>> import torch
        >>> from selfattention import checks, simplified_self_attention
        >>> inputs = torch.tensor([[1.0, float("nan")]])
        >>> simplified_self_attention(inputs)  # default: no scan, NaN in, NaN out (as in torch)
        tensor([[nan, nan]])
        >>> with checks():
        ...     try:
        ...         simplified_self_attention(inputs)
        ...     except ValueError as error:
        ...         print(error)
        inputs contains NaN or infinite values (the first at index (0, 1), value nan); attention would carry it into the outputs
    """  # noqa: E501 - the error message the doctest prints is one line

    def __init__(self, enabled: bool = True) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be True or False, got {type(enabled).__name__}")
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_VALUE_CHECKS)
        set_checks(self.enabled)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        set_checks(self._previous.pop())


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
            f"{name} must have at least {min_dim} dimensions (..., seq_len, d), got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_finite(name: str, tensor: Tensor, *, allow_neg_inf: bool = False, always: bool = False) -> Tensor:
    """No NaN and no infinity (``-inf`` allowed where it means "blocked", e.g. in scores).

    A value check: it runs only when value checks are on (`set_checks`), or with
    ``always=True`` (the helpers that return every step), and never while tracing.
    """
    if not (always or _VALUE_CHECKS) or tensor.device.type == "meta" or torch.compiler.is_compiling():
        return tensor
    bad = torch.isnan(tensor) | (torch.isposinf(tensor) if allow_neg_inf else torch.isinf(tensor))
    if bad.any():
        index = tuple(bad.nonzero()[0].tolist())
        kind = "NaN or +inf" if allow_neg_inf else "NaN or infinite values"
        raise ValueError(
            f"{name} contains {kind} (the first at index {index}, value "
            f"{tensor[index].item()}); attention would carry it into the outputs"
        )
    return tensor


def check_same_dtype(**tensors: Tensor) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        seen = ", ".join(f"{name} is {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"all tensors must share one dtype: {seen}")


def check_same_device(**tensors: Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        seen = ", ".join(f"{name} is on {device}" for name, device in devices.items())
        raise ValueError(f"all tensors must be on one device: {seen}")


def check_queries_keys(queries: object, keys: object, *, always: bool = False) -> tuple[Tensor, Tensor]:
    """Queries ``(..., n_q, d_k)`` and keys ``(..., n_k, d_k)`` that can be multiplied."""
    queries = check_finite("queries", check_floating("queries", queries), always=always)
    keys = check_finite("keys", check_floating("keys", keys), always=always)
    check_same_dtype(queries=queries, keys=keys)
    check_same_device(queries=queries, keys=keys)
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


def check_values(values: object, keys: Tensor, *, always: bool = False) -> Tensor:
    """Values ``(..., n_k, d_v)``: one per key."""
    values = check_finite("values", check_floating("values", values), always=always)
    check_same_dtype(keys=keys, values=values)
    check_same_device(keys=keys, values=values)
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


def check_module_inputs(inputs: object, d_in: int, weight: Tensor | None = None) -> Tensor:
    """The inputs of a module: floating ``(..., seq_len, d_in)``, of the dtype and on the
    device of the module's ``weight`` when one is given."""
    tensor = check_finite("inputs", check_floating("inputs", inputs))
    if tensor.shape[-1] != d_in:
        raise ValueError(f"inputs must have shape (..., seq_len, d_in={d_in}), got shape {tuple(tensor.shape)}")
    if weight is not None:
        if tensor.dtype != weight.dtype:
            raise TypeError(
                f"inputs have dtype {tensor.dtype} but the module's weights have dtype "
                f"{weight.dtype}: convert the inputs with inputs.to({weight.dtype}) or the module "
                f"with module.to({tensor.dtype})"
            )
        if tensor.device != weight.device:
            raise ValueError(
                f"inputs are on {tensor.device} but the module's weights are on {weight.device}: "
                f"move one of them with .to(device)"
            )
    return tensor


def check_weight(name: str, weight: object, *, d_in: int, dtype: torch.dtype, always: bool = False) -> Tensor:
    """A projection matrix of shape ``(d_in, d_out)`` matching the inputs."""
    tensor = check_finite(name, check_floating(name, weight, min_dim=2), always=always)
    if tensor.dim() != 2 or tensor.shape[0] != d_in:
        raise ValueError(
            f"{name} must have shape (d_in, d_out) = ({d_in}, d_out) to multiply inputs "
            f"whose last dimension is d_in={d_in}, got shape {tuple(tensor.shape)}"
        )
    if tensor.dtype != dtype:
        raise TypeError(f"{name} has dtype {tensor.dtype} but inputs have dtype {dtype}")
    return tensor


def check_scale(scale: object) -> float | None:
    """``None`` or a positive finite real number (a Python or NumPy scalar, as torch accepts)."""
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a float or None, got {type(scale).__name__}")
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    return scale


def default_scale(scale: float | None, d_k: int) -> float:
    """``scale``, or ``1 / sqrt(d_k)`` when it is ``None``. With ``d_k == 0`` every score is 0
    whatever the scale, so any finite scale gives torch's result (uniform weights)."""
    if scale is not None:
        return scale
    return 1.0 / math.sqrt(d_k) if d_k > 0 else 1.0


def check_bool(name: str, value: object) -> bool:
    """A real ``bool``: ``is_causal="no"`` would otherwise be true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def broadcasts_to(shape: torch.Size | tuple[int, ...], target: torch.Size | tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` without changing it (metadata only)."""
    if len(shape) > len(target):
        return False
    return all(size == 1 or size == wanted for size, wanted in zip(reversed(shape), reversed(target), strict=False))


@overload
def check_mask(
    mask: Tensor,
    scores_shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    always: bool = False,
) -> Tensor: ...


@overload
def check_mask(
    mask: object,
    scores_shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    always: bool = False,
) -> Tensor | None: ...


def check_mask(
    mask: object,
    scores_shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    always: bool = False,
) -> Tensor | None:
    """A boolean (``True`` = may attend) or floating (added to the scores) mask that
    broadcasts to ``scores_shape``; a floating one must have the scores' ``dtype``, and
    either must be on their ``device``, when these are given."""
    if mask is None:
        return None
    tensor = check_tensor("mask", mask)
    if tensor.dtype != torch.bool and not tensor.is_floating_point():
        raise TypeError(
            f"mask must be a boolean tensor (True = may attend) or a floating tensor added "
            f"to the scores, got dtype {tensor.dtype}"
        )
    if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
        raise TypeError(
            f"a floating mask must have the dtype of the scores, {dtype}, got {tensor.dtype}: "
            f"a cast could turn large finite values into infinities, so cast it yourself with "
            f"mask.to({dtype}) after making sure its values fit"
        )
    if device is not None and tensor.device != device:
        raise ValueError(
            f"mask is on {tensor.device} but the scores are on {device}: move it with mask.to({str(device)!r})"
        )
    if not broadcasts_to(tensor.shape, scores_shape):
        raise ValueError(
            f"mask of shape {tuple(tensor.shape)} cannot broadcast to the scores' shape "
            f"{tuple(scores_shape)} (..., query_len, key_len)"
        )
    if tensor.is_floating_point():
        check_finite("mask", tensor, allow_neg_inf=True, always=always)
    return tensor


def check_dropout(dropout: object, *, name: str = "dropout") -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(dropout).__name__}")
    dropout = float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {dropout}")
    return dropout


def check_size(name: str, value: object, *, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (a Python or NumPy integer, or a traced size)."""
    if isinstance(value, torch.SymInt) or (isinstance(value, Tensor) and torch.jit.is_tracing()):
        return value  # type: ignore[return-value]  # a size read from a traced tensor's shape
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    return check_size(name, value, minimum=1)
