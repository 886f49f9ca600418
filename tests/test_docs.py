"""The promise of the site: every printed number on every page is checked.

Sybil (configured in conftest.py) runs the ```python blocks. These tests make sure that it
sees all of them, that every line a page shows as output is compared exactly with what the code
prints, and, end to end, that a changed digit on any printed line makes the page fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sybil import Document

from sybil.evaluators.doctest import OutputChecker

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


def mutate(line: str) -> str:
    """The line with its first digit changed."""
    match = re.search(r"\d", line)
    assert match is not None, line
    digit = match.group()
    return line[: match.start()] + str((int(digit) + 1) % 10) + line[match.end() :]


def example_starts(path: Path, text: str) -> list[int]:
    """The 0-based line on which each of a page's examples starts."""
    return [text.count("\n", 0, example.region.start) for example in Document.parse(str(path), *DOC_PARSERS)]


class RecordingChecker(OutputChecker):
    """Sybil's doctest checker, recording what each example printed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int]] = []

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        self.calls.append((want, got, optionflags))
        return super().check_output(want, got, optionflags)


def code_of(example) -> str:
    return getattr(example.parsed, "source", example.parsed)


def run_page(path: Path) -> list[tuple[str, str, str, int]]:
    """Run a page's examples once, as Sybil does, in page order and one namespace.

    Returns, per example: its source, the output it wants, what it printed and its option flags.
    Fails if an example fails (so the page passes as it is)."""
    document = Document.parse(str(path), *DOC_PARSERS)
    runs = []
    for example in document:
        runner = getattr(example.region.evaluator, "runner", None)
        if runner is None:  # a block without prompts: it runs, and prints nothing to compare
            example.evaluate()
            runs.append((code_of(example), None, None, 0))
            continue
        checker, runner._checker = runner._checker, RecordingChecker()
        try:
            example.evaluate()
            recorded = runner._checker.calls
        finally:
            runner._checker = checker
        assert len(recorded) == 1, f"{path.name}: one check per example, got {recorded}"
        want, got, flags = recorded[0]
        runs.append((code_of(example), want, got, flags))
    return runs


def failing_line(path: Path, text: str, runs: list[tuple[str, str, str, int]]) -> int | None:
    """The 0-based line where the first example of ``text`` (a changed copy of the page at
    ``path``) that Sybil would fail starts; None if it would pass.

    ``text`` is parsed by Sybil as CI would parse it. Its examples up to the changed one have the
    same code as the page's, so, run in order in one namespace, they print what they printed in
    ``runs`` (the page's examples are deterministic: the doc-tests compare them exactly): each one
    passes or fails as Sybil's checker judges its printed output against what ``text`` wants.
    """
    mutated = path.with_name(f".mutated-{path.name}")
    mutated.write_text(text, encoding="utf-8")
    try:
        examples = list(Document.parse(str(mutated), *DOC_PARSERS))
    finally:
        mutated.unlink()
    assert len(examples) == len(runs), f"{path.name}: the change altered which examples Sybil collects"
    checker = OutputChecker()
    for example, (source, _, got, flags) in zip(examples, runs, strict=True):
        assert code_of(example) == source, f"{path.name}: the change altered an example's code"
        if got is not None and not checker.check_output(example.parsed.want, got, flags):
            return text.count("\n", 0, example.region.start)
    return None


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
def test_every_printed_line_is_compared_exactly(page):
    """Doctest compares an example's whole expected output with what it prints, character for
    character (no option flags here). So a changed digit fails the suite exactly when its line
    is part of the expected output of an example Sybil runs: check that for every line."""
    text = page.read_text(encoding="utf-8")
    examples = [
        (text.count("\n", 0, example.region.start), example.parsed)
        for example in Document.parse(str(page), *DOC_PARSERS)
    ]
    for _, parsed in examples:
        assert not getattr(parsed, "options", {}), f"{page.name}: doctest option flags loosen the comparison"
        assert "at 0x" not in getattr(parsed, "want", ""), f"{page.name}: a memory address is never reproducible"
    unchecked = []
    for number, line in output_lines(text):
        # The example that prints this line: the last one (in page order) that starts before it.
        _, parsed = [example for example in examples if example[0] < number][-1]
        wanted = getattr(parsed, "want", "").split("\n")
        if line.strip() not in (w.strip() for w in wanted):
            unchecked.append(f"line {number + 1}: {line.strip()!r}")
    assert not unchecked, f"{page.name}: these printed lines are compared with nothing:\n" + "\n".join(unchecked)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_changing_a_printed_number_fails(page):
    """End to end, as CI would see it: every printed line with a number, changed by one digit,
    makes the page fail at the example that prints it. The page runs once; each changed copy is
    parsed by Sybil and judged by Sybil's checker against what the page's code printed."""
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    runs = run_page(page)  # fails if the page fails as it is
    assert failing_line(page, text, runs) is None, f"{page.name} fails as it is"
    starts = [text.count("\n", 0, e.region.start) for e in Document.parse(str(page), *DOC_PARSERS)]
    numbered = [(n, line) for n, line in output_lines(text) if re.search(r"\d", line)]
    if not numbered:
        pytest.skip(f"{page.name} prints no number")
    unnoticed = []
    for number, line in numbered:
        mutated = [*lines[:number], mutate(line), *lines[number + 1 :]]
        printed_by = [start for start in starts if start < number][-1]
        if failing_line(page, "\n".join(mutated), runs) != printed_by:
            unnoticed.append(f"line {number + 1}: {line.strip()!r}")
    assert not unnoticed, f"{page.name}: changing these lines does not fail:\n" + "\n".join(unnoticed)
