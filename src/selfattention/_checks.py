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
import contextvars
import math
import numbers
import operator
from types import TracebackType
from typing import overload

import torch
from torch import Tensor

__all__ = ["checks", "checks_enabled", "set_checks"]

# The mode is a context variable, like torch.no_grad's thread-local state: each thread (and
# each asyncio task) has its own, and a new thread starts with value checks off.
_VALUE_CHECKS: contextvars.ContextVar[bool] = contextvars.ContextVar("selfattention_value_checks", default=False)
_RESTORE: contextvars.ContextVar[tuple[contextvars.Token[bool], ...]] = contextvars.ContextVar(
    "selfattention_value_checks_restore", default=()
)


def checks_enabled() -> bool:
    """Whether value checks (NaN and infinity scans) run in every function of the current
    thread, not only in the helpers that return every step. ``False`` unless switched on by
    `set_checks` or `checks`."""
    return _VALUE_CHECKS.get()


def set_checks(enabled: bool) -> None:
    """Switch value checks on or off for every function called from the current thread.

    With ``enabled=True`` every function and module scans every floating tensor it reads (its
    inputs, masks, parameters, the keys and values a `selfattention.KVCache` holds, RoPE's
    positions, and ``grad_output`` in a backward pass written by hand) and raises a ``ValueError``
    at the first NaN or infinity (``-inf`` is allowed in masks and scores, where it means
    "blocked"). Each scan reads the values back to the host: use it to find where a NaN comes
    from, not in a training loop. The setting is per thread (a context variable, like
    ``torch.no_grad``'s): other threads keep theirs, and a new thread starts with value checks
    off. To switch them on for a block of code only, use `checks`.
    """
    _VALUE_CHECKS.set(check_bool("enabled", enabled))


class checks(contextlib.ContextDecorator):  # lower case: used like torch.no_grad
    """Value checks on (or off) inside a ``with`` block or a decorated function.

    ``with checks():`` runs the NaN and infinity scans of `set_checks` in every call inside
    the block, and restores the previous setting on leaving it; ``checks(enabled=False)``
    switches them off. Metadata checks (types, dtypes, shapes, devices) always run. Like
    ``torch.no_grad``, the mode belongs to the thread that enters the block: blocks in other
    threads, entered and left in any order, neither see nor change it.

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
        self.enabled = check_bool("enabled", enabled)

    def __enter__(self) -> None:
        # The token that restores the previous mode is kept in the current context too, so one
        # instance (a decorator) can be entered by several threads at once.
        _RESTORE.set((*_RESTORE.get(), _VALUE_CHECKS.set(self.enabled)))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        *outer, token = _RESTORE.get()
        _RESTORE.set(tuple(outer))
        _VALUE_CHECKS.reset(token)


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


def scanning(*, always: bool = False) -> bool:
    """Whether value checks run now: on (``always``, `set_checks` or `checks`) and not while
    ``torch.compile`` or ``torch.export`` traces (there are no values to read then)."""
    return not torch.compiler.is_compiling() and (always or _VALUE_CHECKS.get())


def check_finite(name: str, tensor: Tensor, *, allow_neg_inf: bool = False, always: bool = False) -> Tensor:
    """No NaN and no infinity (``-inf`` allowed where it means "blocked", e.g. in scores).

    A value check: it runs only when value checks are on (`set_checks`), or with
    ``always=True`` (the helpers that return every step), and never while tracing.
    """
    if not scanning(always=always) or tensor.device.type == "meta":
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


def check_parameters(module: torch.nn.Module) -> None:
    """Scan every floating parameter of ``module`` for NaN and infinity when value checks are on:
    a NaN in a weight gives NaN outputs, or, in PyTorch's fused CPU kernel, finite but wrong ones."""
    if scanning():
        for name, parameter in module.named_parameters():
            if parameter.is_floating_point():
                check_finite(name, parameter.detach())


def check_like(name: str, tensor: Tensor, reference_name: str, reference: Tensor) -> None:
    """``tensor`` has the dtype and the device of ``reference`` (metadata only)."""
    if tensor.dtype != reference.dtype:
        raise TypeError(
            f"{name} and {reference_name} must have one dtype, got {tensor.dtype} and {reference.dtype}: "
            f"convert one of them with .to(dtype)"
        )
    if tensor.device != reference.device:
        raise ValueError(
            f"{name} and {reference_name} must be on one device, got {tensor.device} and {reference.device}: "
            f"move one of them with .to(device)"
        )


def broadcast_batch(**tensors: Tensor) -> tuple[int, ...]:
    """The broadcast of the leading (batch) dimensions ``shape[:-2]`` of ``tensors``."""
    try:
        return tuple(torch.broadcast_shapes(*(t.shape[:-2] for t in tensors.values())))
    except RuntimeError:
        seen = ", ".join(f"{name} has shape {tuple(t.shape)}" for name, t in tensors.items())
        raise ValueError(
            f"the leading (batch) dimensions of {', '.join(tensors)} must broadcast against each other: {seen}"
        ) from None


def check_query_key(query: object, key: object, *, always: bool = False) -> tuple[Tensor, Tensor]:
    """``query (..., n_q, d_k)`` and ``key (..., n_k, d_k)`` of one dtype, device and ``d_k``
    (their leading dimensions are checked by `broadcast_batch`, after grouped-query heads are
    repeated)."""
    query = check_finite("query", check_floating("query", query), always=always)
    key = check_finite("key", check_floating("key", key), always=always)
    check_like("key", key, "query", query)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dimension d_k: query has shape "
            f"{tuple(query.shape)}, key has shape {tuple(key.shape)}"
        )
    return query, key


