"""What a sweep records: the cases, the run's context, the FLOP counts, the table and the files."""

from __future__ import annotations

import csv
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DEFAULT_LENGTHS",
    "FORMS",
    "TRAINING_LENGTHS",
    "Case",
    "Results",
    "attention_flops",
    "format_table",
    "load_results",
    "machine",
    "row",
    "save",
    "training_flops",
    "training_row",
    "versions",
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
    """One measurement: one form at one sequence length.

    Attributes:
        form: ``"naive"``, ``"blockwise"`` or ``"sdpa"``.
        seq_len: the sequence length n.
        median_s: median wall time of one run, in seconds (None if not measured).
        times_s: the wall time of every run after the warm-up.
        peak_memory_bytes: the peak memory of the measurement (see the module's docstring).
        inputs_memory_bytes: the memory already in use once the inputs existed.
        flops: the FLOPs of one run (`attention_flops` or `training_flops`).
        error: why the case has no measurement (a timeout, out of memory, a recorded skip), or None.
        cpu_median_s: ``--backward``: median CPU time of the process (all threads), in seconds.
        cpu_times_s: ``--backward``: the CPU time of every run after the warm-up.
    """

    form: str
    seq_len: int
    median_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    peak_memory_bytes: int | None = None
    inputs_memory_bytes: int | None = None
    flops: int = 0
    error: str | None = None
    cpu_median_s: float | None = None
    cpu_times_s: list[float] = field(default_factory=list)

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s: ``flops / median_s / 1e9`` (None without a measurement)."""
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
        """The case of ``form`` at ``seq_len`` (StopIteration if there is none)."""
        return next(c for c in self.cases if c.form == form and c.seq_len == seq_len)


def machine(device: str) -> dict[str, Any]:
    """What the run ran on: platform, cores, torch's threads, processor, memory, and the GPU on CUDA."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["processor"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        info["processor"] = platform.processor()
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = properties.name
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    return info


def versions() -> dict[str, str]:
    """The versions of Python, PyTorch and this package."""
    return {"python": platform.python_version(), "torch": torch.__version__, "selfattention": version("selfattention")}


HEADER = f"{'n':>6} {'form':<10} {'median':>13} {'achieved':>15} {'peak memory':>13}"
TRAINING_HEADER = f"{'n':>6} {'form':<10} {'median wall':>13} {'median CPU':>13} {'above inputs':>13}"


def row(case: Case) -> str:
    """One line of the forward table: median time, achieved GFLOP/s, peak memory."""
    if case.error or case.median_s is None or case.gflops_per_s is None or case.peak_memory_bytes is None:
        return f"{case.seq_len:>6} {case.form:<10} {case.error}"
    return (
        f"{case.seq_len:>6} {case.form:<10} {case.median_s * 1e3:>10.1f} ms "
        f"{case.gflops_per_s:>7.1f} GFLOP/s {case.peak_memory_bytes / 2**20:>9.0f} MiB"
    )


def training_row(case: Case) -> str:
    """One line of the forward + backward table: median wall and CPU time, peak memory above the inputs."""
    if case.error or case.median_s is None or case.peak_memory_bytes is None or case.inputs_memory_bytes is None:
        return f"{case.seq_len:>6} {case.form:<10} {case.error}"
    above_inputs = case.peak_memory_bytes - case.inputs_memory_bytes
    cpu = f"{case.cpu_median_s * 1e3:>10.1f} ms" if case.cpu_median_s is not None else f"{'-':>13}"
    return f"{case.seq_len:>6} {case.form:<10} {case.median_s * 1e3:>10.1f} ms {cpu} {above_inputs / 2**20:>9.0f} MiB"


def format_table(results: Results) -> str:
    """The results as a fixed-width text table, one row per length and form.

    For a forward + backward result the memory column is the peak above the inputs."""
    if results.config.get("backward"):
        return "\n".join([TRAINING_HEADER, *(training_row(case) for case in results.cases)])
    return "\n".join([HEADER, *(row(case) for case in results.cases)])


def save(results: Results, out: Path, name: str, *, formats: Sequence[str] = ("json", "csv", "svg")) -> list[Path]:
    """Write ``name.json``, ``name.csv`` and ``name.svg`` (`benchmarks.plot_results`, needs
    matplotlib) under ``out``, or only the ``formats`` given; the paths written."""
    unknown = set(formats) - {"json", "csv", "svg"}
    if unknown:
        raise ValueError(f"formats must be among 'json', 'csv' and 'svg', got {sorted(unknown)}")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{suffix}" for suffix in formats]
    for path in paths:
        if path.suffix == ".json":
            path.write_text(json.dumps(asdict(results), indent=2) + "\n", encoding="utf-8")
        elif path.suffix == ".csv":
            _write_csv(results, path)
        else:
            from benchmarks.plots import plot_results, svg_bytes

            path.write_bytes(svg_bytes(plot_results(results)))
    return paths


def _write_csv(results: Results, path: Path) -> None:
    """One row per case; a forward + backward result also records the CPU time."""
    cpu = bool(results.config.get("backward"))
    columns = ["form", "seq_len", "median_s", "gflops_per_s", "peak_memory_bytes", "inputs_memory_bytes", "flops"]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, "error", *(["cpu_median_s"] if cpu else [])])
        for case in results.cases:
            values = [getattr(case, column) for column in columns]
            writer.writerow([*values, case.error, *([case.cpu_median_s] if cpu else [])])


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a ``.json`` file written by ``python -m benchmarks`` (or `save`)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data["cases"] = [Case(**case) for case in data["cases"]]
    return Results(**data)
