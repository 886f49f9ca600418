"""The comparison with PyTorch's modules runs and reports ratios. No timing is asserted."""

import subprocess
import sys

from selfattention.benchmark import compare_with_torch, format_ratios


def test_compare_with_torch_reports_one_ratio_per_case():
    ratios = compare_with_torch(
        multihead_lengths=(8,), sdpa_lengths=(4, 8), batch=1, d_model=16, heads=2, rounds=2, calls=1, threads=None
    )
    assert [(r.name.split()[0], r.seq_len, r.mode) for r in ratios] == [
        ("MultiHeadAttention", 8, "no_grad"), ("MultiHeadAttention", 8, "grad"),
        ("scaled_dot_product_attention", 4, "no_grad"), ("scaled_dot_product_attention", 8, "no_grad"),
    ]  # fmt: skip
    assert all(r.ours_s > 0 and r.torch_s > 0 and r.ratio > 0 for r in ratios)
    assert format_ratios(ratios).splitlines()[0].split() == ["compared", "n", "mode", "ours", "torch", "ratio"]


def test_the_command_line_option_runs():
    done = subprocess.run(
        [sys.executable, "-m", "selfattention.benchmark", "--versus-torch", "--smoke"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + 4 + 2  # header, MHA at n = 64 and 256 in two modes, SDPA at n = 8 and 64
    assert all(float(line.split()[-1]) > 0 for line in lines[1:])
