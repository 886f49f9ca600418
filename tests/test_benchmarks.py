"""The benchmark harness (benchmarks/), in this process: the FLOP counts, the tables, the files, the
ratios, a tiny measurement and the decoding benchmark. No timing is asserted. The command line itself, and the
plots (matplotlib), are tested in tests/site/test_benchmark_cli.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks import (
    Case,
    DecodeRun,
    DecodeSpeed,
    Results,
    attention_flops,
    compare_with_torch,
    format_ratios,
    format_table,
    load_decode_speed,
    load_results,
    measure_decoding,
    run,
    run_training,
    save,
    save_decode_speed,
    training_flops,
)
from benchmarks.decoding import encode
from benchmarks.training import naive_training_skip, resident_peak_bytes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks"
# One warm-up and two timed runs of every form, in this process.
TINY = {"lengths": (16,), "heads": 2, "head_dim": 8, "block_size": 8, "repeats": 2, "warmup": 1, "subprocesses": False}


def test_forward_flops_against_hand_counts():
    assert attention_flops(16384, 64) == 4 * 16384**2 * 64
    assert attention_flops(4, 8, batch=2, heads=3) == 4 * 16 * 8 * 6
    assert attention_flops(4, 8, causal=True) == 4 * 10 * 8  # 4 * 5 / 2 = 10 pairs


def test_training_flops_are_three_forward_passes():
    assert training_flops(64, 16, heads=2) == 3 * attention_flops(64, 16, heads=2)
    assert training_flops(4, 8, causal=True) == 3 * 4 * 10 * 8


def test_a_tiny_sweep_measures_every_form_and_round_trips_through_its_files(tmp_path):
    results = run(**TINY, command="python -m benchmarks --tiny")
    assert results.config["device"] == "cpu" and results.machine["cpu_count"] >= 1
    assert {(c.form, c.seq_len) for c in results.cases} == {("naive", 16), ("blockwise", 16), ("sdpa", 16)}
    for case in results.cases:
        assert case.error is None
        assert len(case.times_s) == results.config["repeats"] and case.median_s > 0
        assert case.peak_memory_bytes >= case.inputs_memory_bytes > 0
        assert case.flops == attention_flops(16, 8, heads=2)
    json_path, csv_path = save(results, tmp_path, "tiny", formats=("json", "csv"))  # the SVG: test_benchmark_cli.py
    assert load_results(json_path) == results
    with csv_path.open() as file:
        rows = list(csv.DictReader(file))
    assert [row["form"] for row in rows] == ["naive", "blockwise", "sdpa"]
    assert float(rows[0]["median_s"]) == results.cases[0].median_s


def test_a_tiny_training_sweep_measures_forward_and_backward():
    results = run_training(**{**TINY, "lengths": (8,), "block_size": 4, "repeats": 1, "warmup": 0})
    assert results.config["backward"] is True
    for case in results.cases:
        assert case.error is None
        assert len(case.times_s) == len(case.cpu_times_s) == results.config["repeats"]
        assert case.median_s > 0 and case.cpu_median_s is not None
        assert case.peak_memory_bytes >= case.inputs_memory_bytes > 0
        assert case.flops == training_flops(8, 8, heads=2)


def _results(backward: bool, cases: list[Case]) -> Results:
    config = {"device": "cpu", "batch": 1, "heads": 2, "head_dim": 8, "dtype": "float32", "backward": backward}
    return Results("2026-01-01", "python -m benchmarks", {"device": "cpu"}, {}, config, cases)


def test_the_tables_have_one_fixed_width_row_per_case():
    forward = _results(False, [Case("naive", 64, 0.002, [0.002], 3 * 2**20, 2**20, 4_000_000)])
    forward.cases.append(Case("sdpa", 64, error="timed out after 600 s"))
    assert format_table(forward).splitlines() == [
        "     n form              median        achieved   peak memory",
        "    64 naive             2.0 ms     2.0 GFLOP/s         3 MiB",
        "    64 sdpa       timed out after 600 s",
    ]
    training = _results(True, [Case("blockwise", 128, 0.004, [], 5 * 2**20, 2**20, 1, cpu_median_s=0.008)])
    assert format_table(training).splitlines() == [
        "     n form         median wall    median CPU  above inputs",
        "   128 blockwise         4.0 ms        8.0 ms         4 MiB",
    ]


def test_compare_with_torch_reports_one_ratio_per_case():
    ratios = compare_with_torch(
        multihead_lengths=(8,), sdpa_lengths=(4, 8), batch=1, d_model=16, heads=2, rounds=2, calls=1, threads=None
    )
    assert [(r.name.split()[0], r.seq_len, r.mode) for r in ratios] == [
        ("MultiHeadAttention", 8, "no_grad"),
        ("MultiHeadAttention", 8, "grad"),
        ("scaled_dot_product_attention", 4, "no_grad"),
        ("scaled_dot_product_attention", 8, "no_grad"),
    ]
    assert all(r.ours_s > 0 and r.torch_s > 0 and r.ratio > 0 for r in ratios)
    assert format_ratios(ratios).splitlines()[0].split() == ["compared", "n", "mode", "ours", "torch", "ratio"]


def test_resident_peak_is_this_process_own():
    before = resident_peak_bytes()
    block = bytearray(64 * 2**20)  # touch 64 MiB
    block[::4096] = b"x" * len(block[::4096])
    assert resident_peak_bytes() >= before
    assert resident_peak_bytes() >= 64 * 2**20


def test_naive_form_is_skipped_where_it_cannot_fit():
    config = {"device": "cpu", "batch": 1, "heads": 4, "dtype": "float32"}
    assert naive_training_skip(512, config) is None
    reason = naive_training_skip(2**20, config)  # 6 * 4 * 2^40 * 4 bytes: 96 TiB
    assert reason is not None and reason.startswith("skipped: needs about 98304 GiB")
    assert naive_training_skip(2**20, {**config, "device": "cuda"}) is None


def test_encode_gives_each_character_its_index_in_the_vocabulary():
    assert encode("abba c", " abc").tolist() == [1, 2, 2, 1, 0, 3]
    with pytest.raises(ValueError, match="text has characters that are not in vocabulary: 'z'"):
        encode("abz", " abc")


TEXT = "I HAD always thought Jack Gisburn rather a cheap genius"


def test_measure_decoding_records_both_modes_within_and_past_the_context(tmp_path):
    result = measure_decoding(
        TEXT, text_name="t", context_len=8, d_model=16, num_layers=2, runs=((3, 4), (8, 5)), rounds=2, threads=None
    )
    assert result.model["vocab_size"] == len(set(TEXT)) and result.model["context_len"] == 8
    assert result.text == {"name": "t", "characters": len(TEXT), "tokenizer": "characters"}
    assert [(measured.prompt_len, measured.new_tokens) for measured in result.runs] == [(3, 4), (8, 5)]
    for measured in result.runs:
        assert measured.same_ids
        assert set(measured.seconds) == set(measured.cpu_seconds) == set(measured.tokens_per_s) == {"cache", "no_cache"}
        assert measured.tokens_per_s["cache"] == measured.new_tokens / measured.seconds["cache"]
        assert measured.cpu_tokens_per_s["no_cache"] == measured.new_tokens / measured.cpu_seconds["no_cache"]
        assert measured.speedup == pytest.approx(measured.tokens_per_s["cache"] / measured.tokens_per_s["no_cache"])
        assert measured.cpu_speedup == measured.cpu_seconds["no_cache"] / measured.cpu_seconds["cache"]
    path = tmp_path / "decode.json"
    save_decode_speed(result, path)
    assert load_decode_speed(path) == result


def test_measure_decoding_refuses_a_prompt_longer_than_the_text():
    with pytest.raises(ValueError, match=r"^runs must hold \(prompt_len, new_tokens\) with .* got \(56, 4\)$"):
        measure_decoding(TEXT, runs=((len(TEXT) + 1, 4),), rounds=1, threads=None)


# A result file records the command that measured it: `python -m benchmarks`, or for the files measured
# before the harness moved out of the package, `python -m selfattention.benchmark` (the same options).
RECORDED_COMMANDS = ("python -m benchmarks ", "python -m selfattention.benchmark ")


def test_committed_results_are_well_formed():
    paths = sorted(RESULTS.glob("*.json"))
    assert paths, "the Performance page needs at least one measured result"
    for path in paths:
        results = load_results(path)
        assert results.date and results.command.startswith(RECORDED_COMMANDS)
        assert results.versions["torch"] and results.machine["device"]
        if results.machine["device"].startswith("cuda"):
            assert results.machine["gpu"], f"{path.name} must name the GPU"
        assert json.loads(path.read_text())["cases"]
        assert path.with_suffix(".csv").exists()


def test_committed_training_results_name_their_measurement():
    paths = sorted(RESULTS.glob("*fwdbwd*.json"))
    assert paths, "the Performance page plots a forward + backward result"
    for path in paths:
        results = load_results(path)
        assert results.config["backward"] is True and "--backward" in results.command
        skipped = [c for c in results.cases if c.error]
        assert all(c.error.startswith("skipped: ") for c in skipped), "only recorded skips, no failures"


def test_committed_decoding_results_are_complete():
    paths = sorted((RESULTS / "decode").glob("*.json"))
    assert paths, "the KV-cache page reads a measured result"
    for path in paths:
        speed = load_decode_speed(path)
        assert isinstance(speed, DecodeSpeed) and all(isinstance(measured, DecodeRun) for measured in speed.runs)
        assert speed.command.startswith("python -m benchmarks --decode") and "--smoke" not in speed.command
        assert speed.machine["cpu_count"] >= 1 and speed.date in path.name and speed.threads == 1
        assert speed.runs and all(measured.same_ids for measured in speed.runs)
        # the first run is the headline: generation within the model's context
        assert speed.runs[0].prompt_len + speed.runs[0].new_tokens <= speed.model["context_len"]
