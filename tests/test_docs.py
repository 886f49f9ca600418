"""The promise of the site: every printed number on every page is checked.

Sybil (configured in conftest.py) runs the ```python blocks. These tests make sure that it
sees all of them, and that it would notice a changed number: each output line of each page,
with one digit changed (or True/False swapped), must make that page's run fail at that line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sybil import Document

from conftest import DOC_PARSERS

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+|~~~+)(?P<info>.*)$")


def fences(text: str):
    """Yield (info, indent, [(line_number, line), ...]) for every fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, ticks, info = match["indent"], match["ticks"], match["info"].strip()
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != ticks:
            body.append((i, lines[i]))
            i += 1
        yield info, indent, body
        i += 1


def output_lines(text: str):
    """(line_number, line) of every line a ```python block shows as printed output."""
    for info, indent, body in fences(text):
        if info != "python":
            continue
        for number, line in body:
            stripped = line[len(indent):]
            if stripped.strip() and not stripped.startswith((">>> ", "... ", ">>>", "...")):
                yield number, line


def mutate(line: str) -> str | None:
    """The line with one printed digit changed, or True/False swapped; None if neither."""
    for word, swapped in (("True", "False"), ("False", "True")):
        if re.search(rf"\b{word}\b", line):
            return re.sub(rf"\b{word}\b", swapped, line, count=1)
    match = re.search(r"\d", line)
    if match is None:
        return None
    digit = match.group()
    return line[: match.start()] + str((int(digit) + 1) % 10) + line[match.end() :]


def example_starts(path: Path, text: str) -> list[int]:
    """The 0-based line on which each of a page's examples starts."""
    return [text.count("\n", 0, example.region.start) for example in Document.parse(str(path), *DOC_PARSERS)]


def failing_line(path: Path, text: str) -> int | None:
    """Run a page's examples as Sybil does; the 0-based line where the first failing one starts."""
    mutated = path.with_name(f".mutated-{path.name}")
    mutated.write_text(text, encoding="utf-8")
    try:
        document = Document.parse(str(mutated), *DOC_PARSERS)
        for example in document:
            try:
                example.evaluate()
            except Exception:  # SybilFailure for a mismatch, or the error itself
                return text.count("\n", 0, example.region.start)
        return None
    finally:
        mutated.unlink()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_are_spelled_so_that_sybil_collects_them(page):
    for info, _, body in fences(page.read_text(encoding="utf-8")):
        has_prompts = any(line.lstrip().startswith(">>>") for _, line in body)
        if has_prompts or re.match(r"(py|python|pycon)\b", info):
            assert info == "python", (
                f"{page.name}: a fence spelled ```{info} is not collected by Sybil; "
                "write ```python (no title, no hl_lines)"
            )


def test_every_page_has_tested_examples():
    for page in PAGES:
        examples = list(Document.parse(str(page), *DOC_PARSERS))
        assert examples, f"{page.name} has no example that Sybil runs"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_changing_any_printed_number_fails(page):
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert failing_line(page, text) is None, f"{page.name} fails as it is"
    starts = example_starts(page, text)
    unchecked, checked = [], 0
    for number, line in output_lines(text):
        changed = mutate(line)
        if changed is None:
            continue
        mutated_lines = [*lines[:number], changed, *lines[number + 1 :]]
        failed_at = failing_line(page, "\n".join(mutated_lines))
        printed_by = max(start for start in starts if start < number)
        if failed_at != printed_by:
            unchecked.append(f"line {number + 1}: {line.strip()!r}")
        checked += 1
    assert checked > 0 or page.name == "index.md"
    assert not unchecked, f"{page.name}: changing these printed lines fails no test:\n" + "\n".join(unchecked)
