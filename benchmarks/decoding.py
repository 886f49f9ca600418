"""Generation speed of a small decoder with and without the KV cache."""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.results import machine, versions
from selfattention.kv_cache import KVCache
from selfattention.multihead import MultiHeadAttention

__all__ = ["DecodeSpeed", "Decoder", "generate", "load_decode_speed", "measure_decoding"]


@dataclass
class DecodeSpeed:
    """Generation speed of a small decoder, with and without the KV cache.

    Attributes:
        date, command, machine, versions: when, how and on what it was measured.
        config: the model and the run (layers, d_model, heads, kv_heads, prompt_len,
            new_tokens, rounds, threads).
        seconds: median seconds to generate ``new_tokens`` after the prompt, per mode
            (``"cache"``, ``"no_cache"``); the prompt's forward pass included.
        tokens_per_s: ``new_tokens / seconds``, per mode.
        speedup: median over the rounds of ``no_cache / cache`` within a round.
        same_outputs: the two modes generated the same vectors (``torch.allclose``).
    """

    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    config: dict[str, Any]
    seconds: dict[str, float]
    tokens_per_s: dict[str, float]
    speedup: float
    same_outputs: bool


class Decoder(torch.nn.Module):
    """Pre-norm decoder blocks: causal grouped-query attention with RoPE, then an MLP.

    Shapes: ``forward(inputs (batch, n, d_model), caches)`` -> ``(batch, n, d_model)``; ``caches``
    holds one `selfattention.KVCache` per layer, or is None (no cache).
    """

    def __init__(self, layers: int, d_model: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(d_model) for _ in range(2 * layers))
        self.attention = torch.nn.ModuleList(
            MultiHeadAttention(d_model, d_model, heads, num_kv_heads=kv_heads, causal=True, rope=True)
            for _ in range(layers)
        )
        self.mlp = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.Linear(d_model, 4 * d_model), torch.nn.GELU(), torch.nn.Linear(4 * d_model, d_model)
            )
            for _ in range(layers)
        )

    def forward(self, inputs: torch.Tensor, caches: Sequence[KVCache] | None = None) -> torch.Tensor:
        x = inputs
        for i, (attention, mlp) in enumerate(zip(self.attention, self.mlp, strict=True)):
            x = x + attention(self.norms[2 * i](x), cache=None if caches is None else caches[i])
            x = x + mlp(self.norms[2 * i + 1](x))
        return x


def generate(model: Decoder, prompt: torch.Tensor, new_tokens: int, *, cache: bool) -> torch.Tensor:
    """Feed each last output vector back as the next input (a model without a vocabulary).

    Shapes: ``prompt (batch, n, d_model)`` -> the generated ``(batch, new_tokens, d_model)``. With
    ``cache`` each step feeds only the new vector, with a `selfattention.KVCache` per layer;
    without, each step recomputes the whole sequence.
    """
    if cache:
        caches = [KVCache() for _ in model.attention]
        step = model(prompt, caches)[:, -1:]
        generated = [step]
        for _ in range(new_tokens - 1):
            step = model(step, caches)[:, -1:]
            generated.append(step)
        return torch.cat(generated, dim=1)
    sequence = prompt
    for _ in range(new_tokens):
        sequence = torch.cat((sequence, model(sequence)[:, -1:]), dim=1)
    return sequence[:, prompt.shape[1] :]


def _ignore(line: str) -> None:
    """The default ``log``: print nothing."""


def measure_decoding(
    *,
    layers: int = 4,
    d_model: int = 256,
    heads: int = 8,
    kv_heads: int = 2,
    prompt_len: int = 64,
    new_tokens: int = 64,
    rounds: int = 5,
    threads: int | None = 1,
    command: str = "",
    log: Callable[[str], None] = _ignore,
) -> DecodeSpeed:
    """Tokens per second of a small decoder (``layers`` blocks of causal grouped-query
    attention with RoPE and an MLP) generating ``new_tokens`` after a ``prompt_len`` prompt,
    with a `selfattention.KVCache` per layer and without one (every step recomputes the whole
    sequence). Interleaved round by round; ``threads=1`` runs torch on one thread."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Decoder(layers, d_model, heads, kv_heads).eval()
    prompt = torch.randn(1, prompt_len, d_model)
    times: dict[str, list[float]] = {"cache": [], "no_cache": []}
    ratios = []
    with torch.inference_mode():
        outputs = {mode: generate(model, prompt, new_tokens, cache=mode == "cache") for mode in times}  # warm-up
        for _ in range(rounds):
            for mode in times:
                start = time.perf_counter()
                generate(model, prompt, new_tokens, cache=mode == "cache")
                times[mode].append(time.perf_counter() - start)
            ratios.append(times["no_cache"][-1] / times["cache"][-1])
            log(f"cache {times['cache'][-1]:.3f} s, no cache {times['no_cache'][-1]:.3f} s, ratio {ratios[-1]:.2f}")
    seconds = {mode: statistics.median(values) for mode, values in times.items()}
    config = {
        "layers": layers,
        "d_model": d_model,
        "heads": heads,
        "kv_heads": kv_heads,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "rounds": rounds,
        "threads": threads,
    }
    return DecodeSpeed(
        date=dt.date.today().isoformat(),
        command=command,
        machine=machine("cpu"),
        versions=versions(),
        config=config,
        seconds=seconds,
        tokens_per_s={mode: new_tokens / value for mode, value in seconds.items()},
        speedup=statistics.median(ratios),
        same_outputs=torch.allclose(outputs["cache"], outputs["no_cache"], atol=1e-4, rtol=1e-4),
    )


def load_decode_speed(path: str | os.PathLike[str]) -> DecodeSpeed:
    """Read a ``.json`` file written by ``python -m benchmarks --decode``."""
    return DecodeSpeed(**json.loads(Path(path).read_text(encoding="utf-8")))
