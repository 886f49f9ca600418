"""Benchmark: naive vs. blockwise attention vs. PyTorch's fused scaled_dot_product_attention.

Run ``python -m selfattention.benchmark --help``. For each sequence length and form it reports
the median time over repeated runs after warm-up, the peak memory, the FLOP count and the
achieved FLOP/s, and writes ``NAME.json``, ``NAME.csv`` and ``NAME.svg`` (a plot).

Peak memory: on the CPU each case runs in a fresh subprocess and reports the process's real
peak resident memory (``ru_maxrss``), since Python-level tracing does not see torch's
allocations; the memory the inputs already occupy is reported beside it. On CUDA it is
``torch.cuda.max_memory_allocated``.

With ``--backward`` it measures training instead: the forward pass and the backward pass of
each form, with the peak of the worker process itself (``VmHWM`` in ``/proc/self/status``,
which unlike ``ru_maxrss`` is not inherited from the parent process).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from selfattention.attention import scaled_dot_product_attention
from selfattention.blockwise import blockwise_attention
from selfattention.plotting import svg_bytes

__all__ = [
    "Case",
    "DecodeSpeed",
    "Ratio",
    "Results",
    "attention_flops",
    "compare_with_torch",
    "format_ratios",
    "format_table",
    "load_decode_speed",
    "load_results",
    "measure_decoding",
    "plot_results",
    "plot_training_ratios",
    "run",
    "run_training",
    "save",
    "training_flops",
]

FORMS = ("naive", "blockwise", "sdpa")
DEFAULT_LENGTHS = (256, 512, 1024, 2048, 4096, 8192, 16384)
TRAINING_LENGTHS = (512, 1024, 2048, 4096, 8192, 16384)


def attention_flops(seq_len: int, head_dim: int, *, batch: int = 1, heads: int = 1, causal: bool = False) -> int:
    """Forward FLOPs of attention: two matrix products of ``2 * n^2 * d`` each, per head.

    ``4 * n^2 * d`` per batch element and head; with the causal mask only the ``n (n + 1) / 2``
    scores on and below the diagonal are needed, about half.
    """
    pairs = seq_len * (seq_len + 1) // 2 if causal else seq_len * seq_len
    return 4 * pairs * head_dim * batch * heads


def training_flops(seq_len: int, head_dim: int, *, batch: int = 1, heads: int = 1, causal: bool = False) -> int:
    """FLOPs of the forward and the backward pass: three times `attention_flops`.

    The backward pass has four matrix products of ``2 * n^2 * d`` each (``dV = P^T dO``,
    ``dP = dO V^T``, ``dQ = dS K``, ``dK = dS^T Q``), twice the forward's two. The blockwise
    form also recomputes ``S = Q K^T`` in the backward; that work is not counted.
    """
    return 3 * attention_flops(seq_len, head_dim, batch=batch, heads=heads, causal=causal)


@dataclass
class Case:
    """One measurement: one form at one sequence length."""

    form: str
    seq_len: int
    median_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    peak_memory_bytes: int | None = None
    inputs_memory_bytes: int | None = None
    flops: int = 0
    error: str | None = None
    cpu_median_s: float | None = None  # --backward: median CPU time of the process (all threads)
    cpu_times_s: list[float] = field(default_factory=list)

    @property
    def gflops_per_s(self) -> float | None:
        return None if not self.median_s else self.flops / self.median_s / 1e9


@dataclass
class Results:
    """A benchmark run: what was measured, on what, with which command."""

    date: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    config: dict[str, Any]
    cases: list[Case]

    def case(self, form: str, seq_len: int) -> Case:
        return next(c for c in self.cases if c.form == form and c.seq_len == seq_len)


def _forms(block_size: int, causal: bool) -> dict[str, Callable[..., torch.Tensor]]:
    return {
        "naive": lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=causal),
        "blockwise": lambda q, k, v: blockwise_attention(q, k, v, block_size=block_size, causal=causal),
        "sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    }


def _measure(form: str, seq_len: int, config: dict[str, Any]) -> Case:
    """Time one form in this process (CPU: called in a fresh subprocess)."""
    device = torch.device(config["device"])
    dtype = getattr(torch, config["dtype"])
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (config["batch"], config["heads"], seq_len, config["head_dim"])
    queries, keys, values = (torch.randn(shape, generator=generator, device=device, dtype=dtype) for _ in range(3))
    attention = _forms(config["block_size"], config["causal"])[form]
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
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return Case(form, seq_len, statistics.median(times), times, peak, inputs_memory, flops)


def _resident_peak_bytes() -> int:
    """``VmHWM``: the peak resident memory of this process alone (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    raise OSError("no VmHWM in /proc/self/status")


def _measure_training(form: str, seq_len: int, config: dict[str, Any]) -> Case:
    """Time the forward and the backward pass of one form in this process (CPU: a fresh one).

    Peak memory: ``VmHWM`` after all runs; "inputs" is ``VmHWM`` before the first, once the
    queries, keys, values and the gradient of the output exist and a tiny forward and backward
    pass has loaded torch's kernels. On CUDA: ``torch.cuda.max_memory_allocated``.
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
    attention = _forms(config["block_size"], config["causal"])[form]
    flops = training_flops(
        seq_len, config["head_dim"], batch=config["batch"], heads=config["heads"], causal=config["causal"]
    )
    cuda = device.type == "cuda"

    def forward_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dout: torch.Tensor) -> None:
        for leaf in (q, k, v):
            leaf.grad = None
        attention(q, k, v).backward(dout)

    tiny = [t[..., : min(seq_len, 8), :].detach().requires_grad_(t.requires_grad) for t in (queries, keys, values, grad_output)]
    forward_backward(*tiny)  # loads the kernels: their memory is not the form's
    del tiny
    if cuda:
        torch.cuda.synchronize(device)
        inputs_memory = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        inputs_memory = _resident_peak_bytes()
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
    peak = torch.cuda.max_memory_allocated(device) if cuda else _resident_peak_bytes()
    return Case(
        form, seq_len, statistics.median(times), times, peak, inputs_memory, flops,
        cpu_median_s=statistics.median(cpu_times), cpu_times_s=cpu_times,
    )  # fmt: skip


# The n x n float tensors (per batch element and head) that the naive form's forward + backward
# pass holds at once, with a margin (measured: about 3 above the inputs at n = 8192), to skip
# lengths that would not fit instead of being killed.
_NAIVE_TRAINING_SQUARES = 6


def _naive_training_skip(seq_len: int, config: dict[str, Any]) -> str | None:
    """Why the naive form is not run at this length, or None. CPU: against MemAvailable."""
    if config["device"] != "cpu":
        return None
    itemsize = torch.empty((), dtype=getattr(torch, config["dtype"])).element_size()
    needed = _NAIVE_TRAINING_SQUARES * config["batch"] * config["heads"] * seq_len**2 * itemsize
    try:
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return None
    available = int(line.split()[1]) * 1024
    if needed > available // 2:
        return (
            f"skipped: needs about {needed / 2**30:.0f} GiB ({_NAIVE_TRAINING_SQUARES} n x n matrices per head), "
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
    log: Callable[[str], None] = lambda line: None,
) -> Results:
    """Measure the forward and the backward pass of every form at every length.

    On the CPU each case runs in its own subprocess; the naive form is skipped, with the reason
    recorded, at lengths whose ``n x n`` matrices would not fit in the available memory.
    ``threads``: torch's intra-op threads in each case (None: torch's default).
    """
    config = {
        "device": device, "batch": batch, "heads": heads, "head_dim": head_dim,
        "block_size": block_size, "causal": causal, "dtype": dtype,
        "repeats": repeats, "warmup": warmup, "backward": True, "threads": threads,
    }  # fmt: skip
    skip = lambda form, seq_len: _naive_training_skip(seq_len, config) if form == "naive" else None  # noqa: E731
    return _sweep(lengths, forms, config, timeout, command, _measure_training, _training_row, log, skip=skip)


def _measure_in_subprocess(form: str, seq_len: int, config: dict[str, Any], timeout: float) -> Case:
    command = [sys.executable, "-m", "selfattention.benchmark", "--worker", form, str(seq_len), json.dumps(config)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Case(form, seq_len, error=f"timed out after {timeout:.0f} s")
    if done.returncode != 0:
        reason = "killed (out of memory?)" if done.returncode < 0 else done.stderr.strip().splitlines()[-1:]
        return Case(form, seq_len, error=f"exit {done.returncode}: {reason}")
    return Case(**json.loads(done.stdout.strip().splitlines()[-1]))


def _machine(device: str) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                machine["processor"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                machine["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        machine["processor"] = platform.processor()
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(torch.device(device))
        machine["gpu"] = properties.name
        machine["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        machine["cuda"] = torch.version.cuda
    return machine


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
    log: Callable[[str], None] = lambda line: None,
) -> Results:
    """Measure every form at every length. On the CPU each case runs in its own subprocess."""
    config = {
        "device": device, "batch": batch, "heads": heads, "head_dim": head_dim,
        "block_size": block_size, "causal": causal, "dtype": dtype,
        "repeats": repeats, "warmup": warmup,
    }  # fmt: skip
    return _sweep(lengths, forms, config, timeout, command, _measure, _row, log)


def _sweep(
    lengths: Sequence[int],
    forms: Sequence[str],
    config: dict[str, Any],
    timeout: float,
    command: str,
    measure: Callable[[str, int, dict[str, Any]], Case],
    row: Callable[[Case], str],
    log: Callable[[str], None],
    *,
    skip: Callable[[str, int], str | None] = lambda form, seq_len: None,
) -> Results:
    """Every form at every length: on the CPU each case in its own subprocess (the worker calls
    ``measure`` there), elsewhere ``measure`` in this process; ``skip`` gives the reason to
    record instead of measuring a case, or None."""
    cases = []
    for seq_len in lengths:
        for form in forms:
            reason = skip(form, seq_len)
            if reason:
                case = Case(form, seq_len, error=reason)
            elif config["device"] == "cpu":
                case = _measure_in_subprocess(form, seq_len, config, timeout)
            else:
                try:
                    case = measure(form, seq_len, config)
                except torch.OutOfMemoryError:
                    case = Case(form, seq_len, error="out of memory")
                torch.cuda.empty_cache()
            cases.append(case)
            log(row(case))
    return Results(
        date=dt.date.today().isoformat(),
        command=command,
        machine=_machine(config["device"]),
        versions={"python": platform.python_version(), "torch": torch.__version__, "selfattention": _version()},
        config=config,
        cases=cases,
    )


def _version() -> str:
    from selfattention import __version__

    return __version__


def _row(case: Case) -> str:
    if case.error:
        return f"{case.seq_len:>6} {case.form:<10} {case.error}"
    return (
        f"{case.seq_len:>6} {case.form:<10} {case.median_s * 1e3:>10.1f} ms "
        f"{case.gflops_per_s:>7.1f} GFLOP/s {case.peak_memory_bytes / 2**20:>9.0f} MiB"
    )


_HEADER = f"{'n':>6} {'form':<10} {'median':>13} {'achieved':>15} {'peak memory':>13}"


def _training_row(case: Case) -> str:
    if case.error:
        return f"{case.seq_len:>6} {case.form:<10} {case.error}"
    above_inputs = case.peak_memory_bytes - case.inputs_memory_bytes
    cpu = f"{case.cpu_median_s * 1e3:>10.1f} ms" if case.cpu_median_s is not None else f"{'-':>13}"
    return (
        f"{case.seq_len:>6} {case.form:<10} {case.median_s * 1e3:>10.1f} ms {cpu} "
        f"{above_inputs / 2**20:>9.0f} MiB"
    )


_TRAINING_HEADER = f"{'n':>6} {'form':<10} {'median wall':>13} {'median CPU':>13} {'above inputs':>13}"


def format_table(results: Results) -> str:
    """The results as a fixed-width text table, one row per length and form.

    For a forward + backward result the memory column is the peak above the inputs."""
    if results.config.get("backward"):
        return "\n".join([_TRAINING_HEADER, *(_training_row(case) for case in results.cases)])
    return "\n".join([_HEADER, *(_row(case) for case in results.cases)])


def save(results: Results, out: Path, name: str) -> list[Path]:
    """Write ``name.json``, ``name.csv`` and ``name.svg`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(results)
    paths = [out / f"{name}.json", out / f"{name}.csv", out / f"{name}.svg"]
    paths[0].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        cpu = bool(results.config.get("backward"))  # --backward also records CPU time
        writer.writerow(["form", "seq_len", "median_s", "gflops_per_s", "peak_memory_bytes", "inputs_memory_bytes", "flops", "error"]
                        + (["cpu_median_s"] if cpu else []))  # fmt: skip
        for case in results.cases:
            writer.writerow([case.form, case.seq_len, case.median_s, case.gflops_per_s,
                             case.peak_memory_bytes, case.inputs_memory_bytes, case.flops, case.error]
                            + ([case.cpu_median_s] if cpu else []))  # fmt: skip
    paths[2].write_bytes(svg_bytes(plot_results(results)))
    return paths


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a ``.json`` file written by this benchmark."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["cases"] = [Case(**case) for case in data["cases"]]
    return Results(**data)


def plot_results(results: Results, *, theme: str = "light"):  # -> matplotlib Figure
    """Time and peak memory against sequence length, one line per form (log-log).

    For a forward + backward result (``--backward``) the time plotted is the CPU time (steadier
    than wall time on a shared machine) and the memory is the peak above the inputs, the memory
    the form itself needs.
    """
    from matplotlib.figure import Figure

    training = bool(results.config.get("backward"))

    text = {"light": "#1f2328", "dark": "#e6edf3"}[theme]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    figure.patch.set_alpha(0.0)
    time_axes, memory_axes = figure.subplots(1, 2)
    for form, colour, marker in zip(FORMS, ("#d1495b", "#2e86ab", "#8cb369"), "osD", strict=True):
        cases = [c for c in results.cases if c.form == form and not c.error]
        if not cases:
            continue
        lengths = [c.seq_len for c in cases]
        seconds = [c.cpu_median_s if training and c.cpu_median_s is not None else c.median_s for c in cases]
        time_axes.plot(lengths, [t * 1e3 for t in seconds], marker=marker, color=colour, label=form)
        memory = [c.peak_memory_bytes - (c.inputs_memory_bytes if training else 0) for c in cases]
        memory_axes.plot(lengths, [m / 2**20 for m in memory], marker=marker, color=colour, label=form)
    config = results.config
    memory_label = "peak memory above inputs (MiB)" if training else "peak memory (MiB)"
    time_label = "median CPU time, forward + backward (ms)" if training else "median time (ms)"
    for axes, label in ((time_axes, time_label), (memory_axes, memory_label)):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xlabel("sequence length n", color=text)
        axes.set_ylabel(label, color=text)
        axes.set_facecolor("none")
        axes.tick_params(colors=text, which="both")
        axes.grid(True, which="major", alpha=0.3)
        for spine in axes.spines.values():
            spine.set_color(text)
    legend = time_axes.legend(frameon=False)
    for entry in legend.get_texts():
        entry.set_color(text)
    figure.suptitle(
        f"{results.machine.get('gpu') or results.machine.get('processor', results.machine['device'])}: "
        f"batch {config['batch']}, {config['heads']} heads, head size {config['head_dim']}, {config['dtype']}"
        + (", forward + backward" if training else ""),
        color=text, fontsize=10,
    )  # fmt: skip
    return figure


@dataclass
class Ratio:
    """This package against PyTorch on one case, timed in the same process, interleaved.

    Attributes:
        name: what is compared, e.g. ``"MultiHeadAttention vs nn.MultiheadAttention"``.
        seq_len: the sequence length n.
        mode: ``"no_grad"`` (inference) or ``"grad"`` (a training forward, autograd recording).
        ours_s: median time of one call of this package's form, in seconds.
        torch_s: median time of one call of PyTorch's, in seconds.
        ratio: median over the rounds of ``ours / torch`` within a round: above 1 is slower.
    """

    name: str
    seq_len: int
    mode: str
    ours_s: float
    torch_s: float
    ratio: float


def _time_pair(
    ours: Callable[[], object], theirs: Callable[[], object], *, rounds: int, calls: int, grad: bool
) -> tuple[float, float, float]:
    """Median seconds per call of each, and the median of the per-round ratios. The two are
    interleaved round by round, so that load from other processes falls on both."""
    ours_times, theirs_times, ratios = [], [], []
    with torch.set_grad_enabled(grad):
        for function in (ours, theirs):  # warm-up
            function()
        for _ in range(rounds):
            pair = []
            for function in (ours, theirs):
                start = time.perf_counter()
                for _ in range(calls):
                    function()
                pair.append((time.perf_counter() - start) / calls)
            ours_times.append(pair[0])
            theirs_times.append(pair[1])
            ratios.append(pair[0] / pair[1])
    return statistics.median(ours_times), statistics.median(theirs_times), statistics.median(ratios)


def compare_with_torch(
    *,
    multihead_lengths: Sequence[int] = (64, 256),
    sdpa_lengths: Sequence[int] = (8, 64),
    batch: int = 4,
    d_model: int = 256,
    heads: int = 8,
    rounds: int = 21,
    calls: int = 10,
    threads: int | None = 1,
    log: Callable[[str], None] = lambda line: None,
) -> list[Ratio]:
    """Time `selfattention.MultiHeadAttention` against ``nn.MultiheadAttention`` (same weights,
    no bias, evaluation mode, ``(batch, n, d_model)`` inputs) and the package's
    `selfattention.scaled_dot_product_attention` (the explicit form) against
    ``F.scaled_dot_product_attention`` (batch 1, one head, head size 16), as ratios.

    ``threads=1`` runs torch on one thread (``None`` leaves torch's setting).
    """
    from selfattention.interop import from_torch_multihead

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(d_model, heads, bias=False, batch_first=True).eval()
    ours = from_torch_multihead(theirs).eval()
    results = []
    for seq_len in multihead_lengths:
        inputs = torch.randn(batch, seq_len, d_model)
        for mode in ("no_grad", "grad"):
            ours_s, torch_s, ratio = _time_pair(
                lambda: ours(inputs),
                lambda: theirs(inputs, inputs, inputs, need_weights=False),
                rounds=rounds, calls=calls, grad=mode == "grad",
            )  # fmt: skip
            results.append(Ratio("MultiHeadAttention vs nn.MultiheadAttention", seq_len, mode, ours_s, torch_s, ratio))
            log(_ratio_row(results[-1]))
    for seq_len in sdpa_lengths:
        queries, keys, values = (torch.randn(1, 1, seq_len, 16) for _ in range(3))
        ours_s, torch_s, ratio = _time_pair(
            lambda: scaled_dot_product_attention(queries, keys, values),
            lambda: F.scaled_dot_product_attention(queries, keys, values),
            rounds=rounds, calls=calls, grad=False,
        )  # fmt: skip
        results.append(Ratio("scaled_dot_product_attention vs F.scaled_dot_product_attention", seq_len, "no_grad", ours_s, torch_s, ratio))
        log(_ratio_row(results[-1]))
    return results


_RATIO_HEADER = f"{'compared':<64} {'n':>5} {'mode':<8} {'ours':>10} {'torch':>10} {'ratio':>6}"


def _ratio_row(ratio: Ratio) -> str:
    return (
        f"{ratio.name:<64} {ratio.seq_len:>5} {ratio.mode:<8} {ratio.ours_s * 1e6:>7.0f} us "
        f"{ratio.torch_s * 1e6:>7.0f} us {ratio.ratio:>6.2f}"
    )


def format_ratios(ratios: Sequence[Ratio]) -> str:
    """The ratios as a fixed-width text table."""
    return "\n".join([_RATIO_HEADER, *(_ratio_row(ratio) for ratio in ratios)])


def plot_training_ratios(results: Results, *, theme: str = "light"):  # -> matplotlib Figure
    """For a forward + backward result: the blockwise and the naive form against the fused kernel,
    as ratios (CPU time where measured, else wall time; peak memory above the inputs) per length.

    A horizontal line marks 1 (as fast, or as small, as the fused kernel) and one marks 2."""
    from matplotlib.figure import Figure

    text = {"light": "#1f2328", "dark": "#e6edf3"}[theme]
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    figure.patch.set_alpha(0.0)
    time_axes, memory_axes = figure.subplots(1, 2)

    def seconds(case: Case) -> float:
        return case.cpu_median_s if case.cpu_median_s is not None else case.median_s

    def memory(case: Case) -> int:
        return case.peak_memory_bytes - case.inputs_memory_bytes

    for form, colour, marker in (("naive", "#d1495b", "o"), ("blockwise", "#2e86ab", "s")):
        pairs = [
            (case, results.case("sdpa", case.seq_len))
            for case in results.cases
            if case.form == form and not case.error
        ]
        pairs = [(case, sdpa) for case, sdpa in pairs if not sdpa.error]
        if not pairs:
            continue
        lengths = [case.seq_len for case, _ in pairs]
        time_axes.plot(lengths, [seconds(c) / seconds(s) for c, s in pairs], marker=marker, color=colour, label=form)
        memory_axes.plot(lengths, [memory(c) / memory(s) for c, s in pairs], marker=marker, color=colour, label=form)
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    for axes, label in ((time_axes, "CPU time / sdpa's"), (memory_axes, "memory above inputs / sdpa's")):
        for level, style in ((1, "-"), (2, "--")):
            axes.axhline(level, color=text, linewidth=0.8, linestyle=style, alpha=0.6)
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        low, high = axes.get_ylim()
        axes.set_yticks([t for t in (0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100) if low <= t <= high])
        axes.set_ylim(low, high)
        axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("sequence length n", color=text)
        axes.set_ylabel(label, color=text)
        axes.set_facecolor("none")
        axes.tick_params(colors=text, which="both")
        axes.grid(True, which="major", alpha=0.3)
        for spine in axes.spines.values():
            spine.set_color(text)
    legend = time_axes.legend(frameon=False)
    for entry in legend.get_texts():
        entry.set_color(text)
    figure.suptitle("forward + backward, relative to torch's fused scaled_dot_product_attention", color=text, fontsize=10)
    return figure


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


class _Decoder(torch.nn.Module):
    """Pre-norm decoder blocks: causal grouped-query attention with RoPE, then an MLP."""

    def __init__(self, layers: int, d_model: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        from selfattention.multihead import MultiHeadAttention

        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(d_model) for _ in range(2 * layers))
        self.attention = torch.nn.ModuleList(
            MultiHeadAttention(d_model, d_model, heads, num_kv_heads=kv_heads, causal=True, rope=True)
            for _ in range(layers)
        )
        self.mlp = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(d_model, 4 * d_model), torch.nn.GELU(), torch.nn.Linear(4 * d_model, d_model))
            for _ in range(layers)
        )

    def forward(self, inputs: torch.Tensor, caches: Sequence[Any] | None = None) -> torch.Tensor:
        x = inputs
        for i, (attention, mlp) in enumerate(zip(self.attention, self.mlp, strict=True)):
            x = x + attention(self.norms[2 * i](x), cache=None if caches is None else caches[i])
            x = x + mlp(self.norms[2 * i + 1](x))
        return x


def _generate(model: _Decoder, prompt: torch.Tensor, new_tokens: int, *, cache: bool) -> torch.Tensor:
    """Feed each last output vector back as the next input (a model without a vocabulary)."""
    from selfattention.kv_cache import KVCache

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
    log: Callable[[str], None] = lambda line: None,
) -> DecodeSpeed:
    """Tokens per second of a small decoder (``layers`` blocks of causal grouped-query
    attention with RoPE and an MLP) generating ``new_tokens`` after a ``prompt_len`` prompt,
    with a `selfattention.KVCache` per layer and without one (every step recomputes the whole
    sequence). Interleaved round by round; ``threads=1`` runs torch on one thread."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = _Decoder(layers, d_model, heads, kv_heads).eval()
    prompt = torch.randn(1, prompt_len, d_model)
    times: dict[str, list[float]] = {"cache": [], "no_cache": []}
    ratios = []
    with torch.inference_mode():
        outputs = {mode: _generate(model, prompt, new_tokens, cache=mode == "cache") for mode in times}  # warm-up
        for _ in range(rounds):
            for mode in times:
                start = time.perf_counter()
                _generate(model, prompt, new_tokens, cache=mode == "cache")
                times[mode].append(time.perf_counter() - start)
            ratios.append(times["no_cache"][-1] / times["cache"][-1])
            log(f"cache {times['cache'][-1]:.3f} s, no cache {times['no_cache'][-1]:.3f} s, ratio {ratios[-1]:.2f}")
    seconds = {mode: statistics.median(values) for mode, values in times.items()}
    return DecodeSpeed(
        date=dt.date.today().isoformat(),
        command=command,
        machine=_machine("cpu"),
        versions={"python": platform.python_version(), "torch": torch.__version__, "selfattention": _version()},
        config={"layers": layers, "d_model": d_model, "heads": heads, "kv_heads": kv_heads, "prompt_len": prompt_len,
                "new_tokens": new_tokens, "rounds": rounds, "threads": threads},  # fmt: skip
        seconds=seconds,
        tokens_per_s={mode: new_tokens / value for mode, value in seconds.items()},
        speedup=statistics.median(ratios),
        same_outputs=torch.allclose(outputs["cache"], outputs["no_cache"], atol=1e-4, rtol=1e-4),
    )


def load_decode_speed(path: str | os.PathLike[str]) -> DecodeSpeed:
    """Read a ``.json`` file written by ``python -m selfattention.benchmark --decode``."""
    return DecodeSpeed(**json.loads(Path(path).read_text(encoding="utf-8")))


def _decode_main(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """``--decode``: measure generation with and without the KV cache, write ``NAME.json``."""
    command = "python -m selfattention.benchmark " + " ".join(argv if argv is not None else sys.argv[1:])
    sizes = {"layers": 1, "d_model": 32, "heads": 4, "kv_heads": 2, "prompt_len": 4, "new_tokens": 4, "rounds": 1} if args.smoke else {}
    result = measure_decoding(**sizes, command=command.strip(), log=lambda line: print(line, flush=True))
    print(f"tokens per second: cache {result.tokens_per_s['cache']:.1f}, no cache {result.tokens_per_s['no_cache']:.1f}, "
          f"speedup {result.speedup:.2f}, same outputs {result.same_outputs}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name or 'decode-cpu-' + result.date}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0 if result.same_outputs else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfattention.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS))
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16", "float16"])
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per CPU case")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument("--name", help="file name stem (default: DEVICE-DATE)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat: checks that it runs")
    parser.add_argument("--backward", action="store_true",
                        help="measure training: the forward and the backward pass (default lengths 512 to 16384, 3 repeats)")
    parser.add_argument("--threads", type=int, help="with --backward: torch threads per case (default: torch's)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--versus-torch", action="store_true",
        help="time MultiHeadAttention against nn.MultiheadAttention (batch 4, d 256, 8 heads, n 64 and 256) "
        "and scaled_dot_product_attention against torch's, on one thread, as ratios",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=21, help="with --versus-torch: interleaved rounds")
    parser.add_argument(
        "--decode", action="store_true",
        help="tokens per second of a small decoder (4 layers, d 256, 8 query and 2 key/value heads, RoPE) "
        "generating 64 tokens after a 64-token prompt, with and without the KV cache, on one thread; "
        "writes OUT/NAME.json (default name decode-cpu-DATE)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    given = set(argv if argv is not None else sys.argv[1:])

    if args.decode:
        return _decode_main(args, argv)

    if args.versus_torch:
        print(_RATIO_HEADER, flush=True)
        rounds, calls = (2, 1) if args.smoke else (args.rounds, 10)
        compare_with_torch(rounds=rounds, calls=calls, log=lambda line: print(line, flush=True))
        return 0

    if args.worker:  # one CPU case, in its own process; prints one JSON line
        form, seq_len, config = args.worker
        config = json.loads(config)
        measure = _measure_training if config.get("backward") else _measure
        print(json.dumps(asdict(measure(form, int(seq_len), config))))
        return 0
    if args.smoke:
        args.lengths = [n for n in args.lengths if n <= 128] or [64, 128]
        args.repeats, args.warmup, args.heads, args.head_dim = 2, 1, 2, 16
        args.block_size = min(args.block_size, 32)
    command = "python -m selfattention.benchmark " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.backward:
        return _main_training(args, given, command.strip())
    print(_HEADER, flush=True)
    results = run(
        lengths=args.lengths, forms=args.forms, device=args.device, batch=args.batch, heads=args.heads,
        head_dim=args.head_dim, block_size=args.block_size, causal=args.causal, dtype=args.dtype,
        repeats=args.repeats, warmup=args.warmup, timeout=args.timeout, command=command.strip(),
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    name = args.name or f"{args.device.split(':')[0]}-{results.date}"
    for path in save(results, args.out, name):
        print(f"wrote {path}")
    return 1 if any(case.error for case in results.cases) and args.smoke else 0


def _main_training(args: argparse.Namespace, given: set[str], command: str) -> int:
    """``--backward``: the forward and backward pass, with its own defaults."""
    if "--lengths" not in given and not args.smoke:
        args.lengths = list(TRAINING_LENGTHS)
    if "--repeats" not in given and not args.smoke:
        args.repeats = 3
    if args.threads:
        torch.set_num_threads(args.threads)  # so that the machine's record says so too
    print(_TRAINING_HEADER, flush=True)
    results = run_training(
        lengths=args.lengths, forms=args.forms, device=args.device, batch=args.batch, heads=args.heads,
        head_dim=args.head_dim, block_size=args.block_size, causal=args.causal, dtype=args.dtype,
        repeats=args.repeats, warmup=args.warmup, threads=args.threads, timeout=args.timeout, command=command,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    name = args.name or f"{args.device.split(':')[0]}-fwdbwd-{results.date}"
    for path in save(results, args.out, name):
        print(f"wrote {path}")
    return 1 if any(case.error for case in results.cases) and args.smoke else 0


if __name__ == "__main__":
    raise SystemExit(main())
