"""The benchmark's command line, ``python -m benchmarks``, in smoke mode (tiny sizes, subprocesses):
each mode runs from the repository's root and writes well-formed files. No timing is asserted.

Tier 2: each run starts Python and torch several times (one worker process per CPU case). The
harness's logic is tested in this process in tests/test_benchmarks.py; the plots (matplotlib) here."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import (
    Case,
    Results,
    attention_flops,
    format_table,
    load_decode_speed,
    load_results,
    plot_training_ratios,
    training_flops,
)

ROOT = Path(__file__).resolve().parents[2]


def benchmark(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks ARGUMENTS`` from the repository's root; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def forward(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("benchmark")
    done = benchmark("--smoke", "--lengths", "64", "--device", "cpu", "--out", str(out), "--name", "smoke")
    return out, done.stdout


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("benchmark")
    benchmark("--backward", "--smoke", "--lengths", "64", "--device", "cpu", "--out", str(out), "--name", "smoke")
    return out


def test_smoke_run_writes_json_csv_and_plot(forward: tuple[Path, str]) -> None:
    out, stdout = forward
    results = load_results(out / "smoke.json")
    assert results.config["device"] == "cpu" and results.machine["cpu_count"] >= 1
    assert results.command.startswith("python -m benchmarks --smoke")
    assert {(c.form, c.seq_len) for c in results.cases} == {("naive", 64), ("blockwise", 64), ("sdpa", 64)}
    for case in results.cases:
        assert case.error is None
        assert len(case.times_s) == results.config["repeats"] and case.median_s > 0
        assert case.peak_memory_bytes >= case.inputs_memory_bytes > 0
        assert case.flops == attention_flops(64, results.config["head_dim"], heads=results.config["heads"])
    with (out / "smoke.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["form"] for row in rows] == ["naive", "blockwise", "sdpa"]
    assert (out / "smoke.svg").read_text().lstrip().startswith("<?xml")
    assert "wrote" in stdout and format_table(results).count("\n") == 3


def test_smoke_run_measures_forward_and_backward(training: Path) -> None:
    results = load_results(training / "smoke.json")
    assert results.config["backward"] is True
    assert results.command.startswith("python -m benchmarks --backward --smoke")
    assert {(c.form, c.seq_len) for c in results.cases} == {("naive", 64), ("blockwise", 64), ("sdpa", 64)}
    for case in results.cases:
        assert case.error is None
        assert len(case.times_s) == results.config["repeats"] and case.median_s > 0
        assert case.peak_memory_bytes >= case.inputs_memory_bytes > 0
        assert case.flops == training_flops(64, results.config["head_dim"], heads=results.config["heads"])
    assert (training / "smoke.svg").read_text().lstrip().startswith("<?xml")


def test_ratio_plot_draws_naive_and_blockwise_against_sdpa(training: Path) -> None:
    results = load_results(training / "smoke.json")
    time_axes, _ = plot_training_ratios(results).axes
    labels = [line.get_label() for line in time_axes.get_lines() if not str(line.get_label()).startswith("_")]
    assert labels == ["naive", "blockwise"]
    blockwise, sdpa = results.case("blockwise", 64), results.case("sdpa", 64)
    plotted = next(line for line in time_axes.get_lines() if line.get_label() == "blockwise").get_ydata()
    assert list(plotted) == [blockwise.cpu_median_s / sdpa.cpu_median_s]


def test_the_ratio_plot_divides_each_form_by_the_fused_kernel() -> None:
    def case(form: str, cpu_s: float, above_inputs: int) -> Case:
        return Case(form, 64, 1.0, [], 2**20 + above_inputs, 2**20, 1, cpu_median_s=cpu_s)

    cases = [case("naive", 0.6, 3000), case("blockwise", 0.3, 2000), case("sdpa", 0.2, 1000)]
    config = {"device": "cpu", "batch": 1, "heads": 2, "head_dim": 8, "dtype": "float32", "backward": True}
    results = Results("2026-01-01", "python -m benchmarks --backward", {"device": "cpu"}, {}, config, cases)
    time_axes, memory_axes = plot_training_ratios(results).axes
    lines = {line.get_label(): line for line in time_axes.get_lines() if not str(line.get_label()).startswith("_")}
    assert list(lines) == ["naive", "blockwise"]
    assert list(lines["blockwise"].get_ydata()) == pytest.approx([1.5])
    memory = next(line for line in memory_axes.get_lines() if line.get_label() == "naive")
    assert list(memory.get_ydata()) == pytest.approx([3.0])


def test_decode_smoke_run_writes_the_result(tmp_path: Path) -> None:
    done = benchmark("--decode", "--smoke", "--out", str(tmp_path), "--name", "smoke")
    result = load_decode_speed(tmp_path / "smoke.json")
    assert result.command.startswith("python -m benchmarks --decode --smoke")
    assert [(run.prompt_len, run.new_tokens, run.same_ids) for run in result.runs] == [(4, 4, True), (8, 4, True)]
    assert all(set(run.tokens_per_s) == {"cache", "no_cache"} for run in result.runs)
    assert result.model["context_len"] == 8 and result.machine["device"] == "cpu"
    assert "tokens per second" in done.stdout


def test_versus_torch_prints_one_ratio_per_case() -> None:
    lines = benchmark("--versus-torch", "--smoke").stdout.splitlines()
    assert len(lines) == 1 + 4 + 2  # header, MHA at n = 64 and 256 in two modes, SDPA at n = 8 and 64
    assert all(float(line.split()[-1]) > 0 for line in lines[1:])
