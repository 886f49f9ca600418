"""The plots of a sweep (matplotlib, imported when a plot is drawn)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from benchmarks.results import FORMS, Case, Results

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_results", "plot_training_ratios", "svg_bytes"]

_TEXT = {"light": "#1f2328", "dark": "#e6edf3"}
_STYLES = {"naive": ("#d1495b", "o"), "blockwise": ("#2e86ab", "s"), "sdpa": ("#8cb369", "D")}


def svg_bytes(figure: Figure) -> bytes:
    """The figure as an SVG file that is the same on every run (no date, fixed ids)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "selfattention"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _style(axes: Axes, label: str, text: str) -> None:
    """Log-log axes labelled in the theme's text colour, on a transparent background."""
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("sequence length n", color=text)
    axes.set_ylabel(label, color=text)
    axes.set_facecolor("none")
    axes.tick_params(colors=text, which="both")
    axes.grid(True, which="major", alpha=0.3)
    for spine in axes.spines.values():
        spine.set_color(text)


def _legend(axes: Axes, text: str) -> None:
    legend = axes.legend(frameon=False)
    for entry in legend.get_texts():
        entry.set_color(text)


def _seconds(case: Case, *, cpu: bool) -> float:
    """The CPU time where asked for and measured, else the wall time."""
    seconds = case.cpu_median_s if cpu and case.cpu_median_s is not None else case.median_s
    if seconds is None:
        raise ValueError(f"case {case.form} at n = {case.seq_len} has no time: {case.error}")
    return seconds


def _memory(case: Case, *, above_inputs: bool) -> int:
    """The peak memory, or the peak above the memory of the inputs."""
    inputs = case.inputs_memory_bytes if above_inputs else 0
    if case.peak_memory_bytes is None or inputs is None:
        raise ValueError(f"case {case.form} at n = {case.seq_len} has no memory: {case.error}")
    return case.peak_memory_bytes - inputs


def plot_results(results: Results, *, theme: str = "light") -> Figure:
    """Time and peak memory against sequence length, one line per form (log-log).

    For a forward + backward result (``--backward``) the time plotted is the CPU time (steadier
    than wall time on a shared machine) and the memory is the peak above the inputs, the memory
    the form itself needs.
    """
    from matplotlib.figure import Figure

    training = bool(results.config.get("backward"))
    text = _TEXT[theme]
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    figure.patch.set_alpha(0.0)
    time_axes, memory_axes = figure.subplots(1, 2)
    for form in FORMS:
        colour, marker = _STYLES[form]
        cases = [c for c in results.cases if c.form == form and not c.error]
        if not cases:
            continue
        lengths = [c.seq_len for c in cases]
        milliseconds = [_seconds(c, cpu=training) * 1e3 for c in cases]
        mebibytes = [_memory(c, above_inputs=training) / 2**20 for c in cases]
        time_axes.plot(lengths, milliseconds, marker=marker, color=colour, label=form)
        memory_axes.plot(lengths, mebibytes, marker=marker, color=colour, label=form)
    memory_label = "peak memory above inputs (MiB)" if training else "peak memory (MiB)"
    time_label = "median CPU time, forward + backward (ms)" if training else "median time (ms)"
    for axes, label in ((time_axes, time_label), (memory_axes, memory_label)):
        _style(axes, label, text)
    _legend(time_axes, text)
    config, machine = results.config, results.machine
    figure.suptitle(
        f"{machine.get('gpu') or machine.get('processor', machine['device'])}: "
        f"batch {config['batch']}, {config['heads']} heads, head size {config['head_dim']}, {config['dtype']}"
        + (", forward + backward" if training else ""),
        color=text,
        fontsize=10,
    )
    return figure


def plot_training_ratios(results: Results, *, theme: str = "light") -> Figure:
    """For a forward + backward result: the blockwise and the naive form against the fused kernel,
    as ratios (CPU time where measured, else wall time; peak memory above the inputs) per length.

    A horizontal line marks 1 (as fast, or as small, as the fused kernel) and one marks 2."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    text = _TEXT[theme]
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    figure.patch.set_alpha(0.0)
    time_axes, memory_axes = figure.subplots(1, 2)
    for form in ("naive", "blockwise"):
        colour, marker = _STYLES[form]
        pairs = [(case, results.case("sdpa", case.seq_len)) for case in results.cases if case.form == form]
        pairs = [(case, sdpa) for case, sdpa in pairs if not case.error and not sdpa.error]
        if not pairs:
            continue
        lengths = [case.seq_len for case, _ in pairs]
        times = [_seconds(c, cpu=True) / _seconds(s, cpu=True) for c, s in pairs]
        memory = [_memory(c, above_inputs=True) / _memory(s, above_inputs=True) for c, s in pairs]
        time_axes.plot(lengths, times, marker=marker, color=colour, label=form)
        memory_axes.plot(lengths, memory, marker=marker, color=colour, label=form)
    for axes, label in ((time_axes, "CPU time / sdpa's"), (memory_axes, "memory above inputs / sdpa's")):
        for level, style in ((1, "-"), (2, "--")):
            axes.axhline(level, color=text, linewidth=0.8, linestyle=style, alpha=0.6)
        _style(axes, label, text)
        low, high = axes.get_ylim()
        axes.set_yticks([t for t in (0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100) if low <= t <= high])
        axes.set_ylim(low, high)
        axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.yaxis.set_minor_formatter(NullFormatter())
    _legend(time_axes, text)
    title = "forward + backward, relative to torch's fused scaled_dot_product_attention"
    figure.suptitle(title, color=text, fontsize=10)
    return figure
