"""The forward sweep: every form at every length, each CPU case in a fresh subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.results import DEFAULT_LENGTHS, FORMS, Case, Results, attention_flops, machine, row, versions
from selfattention.attention import scaled_dot_product_attention
from selfattention.blockwise import blockwise_attention

__all__ = ["attention_forms", "measure", "measure_in_subprocess", "run", "sweep", "worker"]

Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Measure = Callable[[str, int, dict[str, Any]], Case]

# The folder that holds the benchmarks package: a worker subprocess imports it from there.
_ROOT = Path(__file__).resolve().parent.parent


def _ignore(line: str) -> None:
    """The default ``log``: print nothing."""


def attention_forms(block_size: int, causal: bool) -> dict[str, Attention]:
    """The three forms by name, as functions of ``(queries, keys, values)``."""

    def naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return scaled_dot_product_attention(q, k, v, is_causal=causal)

    def blockwise(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return blockwise_attention(q, k, v, is_causal=causal, block_size=block_size)

    def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    return {"naive": naive, "blockwise": blockwise, "sdpa": sdpa}


def measure(form: str, seq_len: int, config: dict[str, Any]) -> Case:
    """Time one form's forward pass in this process (CPU: called in a fresh subprocess).

    Inputs of shape ``(batch, heads, seq_len, head_dim)`` from ``config``; ``warmup`` runs, then
    ``repeats`` timed runs. Peak memory: ``ru_maxrss`` on the CPU (Linux: in KiB), else
    ``torch.cuda.max_memory_allocated``.
    """
    device = torch.device(config["device"])
    dtype = getattr(torch, config["dtype"])
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (config["batch"], config["heads"], seq_len, config["head_dim"])
    queries, keys, values = (torch.randn(shape, generator=generator, device=device, dtype=dtype) for _ in range(3))
    attention = attention_forms(config["block_size"], config["causal"])[form]
    flops = attention_flops(
        seq_len, config["head_dim"], batch=config["batch"], heads=config["heads"], causal=config["causal"]
    )
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        inputs_memory = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        inputs_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    with torch.inference_mode():
        for i in range(config["warmup"] + config["repeats"]):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            attention(queries, keys, values)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= config["warmup"]:
                times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Case(form, seq_len, statistics.median(times), times, peak, inputs_memory, flops)


def measure_in_subprocess(form: str, seq_len: int, config: dict[str, Any], timeout: float) -> Case:
    """Run one case in ``python -m benchmarks --worker``; a failure becomes the case's ``error``."""
    command = [sys.executable, "-m", "benchmarks", "--worker", form, str(seq_len), json.dumps(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Case(form, seq_len, error=f"timed out after {timeout:.0f} s")
    if done.returncode != 0:
        reason = "killed (out of memory?)" if done.returncode < 0 else done.stderr.strip().splitlines()[-1:]
        return Case(form, seq_len, error=f"exit {done.returncode}: {reason}")
    return Case(**json.loads(done.stdout.strip().splitlines()[-1]))


def worker(form: str, seq_len: int, config: dict[str, Any]) -> str:
    """What ``--worker`` prints: one case, measured in this process, as one JSON line."""
    from benchmarks.training import measure_training

    case = (measure_training if config.get("backward") else measure)(form, seq_len, config)
    return json.dumps(asdict(case))


def _no_skip(form: str, seq_len: int) -> str | None:
    return None


def sweep(
    lengths: Sequence[int],
    forms: Sequence[str],
    config: dict[str, Any],
    *,
    measure: Measure,
    row: Callable[[Case], str],
    timeout: float,
    command: str = "",
    log: Callable[[str], None] = _ignore,
    skip: Callable[[str, int], str | None] = _no_skip,
    subprocesses: bool | None = None,
) -> Results:
    """Every form at every length, in that order.

    ``subprocesses`` (default: on the CPU) runs each case in its own ``--worker`` process (`worker`:
    `measure`, or `benchmarks.training.measure_training` for a config with ``backward``), whose peak
    memory is the case's own; otherwise ``measure`` runs in this process. ``skip`` gives the reason
    to record instead of measuring a case, or None; ``log`` gets each case's ``row``.
    """
    if subprocesses is None:
        subprocesses = config["device"] == "cpu"
    cases = []
    for seq_len in lengths:
        for form in forms:
            reason = skip(form, seq_len)
            if reason:
                case = Case(form, seq_len, error=reason)
            elif subprocesses:
                case = measure_in_subprocess(form, seq_len, config, timeout)
            else:
                try:
                    case = measure(form, seq_len, config)
                except torch.OutOfMemoryError:
                    case = Case(form, seq_len, error="out of memory")
                if config["device"].startswith("cuda"):
                    torch.cuda.empty_cache()
            cases.append(case)
            log(row(case))
    return Results(
        date=dt.date.today().isoformat(),
        command=command,
        machine=machine(config["device"]),
        versions=versions(),
        config=config,
        cases=cases,
    )


def run(
    *,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    forms: Sequence[str] = FORMS,
    device: str = "cpu",
    batch: int = 1,
    heads: int = 4,
    head_dim: int = 64,
    block_size: int = 256,
    causal: bool = False,
    dtype: str = "float32",
    repeats: int = 5,
    warmup: int = 1,
    timeout: float = 600.0,
    command: str = "",
    log: Callable[[str], None] = _ignore,
    subprocesses: bool | None = None,
) -> Results:
    """Measure the forward pass of every form at every length.

    On the CPU each case runs in its own subprocess (``subprocesses=False``: in this process, whose
    peak memory then covers every case before it). ``timeout``: seconds per subprocess.
    """
    config = {
        "device": device,
        "batch": batch,
        "heads": heads,
        "head_dim": head_dim,
        "block_size": block_size,
        "causal": causal,
        "dtype": dtype,
        "repeats": repeats,
        "warmup": warmup,
    }
    return sweep(
        lengths,
        forms,
        config,
        measure=measure,
        row=row,
        timeout=timeout,
        command=command,
        log=log,
        subprocesses=subprocesses,
    )
