"""Tokens of text per second of a tiny GPT generating with and without the KV cache."""

from __future__ import annotations

import dataclasses
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
from selfattention.generation import generate
from selfattention.gpt import TinyGPT

__all__ = ["SIZES", "DecodeRun", "DecodeSpeed", "encode", "load_decode_speed", "measure_decoding", "save_decode_speed"]

MODES = ("cache", "no_cache")

# The models that ``python -m benchmarks --decode --decode-size NAME`` measures, their runs
# ``(prompt_len, new_tokens)`` (the first within the context, the second, if any, past it) and rounds.
SIZES: dict[str, dict[str, Any]] = {
    # the model of the tiny-GPT page
    "tiny-gpt": {
        "context_len": 32,
        "d_model": 32,
        "num_layers": 2,
        "num_heads": 2,
        "runs": ((8, 24), (32, 96)),
        "rounds": 21,
    },
    # eight times as wide, twice as deep, a context eight times as long
    "wider": {"context_len": 256, "d_model": 256, "num_layers": 4, "num_heads": 4, "runs": ((32, 224),), "rounds": 5},
}


@dataclass
class DecodeRun:
    """One prompt length and number of new tokens, generated with and without the cache.

    Attributes:
        prompt_len: tokens of the prompt (the first ``prompt_len`` characters of the text).
        new_tokens: tokens generated after it (greedy decoding).
        seconds: median wall-clock seconds of one ``generate`` call, per mode (``"cache"``,
            ``"no_cache"``); the prompt's forward pass included.
        cpu_seconds: the same in CPU time of the process (``time.process_time``).
        tokens_per_s: ``new_tokens / seconds``, per mode.
        cpu_tokens_per_s: ``new_tokens / cpu_seconds``, per mode: on a machine shared with other
            work, closer to what the run would reach alone than the wall-clock rate.
        speedup: ``seconds["no_cache"] / seconds["cache"]``, the ratio of the two rates.
        cpu_speedup: the same in CPU time, steadier on a machine shared with other work.
        same_ids: both modes returned the same token ids in every round.
    """

    prompt_len: int
    new_tokens: int
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    tokens_per_s: dict[str, float]
    cpu_tokens_per_s: dict[str, float]
    speedup: float
    cpu_speedup: float
    same_ids: bool


@dataclass
class DecodeSpeed:
    """Generation speed of a `selfattention.TinyGPT` on a text prompt, with and without the KV cache.

    Attributes:
        date, command, machine, versions: when, how and on what it was measured.
        model: the arguments of `selfattention.TinyGPT` (``vocab_size`` is the number of distinct
            characters of the text) and ``"weights"``, how its weights were set.
        text: where the prompts come from (``"name"``, ``"characters"``) and the tokenizer.
        rounds, threads: timed rounds per run (after one warm-up round), torch threads.
        runs: the measurements, in the order of the ``runs`` argument of `measure_decoding`.
    """

    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    model: dict[str, Any]
    text: dict[str, Any]
    rounds: int
    threads: int | None
    runs: list[DecodeRun]


def encode(text: str, vocabulary: str) -> torch.Tensor:
    """Character-level token ids: the index of each character of ``text`` in ``vocabulary``.

    Shapes: ``text`` of ``n`` characters -> ``(n,)`` int64 ids.
    """
    index = {character: i for i, character in enumerate(vocabulary)}
    missing = sorted(set(text) - set(index))
    if missing:
        raise ValueError(f"text has characters that are not in vocabulary: {''.join(missing)!r}")
    return torch.tensor([index[character] for character in text], dtype=torch.int64)


def _ignore(line: str) -> None:
    """The default ``log``: print nothing."""


