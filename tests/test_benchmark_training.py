"""The forward + backward benchmark (``--backward``) in smoke mode. No timing is asserted."""

import subprocess
import sys
from pathlib import Path

import pytest

from selfattention.benchmark import (
    _naive_training_skip,
    _resident_peak_bytes,
    attention_flops,
    load_results,
    training_flops,
)

ROOT = Path(__file__).resolve().parent.parent


def test_training_flops_are_three_forward_passes():
    assert training_flops(64, 16, heads=2) == 3 * attention_flops(64, 16, heads=2)
    assert training_flops(4, 8, causal=True) == 3 * 4 * 10 * 8


def test_resident_peak_is_this_process_own():
    before = _resident_peak_bytes()
    block = bytearray(64 * 2**20)  # touch 64 MiB
    block[:: 4096] = b"x" * len(block[:: 4096])
    assert _resident_peak_bytes() >= before
    assert _resident_peak_bytes() >= 64 * 2**20


def test_naive_form_is_skipped_where_it_cannot_fit():
    config = {"device": "cpu", "batch": 1, "heads": 4, "dtype": "float32"}
    assert _naive_training_skip(512, config) is None
    reason = _naive_training_skip(2**20, config)  # 6 * 4 * 2^40 * 4 bytes: 96 TiB
    assert reason.startswith("skipped: needs about 98304 GiB")
    assert _naive_training_skip(2**20, {**config, "device": "cuda"}) is None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark")
    done = subprocess.run(
        [sys.executable, "-m", "selfattention.benchmark", "--backward", "--smoke", "--lengths", "64",
         "--device", "cpu", "--out", str(out), "--name", "smoke"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_smoke_run_measures_forward_and_backward(smoke):
    results = load_results(smoke / "smoke.json")
    assert results.config["backward"] is True
    assert results.command.startswith("python -m selfattention.benchmark --backward --smoke")
    assert {(c.form, c.seq_len) for c in results.cases} == {("naive", 64), ("blockwise", 64), ("sdpa", 64)}
    for case in results.cases:
        assert case.error is None
        assert len(case.times_s) == results.config["repeats"] and case.median_s > 0
        assert case.peak_memory_bytes >= case.inputs_memory_bytes > 0
        assert case.flops == training_flops(64, results.config["head_dim"], heads=results.config["heads"])
    assert (smoke / "smoke.svg").read_text().lstrip().startswith("<?xml")


def test_ratio_plot_draws_naive_and_blockwise_against_sdpa(smoke):
    from selfattention.benchmark import plot_training_ratios

    figure = plot_training_ratios(load_results(smoke / "smoke.json"))
    time_axes, memory_axes = figure.axes
    assert [line.get_label() for line in time_axes.get_lines() if not line.get_label().startswith("_")] == [
        "naive", "blockwise",
    ]  # fmt: skip
    results = load_results(smoke / "smoke.json")
    blockwise, sdpa = results.case("blockwise", 64), results.case("sdpa", 64)
    plotted = [line for line in time_axes.get_lines() if line.get_label() == "blockwise"][0].get_ydata()
    assert list(plotted) == [blockwise.cpu_median_s / sdpa.cpu_median_s]


def test_committed_training_results_name_their_measurement():
    paths = sorted((ROOT / "docs" / "benchmarks").glob("*fwdbwd*.json"))
    assert paths, "the Performance page plots a forward + backward result"
    for path in paths:
        results = load_results(path)
        assert results.config["backward"] is True and "--backward" in results.command
        skipped = [c for c in results.cases if c.error]
        assert all(c.error.startswith("skipped: ") for c in skipped), "only recorded skips, no failures"