def check_value(value: object, key: Tensor, *, always: bool = False) -> Tensor:
    """``value (..., n_k, d_v)``: one per key, of the keys' dtype and device."""
    value = check_finite("value", check_floating("value", value), always=always)
    check_like("value", value, "key", key)
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(
            f"key (..., n_k, d_k) and value (..., n_k, d_v) must have the same length n_k: key has shape "
            f"{tuple(key.shape)}, value has shape {tuple(value.shape)}"
        )
    return value


def check_gqa(enable_gqa: object, query: Tensor, key: Tensor, value: Tensor) -> int:
    """How many query heads share each key/value head: 1, or with ``enable_gqa=True``
    ``query.shape[-3] // key.shape[-3]``, which must be a whole number (heads are dimension -3)."""
    if not check_bool("enable_gqa", enable_gqa) or query.dim() < 3 or key.dim() < 3:
        return 1
    num_heads, num_kv_heads = query.shape[-3], key.shape[-3]
    if value.dim() < 3 or value.shape[-3] != num_kv_heads or num_kv_heads == 0 or num_heads % num_kv_heads != 0:
        raise ValueError(
            f"enable_gqa=True needs key and value with the same number of heads (dimension -3), dividing the "
            f"query's: query has shape {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        )
    return num_heads // num_kv_heads


def check_module_inputs(inputs: object, d_in: int, weight: Tensor | None = None) -> Tensor:
    """The inputs of a module: floating ``(..., seq_len, d_in)``, of the dtype and on the
    device of the module's ``weight`` when one is given."""
    tensor = check_finite("inputs", check_floating("inputs", inputs))
    if tensor.shape[-1] != d_in:
        raise ValueError(f"inputs must have shape (..., seq_len, d_in={d_in}), got shape {tuple(tensor.shape)}")
    if weight is not None:
        check_like("inputs", tensor, "the module's weights", weight)
    return tensor


def check_weight(name: str, weight: object, *, d_in: int, inputs: Tensor, always: bool = False) -> Tensor:
    """A projection matrix of shape ``(d_in, d_out)`` matching the inputs."""
    tensor = check_finite(name, check_floating(name, weight, min_dim=2), always=always)
    if tensor.dim() != 2 or tensor.shape[0] != d_in:
        raise ValueError(
            f"{name} must have shape (d_in, d_out) = ({d_in}, d_out) to multiply inputs "
            f"whose last dimension is d_in={d_in}, got shape {tuple(tensor.shape)}"
        )
    check_like(name, tensor, "inputs", inputs)
    return tensor


def check_scale(scale: object) -> float | None:
    """``None`` or a finite real number (a Python or NumPy scalar, as torch accepts; torch
    accepts 0 and negative scales too)."""
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a float or None, got {type(scale).__name__}")
    scale = float(scale)
    if not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale}")
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
    name: str = "attn_mask",
) -> Tensor: ...


@overload
def check_mask(
    mask: object,
    scores_shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    always: bool = False,
    name: str = "attn_mask",
) -> Tensor | None: ...


def check_mask(
    mask: object,
    scores_shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    always: bool = False,
    name: str = "attn_mask",
) -> Tensor | None:
    """A boolean (``True`` = may attend) or floating (added to the scores) mask that
    broadcasts to ``scores_shape``; a floating one must have the scores' ``dtype``, and
    either must be on their ``device``, when these are given."""
    if mask is None:
        return None
    tensor = check_tensor(name, mask)
    if tensor.dtype != torch.bool and not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a boolean tensor (True = may attend) or a floating tensor added "
            f"to the scores, got dtype {tensor.dtype}"
        )
    if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
        raise TypeError(
            f"a floating {name} must have the dtype of the scores, {dtype}, got {tensor.dtype}: "
            f"a cast could turn large finite values into infinities, so cast it yourself with "
            f"{name}.to({dtype}) after making sure its values fit"
        )
    if device is not None and tensor.device != device:
        raise ValueError(
            f"{name} is on {tensor.device} but the scores are on {device}: move it with {name}.to({str(device)!r})"
        )
    if not broadcasts_to(tensor.shape, scores_shape):
        raise ValueError(
            f"{name} of shape {tuple(tensor.shape)} cannot broadcast to the scores' shape "
            f"{tuple(scores_shape)} (..., query_len, key_len)"
        )
    if tensor.is_floating_point():
        check_finite(name, tensor, allow_neg_inf=True, always=always)
    return tensor


def check_dropout(dropout: object, *, name: str = "dropout", allow_one: bool = False) -> float:
    """A probability in ``[0, 1)``, or ``[0, 1]`` with ``allow_one`` (as
    ``F.scaled_dot_product_attention``'s ``dropout_p``: 1 drops every weight)."""
    interval = "[0, 1]" if allow_one else "[0, 1)"
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(f"{name} must be a float in {interval}, got {type(dropout).__name__}")
    dropout = float(dropout)
    if not (0.0 <= dropout <= 1.0 if allow_one else 0.0 <= dropout < 1.0):
        raise ValueError(f"{name} must be in {interval}, got {dropout}")
    return dropout


def check_size(name: str, value: object, *, minimum: int) -> int:
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