def _time_run(
    model: TinyGPT, prompt: torch.Tensor, new_tokens: int, rounds: int, log: Callable[[str], None]
) -> DecodeRun:
    """Interleave the two modes round by round; one untimed warm-up round first."""
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    same_ids = True
    for round_index in range(rounds + 1):
        outputs = {}
        for mode in MODES:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            outputs[mode] = generate(model, prompt, new_tokens, use_cache=mode == "cache")
            stop_wall, stop_cpu = time.perf_counter(), time.process_time()
            if round_index:  # round 0 warms up
                wall[mode].append(stop_wall - start_wall)
                cpu[mode].append(stop_cpu - start_cpu)
        same_ids = same_ids and torch.equal(outputs["cache"], outputs["no_cache"])
        if round_index:
            log(
                f"prompt {prompt.shape[-1]}, {new_tokens} new: cache {wall['cache'][-1]:.3f} s, "
                f"no cache {wall['no_cache'][-1]:.3f} s (CPU {cpu['cache'][-1]:.3f} s, {cpu['no_cache'][-1]:.3f} s)"
            )
    seconds = {mode: statistics.median(values) for mode, values in wall.items()}
    cpu_seconds = {mode: statistics.median(values) for mode, values in cpu.items()}
    return DecodeRun(
        prompt_len=prompt.shape[-1],
        new_tokens=new_tokens,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        tokens_per_s={mode: new_tokens / value for mode, value in seconds.items()},
        cpu_tokens_per_s={mode: new_tokens / value for mode, value in cpu_seconds.items()},
        speedup=seconds["no_cache"] / seconds["cache"],
        cpu_speedup=cpu_seconds["no_cache"] / cpu_seconds["cache"],
        same_ids=same_ids,
    )


def measure_decoding(
    text: str,
    *,
    text_name: str = "",
    context_len: int = 32,
    d_model: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    runs: Sequence[tuple[int, int]] = ((8, 24), (32, 96)),
    rounds: int = 5,
    threads: int | None = 1,
    command: str = "",
    log: Callable[[str], None] = _ignore,
) -> DecodeSpeed:
    """Tokens per second of a `selfattention.TinyGPT` generating text, with and without the KV cache.

    The defaults are the model of the tiny-GPT page (``SIZES["tiny-gpt"]``). The model reads
    characters (its vocabulary: the distinct characters of ``text``, sorted) and has random
    weights (``torch.manual_seed(0)``): the speed does not depend on what it learned.
    Each ``(prompt_len, new_tokens)`` of ``runs`` generates ``new_tokens`` greedily after the first
    ``prompt_len`` characters of ``text`` with `selfattention.generate`, ``use_cache=True`` and
    ``False`` interleaved round by round. Keep ``prompt_len + new_tokens <= context_len`` to
    measure the cache; past ``context_len`` generation slides a window and the cache is refilled at
    every step. ``threads=1`` runs torch on one thread.
    """
    for prompt_len, new_tokens in runs:
        if not 1 <= prompt_len <= len(text) or new_tokens < 1:
            raise ValueError(
                f"runs must hold (prompt_len, new_tokens) with 1 <= prompt_len <= len(text)={len(text)} "
                f"and new_tokens >= 1, got {(prompt_len, new_tokens)}"
            )
    if threads is not None:
        torch.set_num_threads(threads)
    vocabulary = "".join(sorted(set(text)))
    config = {
        "vocab_size": len(vocabulary),
        "context_len": context_len,
        "d_model": d_model,
        "num_layers": num_layers,
        "num_heads": num_heads,
    }
    torch.manual_seed(0)
    model = TinyGPT(len(vocabulary), context_len, d_model, num_layers, num_heads).eval()
    measured = [
        _time_run(model, encode(text[:prompt_len], vocabulary), new_tokens, rounds, log)
        for prompt_len, new_tokens in runs
    ]
    return DecodeSpeed(
        date=dt.date.today().isoformat(),
        command=command,
        machine=machine("cpu"),
        versions=versions(),
        model={**config, "rope": True, "weights": "random (torch.manual_seed(0))"},
        text={"name": text_name, "characters": len(text), "tokenizer": "characters"},
        rounds=rounds,
        threads=threads,
        runs=measured,
    )


def load_decode_speed(path: str | os.PathLike[str]) -> DecodeSpeed:
    """Read a ``.json`` file written by ``python -m benchmarks --decode``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["runs"] = [DecodeRun(**run) for run in data["runs"]]
    return DecodeSpeed(**data)


def save_decode_speed(speed: DecodeSpeed, path: str | os.PathLike[str]) -> None:
    """Write ``speed`` as the JSON that `load_decode_speed` reads."""
    Path(path).write_text(json.dumps(dataclasses.asdict(speed), indent=2) + "\n", encoding="utf-8")
