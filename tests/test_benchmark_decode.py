"""The decoding benchmark (--decode) in smoke mode: it runs and writes a well-formed file; the
stored result the KV-cache page reads is complete. No timing is asserted."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from selfattention.benchmark import _Decoder, _generate, load_decode_speed

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_writes_the_result(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "selfattention.benchmark", "--decode", "--smoke", "--out", str(tmp_path), "--name", "smoke"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = load_decode_speed(tmp_path / "smoke.json")
    assert result.command.startswith("python -m selfattention.benchmark --decode --smoke")
    assert result.same_outputs and set(result.tokens_per_s) == {"cache", "no_cache"}
    assert result.config["new_tokens"] == 4 and result.machine["device"] == "cpu"
    assert "tokens per second" in done.stdout


def test_generation_with_and_without_the_cache_agrees_in_float64():
    torch.manual_seed(0)
    model = _Decoder(2, 16, 4, 2).double().eval()
    prompt = torch.randn(1, 5, 16, dtype=torch.float64)
    with torch.no_grad():
        cached = _generate(model, prompt, 6, cache=True)
        recomputed = _generate(model, prompt, 6, cache=False)
    assert cached.shape == (1, 6, 16)
    torch.testing.assert_close(cached, recomputed, atol=1e-12, rtol=1e-12)


def test_stored_results_are_complete():
    paths = sorted((ROOT / "docs" / "benchmarks" / "decode").glob("*.json"))
    assert paths
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["command"].startswith("python -m selfattention.benchmark --decode")
        assert data["machine"]["cpu_count"] >= 1 and data["date"] in path.name
        assert data["same_outputs"] is True
