"""The text of the page "A tiny GPT" and the robustness of what the page prints.

The page trains a `TinyGPT` on Edith Wharton's "The Verdict" and prints greedy continuations.
Another CPU or thread count rounds some sums differently, so its trained weights differ in their
last digits; the printed characters stay the same only if the model prefers each of them by a wide
margin. The page prints that margin (more than 2 at every generated character); these tests check the text
the page trains on and what the page prints.
"""

from __future__ import annotations

import fnmatch
import hashlib
from importlib.resources import files

import pytest
import torch

from selfattention import TinyGPT
from selfattention.data import the_verdict
from tests.pages import DOCS, ROOT

PAGE = DOCS / "tiny-gpt.md"
# The file as Raschka's LLMs-from-scratch repository has it (ch02/01_main-chapter-code/the-verdict.txt).
VERDICT_SHA256 = "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f"
# The continuations the page prints: (prompt, max_new_tokens, printed text).
CONTINUATIONS = [("Jack Gis", 4, "Jack Gisburn"), ("Mrs. Str", 3, "Mrs. Stroud"), ("Mrs. Gis", 4, "Mrs. Gisburn")]


def test_the_verdict_is_the_committed_text() -> None:
    text = the_verdict()
    assert len(text) == 20479
    assert text.isascii()
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == VERDICT_SHA256
    assert text.startswith("I HAD always thought Jack Gisburn rather a cheap genius")
    assert text.endswith("but there's no exterminating our kind of art.\"")


def test_the_verdict_ships_in_the_wheel() -> None:
    """The file is found as package data, and pyproject.toml's package-data puts it in the wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    assert files("selfattention.data").joinpath("the-verdict.txt").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["selfattention"]
    assert any(fnmatch.fnmatch("data/the-verdict.txt", pattern) for pattern in patterns), patterns


def test_the_page_prints_these_continuations() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for prompt, new_tokens, printed in CONTINUATIONS:
        assert f'decode(generate(model, encode("{prompt}"), max_new_tokens={new_tokens}))\n' in text
        assert f"'{printed}'" in text


def test_the_page_reads_the_weights_the_model_uses() -> None:
    """The page's attention maps come from `MultiHeadAttention.steps` on each block's normed stream;
    the outputs of those same steps, put back into each block, give the model's logits (a model of
    the page's size, untrained: the reading does not depend on the weights)."""
    torch.manual_seed(0)
    model = TinyGPT(62, context_len=32, d_model=32, num_layers=2, num_heads=2).eval()
    ids = torch.randint(0, 62, (4, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        stream = model.token_embedding(ids)
        for block in model.blocks:
            steps = block.attention.steps(block.norm_1(stream))
            assert torch.allclose(steps.weights.sum(dim=-1), torch.ones(()), atol=1e-5)
            stream = stream + steps.output
            stream = stream + block.mlp(block.norm_2(stream))
        logits = model.head(model.final_norm(stream))
        torch.testing.assert_close(logits, model(ids))
