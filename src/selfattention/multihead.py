"""Multi-head attention: several attention heads side by side, in one batched product.

The queries, keys and values of width ``d_out`` are split into ``num_heads`` slices of width
``head_dim = d_out // num_heads``; each head attends with its own slice, and the heads'
outputs are concatenated and mixed by an output projection.

The same module covers what current models add: grouped-query and multi-query attention
(``num_kv_heads``), rotary positions (``rope=True``), incremental decoding with a
`selfattention.KVCache` (``cache=``) and cross-attention (``context=``, or ``context_kv=`` with the
context's keys and values projected once by ``MultiHeadAttention.project_context``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfattention._checks import (
    check_bool,
    check_dropout,
    check_finite,
    check_floating,
    check_like,
    check_mask,
    check_module_inputs,
    check_parameters,
    check_positive_int,
    check_scale,
    default_scale,
)
from selfattention.attention import AttentionSteps, attention_steps
from selfattention.kv_cache import KVCache
from selfattention.masks import causal_and
from selfattention.rope import _check_base, apply_rope

__all__ = ["MultiHeadAttention", "MultiHeadSteps"]


@dataclass(frozen=True)
class MultiHeadSteps(AttentionSteps):
    """Every intermediate tensor of one `MultiHeadAttention` forward pass (no dropout).

    The fields of `AttentionSteps`, per query head: ``queries`` and ``context`` are
    ``(..., num_heads, seq_len, head_dim)``; ``keys`` and ``values`` are
    ``(..., num_heads, key_len, head_dim)``, each key/value head repeated for the query heads
    of its group (``key_len`` is ``seq_len``, or ``ctx_len`` with ``context`` or ``context_kv``, or
    the cache's length after the call with ``cache``); ``scores`` and ``weights`` are
    ``(..., num_heads, seq_len, key_len)``. Then:

    Attributes:
        concatenated: ``(..., seq_len, d_out)``, the heads side by side.
        output: ``(..., seq_len, d_out)``, after the output projection.
    """

    concatenated: Tensor
    output: Tensor


class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention, grouped-query, with RoPE, a KV cache, or cross-attention.

    Args:
        d_in: width of each input vector (and of each ``context`` vector).
        d_out: width of the output, split evenly across the query heads.
        num_heads: number of query heads; must divide ``d_out``.
        num_kv_heads: number of key/value heads, ``None`` for ``num_heads`` (plain multi-head
            attention); must divide ``num_heads``. Query head ``h`` uses key/value head
            ``h // (num_heads // num_kv_heads)``, the grouping of
            ``F.scaled_dot_product_attention(..., enable_gqa=True)``: grouped-query attention
            (Ainslie et al., 2023), or multi-query attention with ``num_kv_heads=1``
            (Shazeer, 2019). ``w_key`` and ``w_value`` project to ``num_kv_heads * head_dim``.
        dropout: probability of zeroing each attention weight while training; nothing is
            dropped in evaluation mode (``module.eval()``).
        causal: let each token attend only to itself and earlier tokens.
        qkv_bias: give the query, key and value projections a bias (the output projection
            always has one, as in ``nn.MultiheadAttention``).
        rope: rotate the queries and keys by their positions (`selfattention.apply_rope`,
            interleaved pairs) before the scores; needs an even ``head_dim``.
        rope_base: the base of RoPE's angles, ``theta_i = rope_base ** (-2 i / head_dim)``:
            10000 as in RoFormer and Llama 2; weights trained with another base need theirs
            (Llama 3: 500000). Only with ``rope=True``.
        scale: multiplies the scores of each head; ``None`` means ``1 / sqrt(head_dim)``, the
            width of one head (not of ``d_out``).

    ``forward(inputs, mask=None, *, context=None, cache=None, context_kv=None)``:

    - ``mask``: optional, boolean (``True`` = may attend, the polarity of
      ``F.scaled_dot_product_attention``'s ``attn_mask``, the opposite of
      ``nn.MultiheadAttention``'s: hence its other name) or floating (added to the scores),
      broadcastable to ``(seq_len, key_len)`` (a ``(key_len,)`` mask applies to every query),
      or with batch dimensions ``(..., 1 or num_heads, seq_len, key_len)``; with
      ``causal=True`` it is combined with the causal mask.
    - ``context``: ``(..., ctx_len, d_in)``, the sequence the keys and values come from
      (cross-attention); the queries come from ``inputs``. Not with ``causal``, ``rope`` or
      ``cache``.
    - ``context_kv``: the pair ``(keys, values)`` that `project_context` returns for a context,
      each ``(..., num_kv_heads, ctx_len, head_dim)`` with the batch dimensions of ``inputs``:
      cross-attention without projecting the context again, as a decoder does at every step
      over one encoder output. The same output as ``context=`` with that context. Not with
      ``context``, ``causal``, ``rope`` or ``cache``.
    - ``cache``: a `selfattention.KVCache` (needs ``causal=True``). The call appends the keys
      and values of ``inputs`` to it and attends over everything it holds; the new tokens are
      the last positions, so query ``i`` of the call sees every cached position and the new
      ones up to itself, and RoPE positions continue from the cache's length. One call on a
      whole sequence and a prefill followed by one token per call give the same outputs.

    ``key_len`` is ``seq_len`` for self-attention, ``ctx_len`` with ``context`` or
    ``context_kv``, and the cache's length after the call with ``cache``.

    ``forward`` calls PyTorch's ``F.scaled_dot_product_attention``, which runs a fused kernel
    where its conditions hold (on the CPU, in PyTorch 2.13: batched inputs and no dropout; an
    unbatched input or dropout while training takes its math path), and checks only metadata;
    ``steps`` computes the same thing explicitly, one tensor at a time.

    Shapes: ``forward(inputs (..., seq_len, d_in)) -> (..., seq_len, d_out)``.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        dropout: float = 0.0,
        causal: bool = False,
        qkv_bias: bool = False,
        rope: bool = False,
        rope_base: float = 10000.0,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("d_in", d_in)
        check_positive_int("d_out", d_out)
        check_positive_int("num_heads", num_heads)
        if d_out % num_heads != 0:
            raise ValueError(
                f"num_heads={num_heads} must divide d_out={d_out}: each head gets "
                f"d_out // num_heads dimensions (try num_heads in "
                f"{[h for h in range(1, d_out + 1) if d_out % h == 0]})"
            )
        num_kv_heads = num_heads if num_kv_heads is None else check_positive_int("num_kv_heads", num_kv_heads)
        if num_heads % num_kv_heads != 0:
            raise ValueError(
                f"num_kv_heads={num_kv_heads} must divide num_heads={num_heads}: each key/value head "
                f"serves num_heads // num_kv_heads query heads (try num_kv_heads in "
                f"{[h for h in range(1, num_heads + 1) if num_heads % h == 0]})"
            )
        self.d_in, self.d_out, self.num_heads, self.num_kv_heads = d_in, d_out, num_heads, num_kv_heads
        self.head_dim = d_out // num_heads
        self.dropout = check_dropout(dropout)
        self.causal = check_bool("causal", causal)
        self.rope = check_bool("rope", rope)
        if rope and self.head_dim % 2 != 0:
            raise ValueError(
                f"rope=True rotates pairs of coordinates and needs an even head size, got "
                f"head_dim = d_out // num_heads = {d_out} // {num_heads} = {self.head_dim}"
            )
        self.rope_base = _check_base(rope_base, "rope_base")
        if not rope and self.rope_base != 10000.0:
            raise ValueError(f"rope_base={rope_base} sets RoPE's angles and is used only with rope=True")
        self.scale = default_scale(check_scale(scale), self.head_dim)
        qkv_bias = check_bool("qkv_bias", qkv_bias)
        kv_width = num_kv_heads * self.head_dim
        self.w_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.w_key = nn.Linear(d_in, kv_width, bias=qkv_bias)
        self.w_value = nn.Linear(d_in, kv_width, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)

    def split_heads(self, projected: Tensor) -> Tensor:
        """``(..., seq_len, heads * head_dim) -> (..., heads, seq_len, head_dim)``, for the
        queries (``num_heads``) or the keys and values (``num_kv_heads``)."""
        *batch, seq_len, width = projected.shape
        return projected.view(*batch, seq_len, width // self.head_dim, self.head_dim).transpose(-3, -2)

    def merge_heads(self, context: Tensor) -> Tensor:
        """``(..., num_heads, seq_len, head_dim) -> (..., seq_len, d_out)``: heads side by side."""
        *batch, _, seq_len, _ = context.shape
        return context.transpose(-3, -2).reshape(*batch, seq_len, self.d_out)

    def check(
        self,
        inputs: Tensor,
        mask: Tensor | None,
        *,
        context: Tensor | None = None,
        cache: KVCache | None = None,
        context_kv: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor | None, bool]:
        """Check the arguments of ``forward`` (metadata only, unless value checks are on) and
        return the ``attn_mask`` and ``is_causal`` arguments of ``F.scaled_dot_product_attention``:
        with ``causal=True``, ``(None, True)`` without a mask or cache, else the mask combined
        with the causal mask aligned to the last positions (``None`` for one new token and no
        mask). A mask of fewer than two dimensions is expanded (a view) to ``(seq_len, key_len)``.

        Shapes: ``inputs (..., seq_len, d_in)``, ``mask`` broadcastable to ``(seq_len, key_len)``
        or ``(..., 1 or num_heads, seq_len, key_len)`` -> a mask broadcastable to
        ``(..., num_heads, seq_len, key_len)``, or ``None``.
        """
        inputs = check_module_inputs(inputs, self.d_in, self.w_query.weight)
        check_parameters(self)  # a value check: only inside checks()
        *batch, seq_len, _ = inputs.shape
        key_len = seq_len
        if context is not None and context_kv is not None:
            raise ValueError(
                "context and context_kv cannot be used together: context_kv holds the keys and values "
                "already projected from a context (project_context); pass one of them"
            )
        if context is not None:
            context = self._check_context(inputs, context, cache)
            key_len = context.shape[-2]
        if context_kv is not None:
            keys, _ = self._check_context_kv(inputs, context_kv, cache)
            key_len = keys.shape[-2]
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
            if not self.causal:
                raise ValueError(
                    "cache needs causal=True: without the causal mask an earlier token would attend "
                    "to later ones in a full pass, which a cache of the past cannot reproduce"
                )
            key_len = cache.seq_len + seq_len
        if mask is not None:
            scores_shape = (*batch, self.num_heads, seq_len, key_len)
            mask = check_mask(mask, scores_shape, dtype=inputs.dtype, device=inputs.device, name="mask")
            if mask.dim() > 2 and mask.dim() != len(scores_shape):
                raise ValueError(
                    f"a mask with batch dimensions must have a head dimension too: expected "
                    f"shape (..., 1 or {self.num_heads}, {seq_len}, {key_len}) for inputs of "
                    f"shape {tuple(inputs.shape)}, got {tuple(mask.shape)}"
                )
            if mask.dim() < 2:  # F.scaled_dot_product_attention needs (..., seq_len, key_len)
                mask = mask.expand(seq_len, key_len)
        if not self.causal:
            return mask, False
        if mask is None and key_len == seq_len:
            return None, True  # nothing cached: the usual upper-left causal mask
        if mask is None and seq_len == 1:
            return None, False  # one new token sees every position held
        return causal_and(mask, seq_len, key_len=key_len, device=inputs.device), False  # aligned to the last

    def _check_context_tensor(self, context: object, like: Tensor, like_name: str) -> Tensor:
        """``context (..., ctx_len, d_in)``, floating, of the dtype and on the device of ``like``."""
        context = check_finite("context", check_floating("context", context))
        check_like("context", context, like_name, like)
        if context.shape[-1] != self.d_in:
            raise ValueError(
                f"context must have shape (..., ctx_len, d_in={self.d_in}), got shape {tuple(context.shape)}"
            )
        return context

    def _check_cross_attention(self, name: str, cache: object) -> None:
        """Cross-attention (``context`` or ``context_kv``, named ``name``) with neither the causal
        mask, RoPE nor a cache."""
        for flag, reason in (
            ("causal", "a causal mask needs queries and keys from one sequence"),
            ("rope", "RoPE measures offsets between positions of one sequence"),
        ):
            if getattr(self, flag):
                raise ValueError(f"{name} (cross-attention) cannot be used with {flag}=True: {reason}")
        if cache is not None:
            advice = (
                "project the context once with project_context(context) and pass the result as context_kv at each step"
                if name == "context"
                else "context_kv already holds them, projected once: pass it without a cache"
            )
            raise ValueError(
                f"{name} and cache cannot be used together: a cache grows by the keys and values of each "
                f"new token, while a context's keys and values stay the same at every step; {advice}"
            )

    def _check_context(self, inputs: Tensor, context: object, cache: object) -> Tensor:
        context = self._check_context_tensor(context, inputs, "inputs")
        if context.shape[:-2] != inputs.shape[:-2]:
            raise ValueError(
                f"context must have the batch dimensions of inputs: inputs have shape "
                f"{tuple(inputs.shape)}, context has shape {tuple(context.shape)}"
            )
        self._check_cross_attention("context", cache)
        return context

    def _check_context_kv(self, inputs: Tensor, context_kv: object, cache: object) -> tuple[Tensor, Tensor]:
        """The ``(keys, values)`` of `project_context`: each ``(..., num_kv_heads, ctx_len, head_dim)``
        with the batch dimensions ``inputs.shape[:-2]``, of the inputs' dtype and device."""
        if not isinstance(context_kv, tuple | list) or len(context_kv) != 2:
            length = f" of length {len(context_kv)}" if isinstance(context_kv, tuple | list) else ""
            raise TypeError(
                f"context_kv must be a (keys, values) pair, as project_context returns, got "
                f"{type(context_kv).__name__}{length}"
            )
        pair = []
        for index, part in enumerate(context_kv):
            name = f"context_kv[{index}]"
            tensor = check_finite(name, check_floating(name, part, min_dim=3))
            check_like(name, tensor, "inputs", inputs)
            if (
                tensor.shape[:-3] != inputs.shape[:-2]
                or tensor.shape[-3] != self.num_kv_heads
                or tensor.shape[-1] != self.head_dim
            ):
                batch = "".join(f"{size}, " for size in inputs.shape[:-2])
                raise ValueError(
                    f"{name} ({('keys', 'values')[index]}) must have shape ({batch}num_kv_heads={self.num_kv_heads}, "
                    f"ctx_len, head_dim={self.head_dim}) for inputs of shape {tuple(inputs.shape)}, as this "
                    f"module's project_context returns them, got shape {tuple(tensor.shape)}"
                )
            pair.append(tensor)
        keys, values = pair
        if keys.shape != values.shape:
            raise ValueError(
                f"context_kv[0] (keys) and context_kv[1] (values) must have one shape, one key and one value "
                f"per context token: got {tuple(keys.shape)} and {tuple(values.shape)}"
            )
        self._check_cross_attention("context_kv", cache)
        return keys, values

    def project_context(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """The keys and values of a context, per key/value head, for ``forward(...,
        context_kv=...)``: cross-attention's keys and values depend on the context only, so a
        decoder projects the encoder's output once and reuses them at every step.

        Checks ``context`` as ``forward(..., context=context)`` does, except its batch
        dimensions (``forward`` checks them against its ``inputs``).

        Shapes: ``context (..., ctx_len, d_in)`` -> keys and values, each
        ``(..., num_kv_heads, ctx_len, head_dim)``.
        """
        context = self._check_context_tensor(context, self.w_key.weight, "the module's weights")
        self._check_cross_attention("context", None)
        check_parameters(self)  # a value check: only inside checks()
        return self._project_keys_values(context)

    def _project_keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """``(..., key_len, d_in)`` -> keys and values ``(..., num_kv_heads, key_len, head_dim)``."""
        return self.split_heads(self.w_key(source)), self.split_heads(self.w_value(source))

    def project(
        self,
        inputs: Tensor,
        *,
        context: Tensor | None = None,
        cache: KVCache | None = None,
        context_kv: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The queries, keys and values per head, rotated (``rope=True``), and the keys and
        values appended to ``cache`` (all it holds is returned); with ``context_kv`` its keys
        and values, not projected again. Call `check` first.

        Shapes: ``inputs (..., seq_len, d_in)`` -> queries ``(..., num_heads, seq_len,
        head_dim)``, keys and values ``(..., num_kv_heads, key_len, head_dim)``.
        """
        queries = self.split_heads(self.w_query(inputs))  # (..., num_heads, seq_len, head_dim)
        if context_kv is not None:
            keys, values = context_kv  # (..., num_kv_heads, ctx_len, head_dim), projected once
        else:  # each (..., num_kv_heads, key_len, head_dim)
            keys, values = self._project_keys_values(inputs if context is None else context)
        if self.rope:
            start = 0 if cache is None else cache.seq_len  # positions continue from the cache
            positions = torch.arange(start, start + inputs.shape[-2], device=inputs.device)
            queries = apply_rope(queries, positions, base=self.rope_base)
            keys = apply_rope(keys, positions, base=self.rope_base)
        if cache is not None:
            keys, values = cache.append(keys, values)  # (..., num_kv_heads, key_len, head_dim)
        return queries, keys, values

    def forward(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        *,
        context: Tensor | None = None,
        cache: KVCache | None = None,
        context_kv: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        mask, is_causal = self.check(inputs, mask, context=context, cache=cache, context_kv=context_kv)
        queries, keys, values = self.project(inputs, context=context, cache=cache, context_kv=context_kv)
        attended = F.scaled_dot_product_attention(  # (..., num_heads, seq_len, head_dim)
            queries,
            keys,
            values,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
            scale=self.scale,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )
        output: Tensor = self.out_proj(self.merge_heads(attended))  # (..., seq_len, d_out)
        return output

    def steps(
        self,
        inputs: Tensor,
        mask: Tensor | None = None,
        *,
        context: Tensor | None = None,
        cache: KVCache | None = None,
        context_kv: tuple[Tensor, Tensor] | None = None,
    ) -> MultiHeadSteps:
        """The forward pass without dropout, computed explicitly and keeping every
        intermediate tensor (and checking the values for NaN and infinity). Key/value head
        ``h // (num_heads // num_kv_heads)`` is repeated for query head ``h``; with ``cache``
        the new keys and values are appended to it, as in ``forward``; ``context`` and
        ``context_kv`` are taken as in ``forward``."""
        mask, is_causal = self.check(inputs, mask, context=context, cache=cache, context_kv=context_kv)
        queries, keys, values = self.project(inputs, context=context, cache=cache, context_kv=context_kv)
        # The keys and values of key/value head h are repeated for the query heads of its group.
        steps = attention_steps(queries, keys, values, mask, is_causal, self.scale, enable_gqa=True)
        concatenated = self.merge_heads(steps.context)
        per_head = {field.name: getattr(steps, field.name) for field in fields(steps)}
        return MultiHeadSteps(**per_head, concatenated=concatenated, output=self.out_proj(concatenated))

    def extra_repr(self) -> str:
        kv = f"num_kv_heads={self.num_kv_heads}, " if self.num_kv_heads != self.num_heads else ""
        rope = ", rope=True" if self.rope else ""
        rope += f", rope_base={self.rope_base:g}" if self.rope_base != 10000.0 else ""
        default = self.scale == 1 / math.sqrt(self.head_dim)
        scale = f"1/sqrt({self.head_dim})={self.scale:.4g}" if default else f"{self.scale:.4g}"
        return (
            f"d_in={self.d_in}, d_out={self.d_out}, num_heads={self.num_heads}, {kv}"
            f"head_dim={self.head_dim}, dropout={self.dropout}, causal={self.causal}{rope}, "
            f"scale={scale}"
        )
