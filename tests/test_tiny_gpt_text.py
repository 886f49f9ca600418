"""The text of the page "A tiny GPT" and the robustness of what the page prints.

The page trains a `TinyGPT` on Edith Wharton's "The Verdict" and prints greedy continuations.
Another CPU or thread count rounds some sums differently, so its trained weights differ in their
last digits; the printed characters stay the same only if the model prefers each of them by a wide
margin. These tests run the page's own code (its ```python blocks up to its attention section)
and check that margin at every generated step.
"""

from __future__ import annotations

import doctest
import fnmatch
import hashlib
import textwrap
from importlib.resources import files
from typing import Any

import pytest
import torch

from selfattention.data import the_verdict
from tests.pages import DOCS, ROOT, fences

PAGE = DOCS / "tiny-gpt.md"
# The file as Raschka's LLMs-from-scratch repository has it (ch02/01_main-chapter-code/the-verdict.txt).
VERDICT_SHA256 = "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f"
# The continuations the page prints: (prompt, max_new_tokens, printed text).
CONTINUATIONS = [("Jack Gis", 4, "Jack Gisburn"), ("Mrs. Str", 3, "Mrs. Stroud"), ("Mrs. Gis", 4, "Mrs. Gisburn")]
# Top-1 logit minus top-2 logit at every generated step: a probability ratio of at least e^2 (about 7).
# Training the same model in float64 instead of float32 moves these margins by less than 1, and the smallest stays
# above 3.
MIN_MARGIN = 2.0


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


def _page_namespace() -> dict[str, Any]:
    """Run the page's examples up to its attention section, in one namespace, outputs unchecked."""
    text = PAGE.read_text(encoding="utf-8")
    stop = text[: text.index("\n## What its heads attend to")].count("\n")
    namespace: dict[str, Any] = {}
    parser = doctest.DocTestParser()
    for info, _indent, body in fences(text):
        if info != "python" or not body or body[0][0] > stop:
            continue
        block = textwrap.dedent("\n".join(line for _, line in body)) + "\n"
        for example in parser.get_examples(block):
            exec(compile(example.source, str(PAGE), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def page() -> dict[str, Any]:
    return _page_namespace()


def test_the_page_prints_these_continuations() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for prompt, new_tokens, printed in CONTINUATIONS:
        assert f'decode(generate(model, encode("{prompt}"), max_new_tokens={new_tokens}))\n' in text
        assert f"'{printed}'" in text


@pytest.mark.parametrize(("prompt", "new_tokens", "printed"), CONTINUATIONS)
def test_every_generated_character_wins_by_a_wide_margin(
    page: dict[str, Any], prompt: str, new_tokens: int, printed: str
) -> None:
    model, encode, decode = page["model"], page["encode"], page["decode"]
    ids = encode(prompt)
    margins = []
    with torch.no_grad():
        for _ in range(new_tokens):  # the greedy loop written out, reading every step's logits
            logits = model(ids[None])[0, -1]
            top_two = logits.topk(2).values
            margins.append(float(top_two[0] - top_two[1]))
            ids = torch.cat((ids, logits.argmax().reshape(1)))
    assert decode(ids) == printed
    assert min(margins) >= MIN_MARGIN, margins


def test_the_page_reads_the_weights_the_model_uses(page: dict[str, Any]) -> None:
    """The page's attention maps come from `MultiHeadAttention.steps`; the outputs of those same
    steps, put back into each block, give the model's logits."""
    model, ids = page["model"], page["held_out_inputs"][:4]
    with torch.no_grad():
        stream = model.token_embedding(ids)
        for block in model.blocks:
            steps = block.attention.steps(block.norm_1(stream))
            assert torch.allclose(steps.weights.sum(dim=-1), torch.ones(()), atol=1e-5)
            stream = stream + steps.output
            stream = stream + block.mlp(block.norm_2(stream))
        logits = model.head(model.final_norm(stream))
        torch.testing.assert_close(logits, model(ids))
