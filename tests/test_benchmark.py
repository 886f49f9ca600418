"""The benchmark in smoke mode: it runs, and writes well-formed files. No timing is asserted."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfattention.benchmark import attention_flops, format_table, load_results

ROOT = Path(__file__).resolve().parent.parent


def test_flop_count():
    assert attention_flops(16384, 64) == 4 * 16384**2 * 64
    assert attention_flops(4, 8, batch=2, heads=3) == 4 * 16 * 8 * 6
    assert attention_flops(4, 8, causal=True) == 4 * 10 * 8  # 4 * 5 / 2 = 10 pairs


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark")
    done = subprocess.run(
        [sys.executable, "-m", "selfattention.benchmark", "--smoke", "--lengths", "64", "--device", "cpu",
         "--out", str(out), "--name", "smoke"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def test_smoke_run_writes_json_csv_and_plot(smoke):
    out, stdout = smoke
    results = load_results(out / "smoke.json")
    assert results.config["device"] == "cpu" and results.machine["cpu_count"] >= 1
    assert results.command.startswith("python -m selfattention.benchmark --smoke")
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


def test_committed_results_are_well_formed():
    paths = sorted((ROOT / "docs" / "benchmarks").glob("*.json"))
    assert paths, "the Performance page needs at least one measured result"
    for path in paths:
        results = load_results(path)
        assert results.date and results.command.startswith("python -m selfattention.benchmark")
        assert results.versions["torch"] and results.machine["device"]
        if results.machine["device"].startswith("cuda"):
            assert results.machine["gpu"], f"{path.name} must name the GPU"
        assert json.loads(path.read_text())["cases"]
        assert path.with_suffix(".csv").exists()
