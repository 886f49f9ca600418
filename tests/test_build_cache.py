"""The build cache of the site's figures (sitebuild/generated.py): off without SELFATTENTION_BUILD_CACHE;
with it, a drawing is made once per digest of what it is made from, and a changed source file
gives a new digest, so a stale drawing is never reused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def generated(monkeypatch, tmp_path):
    """A fresh copy of the module, reading its sources from a small tree under tmp_path."""
    spec = importlib.util.spec_from_file_location("generated_under_test", ROOT / "sitebuild" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tree = tmp_path / "tree"
    for name in ("src/selfattention/attention.py", "sitebuild/figures.py", "docs/benchmarks/cpu.json"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(name, encoding="utf-8")
    monkeypatch.setattr(module, "ROOT", tree)
    monkeypatch.delenv(module.CACHE_VARIABLE, raising=False)
    yield module
    sys.modules.pop("generated_under_test", None)


def test_without_the_variable_every_drawing_is_made_and_nothing_kept(generated, tmp_path):
    made = []
    assert generated.cached("en/a.svg", lambda: made.append(1) or b"one") == b"one"
    assert generated.cached("en/a.svg", lambda: made.append(1) or b"two") == b"two"
    assert made == [1, 1]
    assert generated.cache_folder() is None


def test_with_the_variable_a_drawing_is_made_once(generated, tmp_path, monkeypatch):
    monkeypatch.setenv(generated.CACHE_VARIABLE, str(tmp_path / "cache"))
    stale = tmp_path / "cache" / "0123456789abcdef"
    stale.mkdir(parents=True)
    made = []
    assert generated.cached("en/a.svg", lambda: made.append(1) or b"one") == b"one"
    assert generated.cached("en/a.svg", lambda: made.append(1) or b"two") == b"one"
    assert made == [1]
    assert (tmp_path / "cache" / generated.inputs_digest() / "en" / "a.svg").read_bytes() == b"one"
    assert not stale.exists(), "a folder of another digest can never be used again"


def test_a_changed_source_gives_another_digest(generated):
    before = generated.inputs_digest.__wrapped__()
    for name in ("src/selfattention/attention.py", "sitebuild/figures.py", "docs/benchmarks/cpu.json"):
        path = generated.ROOT / name
        path.write_text(path.read_text(encoding="utf-8") + " changed", encoding="utf-8")
        after = generated.inputs_digest.__wrapped__()
        assert after != before, f"a change to {name} must change the digest"
        before = after


def test_model_weights_round_trip(generated, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv(generated.CACHE_VARIABLE, str(tmp_path / "cache"))
    state = {"weight": torch.arange(6.0).reshape(2, 3)}
    first = generated.cached_state("model", lambda: state)
    second = generated.cached_state("model", lambda: {"weight": torch.zeros(2, 3)})
    assert torch.equal(first["weight"], state["weight"]) and torch.equal(second["weight"], state["weight"])
