"""The training sweep: the forward and the backward pass of every form, with each process's own peak memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.results import FORMS, TRAINING_LENGTHS, Case, Results, training_flops, training_row
from benchmarks.timing import _ignore, attention_forms, sweep

__all__ = ["measure_training", "naive_training_skip", "resident_peak_bytes", "run_training"]

# The n x n float tensors (per batch element and head) that the naive form's forward + backward
# pass holds at once, with a margin (measured: about 3 above the inputs at n = 8192), to skip
# lengths that would not fit instead of being killed.
NAIVE_TRAINING_SQUARES = 6


def resident_peak_bytes() -> int:
    """``VmHWM``: the peak resident memory of this process alone (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    raise OSError("no VmHWM in /proc/self/status")


def measure_training(form: str, seq_len: int, config: dict[str, Any]) -> Case:
    """Time the forward and the backward pass of one form in this process (CPU: a fresh one).

    Inputs of shape ``(batch, heads, seq_len, head_dim)`` from ``config``. Peak memory: ``VmHWM``
    after all runs; "inputs" is ``VmHWM`` before the first, once the queries, keys, values and the
    gradient of the output exist and a tiny forward and backward pass has loaded torch's kernels.
    On CUDA: ``torch.cuda.max_memory_allocated``.
    """
    if config.get("threads"):
        torch.set_num_threads(config["threads"])
    device = torch.device(config["device"])
    dtype = getattr(torch, config["dtype"])
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (config["batch"], config["heads"], seq_len, config["head_dim"])
    queries, keys, values, grad_output = (
        torch.randn(shape, generator=generator, device=device, dtype=dtype).requires_grad_(i < 3) for i in range(4)
    )
    attention = attention_forms(config["block_size"], config["causal"])[form]
    flops = training_flops(
        seq_len, config["head_dim"], batch=config["batch"], heads=config["heads"], causal=config["causal"]
    )
    cuda = device.type == "cuda"

    def forward_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dout: torch.Tensor) -> None:
        for leaf in (q, k, v):
            leaf.grad = None
        attention(q, k, v).backward(dout)

    tiny = [
        t[..., : min(seq_len, 8), :].detach().requires_grad_(t.requires_grad)
        for t in (queries, keys, values, grad_output)
    ]
    forward_backward(*tiny)  # loads the kernels: their memory is not the form's
    del tiny
    if cuda:
        torch.cuda.synchronize(device)
        inputs_memory = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        inputs_memory = resident_peak_bytes()
    times, cpu_times = [], []
    for i in range(config["warmup"] + config["repeats"]):
        if cuda:
            torch.cuda.synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        forward_backward(queries, keys, values, grad_output)
        if cuda:
            torch.cuda.synchronize(device)
        if i >= config["warmup"]:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = torch.cuda.max_memory_allocated(device) if cuda else resident_peak_bytes()
    median = statistics.median(times)
    cpu_median = statistics.median(cpu_times)
    return Case(
        form, seq_len, median, times, peak, inputs_memory, flops, cpu_median_s=cpu_median, cpu_times_s=cpu_times
    )


def naive_training_skip(seq_len: int, config: dict[str, Any]) -> str | None:
    """Why the naive form is not run at this length, or None. CPU only: against ``MemAvailable``."""
    if config["device"] != "cpu":
        return None
    itemsize = torch.empty((), dtype=getattr(torch, config["dtype"])).element_size()
    needed = NAIVE_TRAINING_SQUARES * config["batch"] * config["heads"] * seq_len**2 * itemsize
    try:
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return None
    available = int(line.split()[1]) * 1024
    if needed > available // 2:
        return (
            f"skipped: needs about {needed / 2**30:.0f} GiB ({NAIVE_TRAINING_SQUARES} n x n matrices per head), "
            f"more than half of the {available / 2**30:.0f} GiB available on this shared machine"
        )
    return None


def run_training(
    *,
    lengths: Sequence[int] = TRAINING_LENGTHS,
    forms: Sequence[str] = FORMS,
    device: str = "cpu",
    batch: int = 1,
    heads: int = 4,
    head_dim: int = 64,
    block_size: int = 256,
    causal: bool = False,
    dtype: str = "float32",
    repeats: int = 3,
    warmup: int = 1,
    threads: int | None = None,
    timeout: float = 900.0,
    command: str = "",
    log: Callable[[str], None] = _ignore,
    subprocesses: bool | None = None,
) -> Results:
    """Measure the forward and the backward pass of every form at every length.

    On the CPU each case runs in its own subprocess (``subprocesses=False``: in this process); the
    naive form is skipped, with the reason recorded, at lengths whose ``n x n`` matrices would not
    fit in the available memory. ``threads``: torch's intra-op threads in each case (None: torch's
    default).
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
        "backward": True,
        "threads": threads,
    }

    def skip(form: str, seq_len: int) -> str | None:
        return naive_training_skip(seq_len, config) if form == "naive" else None

    return sweep(
        lengths,
        forms,
        config,
        measure=measure_training,
        row=training_row,
        timeout=timeout,
        command=command,
        log=log,
        skip=skip,
        subprocesses=subprocesses,
    )
