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

from conftest import DOC_PARSERS, PRINTED

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


def start_lines(text: str, examples) -> list[int]:
    """The 0-based line on which each example starts. Inside an indented fence (a solution in a
    ``??? success`` admonition) Sybil's offsets drift towards the start of the block, because it
    parses the dedented text; so each doctest example is looked up by its first line of source,
    at or after where Sybil puts it."""
    lines = text.split("\n")
    starts: list[int] = []
    for example in examples:
        line = max(text.count("\n", 0, example.region.start), starts[-1] + 1 if starts else 0)
        source = getattr(example.parsed, "source", None)
        if source is not None:  # a >>> example: find its prompt
            first = source.split("\n")[0].strip()
            while line < len(lines) and not (
                lines[line].lstrip().startswith(">>>") and lines[line].lstrip()[3:].strip() == first
            ):
                line += 1
        starts.append(line)
    return starts


def example_starts(path: Path, text: str) -> list[int]:
    """The 0-based line on which each of a page's examples starts."""
    return start_lines(text, list(Document.parse(str(path), *DOC_PARSERS)))


def code_of(example) -> str:
    return getattr(example.parsed, "source", example.parsed)


def english_twin(path: Path) -> Path | None:
    """The English page of a Chinese page (docs/zh/NAME.md -> docs/NAME.md); None for any other page."""
    relative = path.resolve().relative_to(DOCS.resolve())
    if relative.parts[0] != "zh" or not (DOCS / Path(*relative.parts[1:])).is_file():
        return None
    return DOCS / Path(*relative.parts[1:])


def run_page(path: Path) -> list[tuple[str, str | None, str | None, int]]:
    """What a page's examples print, run as Sybil runs them: in page order, in one namespace.

    Returns, per example: its source, the output it wants, what it printed and its option flags
    (None, None, 0 for a block without prompts, which prints nothing to compare). When Sybil has
    run the page's examples in this process (the scheduling in the root conftest.py puts a page's
    examples and these tests in one worker, examples first), this is what they printed then
    (conftest.PRINTED); otherwise (e.g. this file run on its own) the page runs here. Fails if
    an example raises (so the page passes as it is, or the caller finds out).

    A Chinese page's examples are its English twin's, line for line (tests/test_zh_pages.py), and
    Sybil runs only the English page (conftest.py): a Chinese page gets what its twin printed, so
    its expected output is judged against what the same code printed."""
    examples = list(Document.parse(str(path), *DOC_PARSERS))
    english = english_twin(path)
    if english is not None:
        runs = run_page(english)
        assert [code_of(example) for example in examples] == [source for source, *_ in runs], (
            f"{path.name}: the Chinese page's examples are not its English twin's (tests/test_zh_pages.py)"
        )
        return runs
    printed = PRINTED.get(str(path.resolve()), {})
    with_prompts = [example for example in examples if getattr(example.region.evaluator, "runner", None) is not None]
    if not all(example.region.start in printed for example in with_prompts):
        for example in examples:
            example.evaluate()
        printed = PRINTED[str(path.resolve())]
    return [
        (code_of(example), *printed[example.region.start]) if example in with_prompts else (code_of(example), None, None, 0)
        for example in examples
    ]


def failing_lines(path: Path, text: str, runs: list[tuple[str, str | None, str | None, int]]) -> list[int]:
    """The 0-based lines where the examples of ``text`` (a changed copy of the page at ``path``)
    that Sybil would fail start, in page order; [] if it would pass.

    ``text`` is parsed by Sybil as CI would parse it. Its examples have the same code as the
    page's, so, run in order in one namespace, they print what they printed in ``runs`` (the
    page's examples are deterministic: the doc-tests compare them exactly): each one passes or
    fails as Sybil's checker judges its printed output against what ``text`` wants.
    """
    mutated = path.with_name(f".mutated-{path.name}")
    mutated.write_text(text, encoding="utf-8")
    try:
        examples = list(Document.parse(str(mutated), *DOC_PARSERS))
    finally:
        mutated.unlink()
    assert len(examples) == len(runs), f"{path.name}: the change altered which examples Sybil collects"
    checker = OutputChecker()
    failing = []
    for example, start, (source, _, got, flags) in zip(examples, start_lines(text, examples), runs, strict=True):
        assert code_of(example) == source, f"{path.name}: the change altered an example's code"
        if got is not None and not checker.check_output(example.parsed.want, got, flags):
            failing.append(start)
    return failing


