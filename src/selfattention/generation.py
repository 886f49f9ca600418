"""Generating text: one token at a time, with or without a KV cache.

Each step reads the logits of the last position and appends one token: the most likely one
(greedy, ``temperature=0``) or one drawn from the softmax of ``logits / temperature``, optionally
among the ``top_k`` most likely. With ``use_cache=True`` the model computes the keys and values of
each token once (until the window slides, see `generate`) and keeps them in one
`selfattention.KVCache` per block (Raschka's *Build a Large Language Model (From Scratch)*, bonus
material on the KV cache); without it, every step runs the model on the whole window again. Both
give the same tokens, unless two candidates' logits tie to within rounding error (the two ways
sum in different orders).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from selfattention._checks import check_bool, check_size, check_tensor
from selfattention.gpt import TinyGPT

__all__ = ["generate"]


def _check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a float >= 0, got {type(temperature).__name__}")
    if not 0.0 <= float(temperature) < float("inf"):
        raise ValueError(f"temperature must be a finite float >= 0 (0 for greedy decoding), got {temperature}")
    return float(temperature)


def _next_token(logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    """``(batch, vocab_size) -> (batch, 1)``: the argmax, or a draw from ``generator``."""
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))  # only the top_k may be drawn
    probabilities = torch.softmax(logits, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)


def generate(
    model: TinyGPT,
    ids: Tensor,
    max_new_tokens: int,
    *,
    use_cache: bool = True,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Continue ``ids`` by ``max_new_tokens`` tokens.

    Args:
        model: the language model, in evaluation mode if it has dropout (``model.eval()``).
        ids: the prompt, ``(seq_len,)`` or ``(batch, seq_len)`` integer token ids.
        max_new_tokens: how many tokens to append (0 returns ``ids``).
        use_cache: keep the keys and values of past tokens in a `selfattention.KVCache` per block
            and run the model on the new token only; ``False`` runs it on the whole window at
            every step. The tokens are the same, unless two logits tie to within rounding error.
        temperature: 0 picks the most likely token (greedy decoding); a positive value samples
            from ``softmax(logits / temperature)``: below 1 sharper, above 1 flatter.
        top_k: sample only among the ``top_k`` most likely tokens (``None``: all); no effect when
            greedy.
        generator: the only source of the random draws when sampling (``None``: PyTorch's
            default generator). The same seed gives the same tokens, with or without the cache.

    The model reads at most ``model.context_len`` tokens: past it, each step sees the last
    ``context_len`` tokens (a sliding window). Positions are counted from the window's start,
    and from the second block on every key and value has seen the token that left the window,
    so what a cache holds no longer belongs to the window; the cache is therefore emptied and
    filled again from the window whenever it is full. Past
    ``context_len`` that happens at every step, and generation is no faster than without it.

    Runs under ``torch.no_grad()``.

    Shapes: ``ids (..., seq_len) -> (..., seq_len + max_new_tokens)``, ``...`` at most one batch
    dimension.
    """
    if not isinstance(model, TinyGPT):
        raise TypeError(f"model must be a TinyGPT, got {type(model).__name__}")
    ids = check_tensor("ids", ids)
    if ids.dim() not in (1, 2) or ids.shape[-1] < 1:
        raise ValueError(
            f"ids must have shape (seq_len,) or (batch, seq_len) with seq_len >= 1, got {tuple(ids.shape)}"
        )
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"ids must be integer token ids (torch.int64), got {ids.dtype}")
    max_new_tokens = check_size("max_new_tokens", max_new_tokens, minimum=0)
    use_cache = check_bool("use_cache", use_cache)
    temperature = _check_temperature(temperature)
    if top_k is not None:
        top_k = check_size("top_k", top_k, minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if model.training and model.dropout.p > 0:
        raise ValueError(
            f"model is in training mode with dropout={model.dropout.p}: its outputs are random; call model.eval() first"
        )
    batched = ids if ids.dim() == 2 else ids.unsqueeze(0)  # (batch, seq_len)
    window = model.context_len
    caches = model.new_caches() if use_cache else None
    with torch.no_grad():
        for _ in range(max_new_tokens):
            if caches is None:
                logits = model(batched[:, -window:])  # the whole window, every step
            elif caches[0].seq_len == 0 or caches[0].seq_len == window:
                for cache in caches:  # (re)fill: at the start, and when the window slides
                    cache.reset()
                logits = model(batched[:, -window:], caches=caches)
            else:
                logits = model(batched[:, -1:], caches=caches)  # the newest token only
            token = _next_token(logits[:, -1, :], temperature, top_k, generator)  # (batch, 1)
            batched = torch.cat((batched, token.to(batched.dtype)), dim=-1)
    return batched if ids.dim() == 2 else batched.squeeze(0)