def failing_line(path: Path, text: str, runs: list[tuple[str, str | None, str | None, int]]) -> int | None:
    """The 0-based line where the first example of ``text`` that Sybil would fail starts (see
    `failing_lines`); None if it would pass."""
    return next(iter(failing_lines(path, text, runs)), None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_are_spelled_so_that_sybil_collects_them(page):
    for info, _, body in fences(page.read_text(encoding="utf-8")):
        has_prompts = any(line.lstrip().startswith(">>>") for _, line in body)
        if has_prompts or re.match(r"(py|python|pycon)\b", info):
            assert info == "python", (
                f"{page.name}: a fence spelled ```{info} is not collected by Sybil; "
                "write ```python (no title, no hl_lines)"
            )


# The Chinese edition's glossary is a table of terms: the only page without code.
WITHOUT_EXAMPLES = {DOCS / "zh" / "glossary.md"}


def test_every_page_has_tested_examples():
    for page in PAGES:
        if page in WITHOUT_EXAMPLES:
            continue
        examples = list(Document.parse(str(page), *DOC_PARSERS))
        assert examples, f"{page.name} has no example that Sybil runs"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_printed_line_is_compared_exactly(page):
    """Doctest compares an example's whole expected output with what it prints, character for
    character (no option flags here). So a changed digit fails the suite exactly when its line
    is part of the expected output of an example Sybil runs: check that for every line."""
    text = page.read_text(encoding="utf-8")
    parsed_examples = list(Document.parse(str(page), *DOC_PARSERS))
    examples = [
        (start, example.parsed) for example, start in zip(parsed_examples, start_lines(text, parsed_examples), strict=True)
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
    makes the page fail at the example that prints it. Each changed copy is parsed by Sybil and
    judged by Sybil's checker against what the page's code printed (`run_page`)."""
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    runs = run_page(page)  # fails if the page fails as it is
    assert failing_line(page, text, runs) is None, f"{page.relative_to(DOCS)} fails as it is"
    starts = example_starts(page, text)
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


# Exercises: every chapter page ends with 2 to 4 exercises, each with its solution in a collapsed
# `??? success "Solution"` block. The code of a solution is indented inside the admonition; these
# tests make sure that Sybil runs it and compares what it prints, like every other example.
CHAPTERS_WITH_EXERCISES = [
    "simplified.md", "trainable.md", "scaling.md", "causal.md", "multihead.md", "gqa.md", "kv-cache.md",
    "positions.md", "cross-attention.md", "pytorch.md", "trained.md", "blockwise.md", "backward.md",
]  # fmt: skip
# The Chinese edition has the same chapters; its exercises heading is `## 练习 { #exercises }`.
CHAPTERS_WITH_EXERCISES += [f"zh/{name}" for name in CHAPTERS_WITH_EXERCISES]
SOLUTION = re.compile(r"^(?P<indent> *)\?\?\?\+? success\b")


def solution_blocks(text: str) -> list[tuple[int, int]]:
    """(first, end) 0-based lines of each `??? success` block: its opening line and the lines
    indented deeper than it (or blank) that follow."""
    lines = text.split("\n")
    blocks = []
    for first, line in enumerate(lines):
        match = SOLUTION.match(line)
        if not match:
            continue
        end = first + 1
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(match["indent"])):
            end += 1
        blocks.append((first, end))
    return blocks


def mutate_printed(line: str) -> str:
    """The line with its first digit changed or, if it has none, its first True/False flipped."""
    if re.search(r"\d", line):
        return mutate(line)
    match = re.search(r"\b(True|False)\b", line)
    assert match is not None, line
    flipped = "False" if match.group() == "True" else "True"
    return line[: match.start()] + flipped + line[match.end() :]


PAGES_WITH_SOLUTIONS = [page for page in PAGES if solution_blocks(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("name", CHAPTERS_WITH_EXERCISES)
def test_chapter_ends_with_exercises_and_solutions(name):
    text = (DOCS / name).read_text(encoding="utf-8")
    lines = text.split("\n")
    exercises = [n for n, line in enumerate(lines) if line == "## Exercises" or re.fullmatch(r"## .* \{ *#exercises *\}", line)]
    assert exercises, f"{name} has no '## Exercises' section (in Chinese: '## 练习 {{ #exercises }}')"
    heading = exercises[0]
    later_headings = [n for n, line in enumerate(lines) if line.startswith("## ") and n > heading]
    assert later_headings == [], f"{name}: the exercises must be the last section"
    blocks = solution_blocks(text)
    assert 2 <= len(blocks) <= 4, f"{name} has {len(blocks)} solutions, expected 2 to 4"
    assert all(first > heading for first, _ in blocks), f"{name}: a solution before the exercises"


@pytest.mark.parametrize("page", PAGES_WITH_SOLUTIONS, ids=lambda p: str(p.relative_to(DOCS)))
def test_changing_a_printed_value_in_any_solution_fails(page):
    """In each solution block, the last line it prints, changed by one digit (or a True turned
    to False where it prints no digit), makes the page fail at the example inside the solution
    that prints it: the indented code is collected, run and compared. All solutions of a page
    are changed at once; the changed page is judged against what its code printed (`run_page`)."""
    text = page.read_text(encoding="utf-8")
    lines = text.split("\n")
    starts = example_starts(page, text)
    printed = list(output_lines(text))
    expected = {}  # the example that must fail -> the changed line
    for first, end in solution_blocks(text):
        inside = [(n, line) for n, line in printed if first < n < end]
        assert inside, f"{page.name}: the solution on line {first + 1} prints nothing that is checked"
        with_digit = [(n, line) for n, line in inside if re.search(r"\d", line)]
        number, line = (with_digit or [(n, line) for n, line in inside if re.search(r"\b(True|False)\b", line)])[-1]
        printed_by = [start for start in starts if start < number][-1]
        assert first < printed_by, f"{page.name}: line {number + 1} is printed by an example outside its solution"
        lines[number] = mutate_printed(line)
        expected[printed_by] = f"line {number + 1}: {line.strip()!r}"
    runs = run_page(page)
    assert failing_lines(page, text, runs) == [], f"{page.relative_to(DOCS)} fails as it is"
    failing = failing_lines(page, "\n".join(lines), runs)
    missed = [expected[start] for start in expected if start not in failing]
    assert missed == [], f"{page.name}: these changed lines in solutions do not fail: {missed}"
    assert set(failing) == set(expected), f"{page.name}: examples that fail although unchanged: {set(failing) - set(expected)}"
