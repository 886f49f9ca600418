"""The promise of the site: every printed number on every page is checked.

Sybil (the root conftest.py, with the parsers of tests/pages.py) runs the ```python blocks of the
English pages and compares what each >>> line prints with the page, exactly. A changed digit on
a printed line fails the suite when three things hold, and these tests check each of them:

1. Sybil collects every ```python block (the fence is spelled so that it is collected, indented
   ones in ``??? success`` solutions included), and every page has examples;
2. every line a page shows as output is part of what a collected example compares, and the
   comparison is exact (doctest's option flags at 0, none set per example);
3. the Chinese pages' blocks equal the English pages' blocks once comments are removed
   (tests/test_zh_pages.py), code and outputs character for character, so a changed digit there
   differs from the English page.

End to end, `test_changed_printed_values_fail` changes every printed value of one page at once,
its solutions included, and runs the changed copy as Sybil runs a page: exactly the examples that
print a changed line fail.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest
from sybil.example import SybilFailure

from tests.pages import (
    DOCS,
    DOCS_SYBIL,
    DOCTEST_OPTIONFLAGS,
    PAGES,
    PARSERS,
    examples,
    fences,
    mutate,
    output_lines,
    start_lines,
)


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def compared_lines(parsed) -> list[str]:
    """The lines of an example's expected output that doctest compares: all of them, or for an
    example that raises, the exception's type and message (doctest ignores the stack)."""
    exc_msg = getattr(parsed, "exc_msg", None)
    if exc_msg is not None:
        return [line.strip() for line in exc_msg.split("\n") if line.strip()]
    return [line.strip() for line in getattr(parsed, "want", "").split("\n") if line.strip()]


def printed_by(page: Path, text: str) -> dict[int, int]:
    """For every output line of a page (0-based), the 0-based line where the example that prints
    it starts: the last example (in page order) that starts before it."""
    parsed = examples(page)
    starts = start_lines(text, parsed)
    return {number: [start for start in starts if start < number][-1] for number, _ in output_lines(text)}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_blocks_are_spelled_so_that_sybil_collects_them(page):
    for info, _, body in fences(page.read_text(encoding="utf-8")):
        has_prompts = any(line.lstrip().startswith(">>>") for _, line in body)
        if has_prompts or re.match(r"(py|python|pycon)\b", info):
            assert info == "python", (
                f"{page.name}: a fence spelled ```{info} is not collected by Sybil; "
                "write ```python (no title, no hl_lines)"
            )


def test_sybil_runs_every_english_page_and_no_chinese_page():
    for page in PAGES:
        chinese = page.relative_to(DOCS).parts[0] == "zh"
        assert DOCS_SYBIL.should_parse(page) is not chinese, page_id(page)


# The glossaries are tables of terms: the only pages without code.
WITHOUT_EXAMPLES = {DOCS / "glossary.md", DOCS / "zh" / "glossary.md"}


@pytest.mark.parametrize("page", [page for page in PAGES if page not in WITHOUT_EXAMPLES], ids=page_id)
def test_every_page_has_examples_that_sybil_runs(page):
    assert examples(page), f"{page_id(page)} has no example that Sybil runs"


def test_the_comparison_is_exact():
    """doctest compares an example's whole expected output with what it prints, character for
    character, unless option flags loosen it: none are set for the parsers (per example, the next
    test)."""
    assert DOCTEST_OPTIONFLAGS == 0
    evaluators = {type(parser.doctest_parser.evaluator).__name__ for parser in PARSERS}
    assert evaluators == {"DocTestEvaluator"}
    comparison_flags = [
        parser.doctest_parser.evaluator.runner.optionflags & ~doctest.REPORTING_FLAGS for parser in PARSERS
    ]
    assert comparison_flags == [0] * len(PARSERS)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_printed_line_is_compared_exactly(page):
    """A changed digit fails the suite exactly when its line is compared: check that for every
    line a page shows as output."""
    text = page.read_text(encoding="utf-8")
    parsed_examples = examples(page)
    starts = start_lines(text, parsed_examples)
    for example in parsed_examples:
        assert not getattr(example.parsed, "options", {}), f"{page.name}: doctest option flags loosen the comparison"
        assert "at 0x" not in getattr(example.parsed, "want", ""), (
            f"{page.name}: a memory address is never reproducible"
        )
    unchecked = []
    for number, line in output_lines(text):
        parsed = [example.parsed for example, start in zip(parsed_examples, starts, strict=True) if start < number][-1]
        if line.strip() not in compared_lines(parsed):
            unchecked.append(f"line {number + 1}: {line.strip()!r}")
    assert not unchecked, f"{page.name}: these printed lines are compared with nothing:\n" + "\n".join(unchecked)


# Exercises: every chapter page ends with 2 to 4 exercises, each with its solution in a collapsed
# `??? success "Solution"` block. The code of a solution is indented inside the admonition; these
# tests make sure that Sybil runs it and compares what it prints, like every other example.
CHAPTERS_WITH_EXERCISES = [
    "simplified.md",
    "trainable.md",
    "scaling.md",
    "causal.md",
    "multihead.md",
    "gqa.md",
    "kv-cache.md",
    "positions.md",
    "transformer-block.md",
    "cross-attention.md",
    "pytorch.md",
    "trained.md",
    "blockwise.md",
    "backward.md",
]
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
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(match["indent"])
        ):
            end += 1
        blocks.append((first, end))
    return blocks


@pytest.mark.parametrize("name", CHAPTERS_WITH_EXERCISES)
def test_chapter_ends_with_exercises_and_solutions(name):
    text = (DOCS / name).read_text(encoding="utf-8")
    lines = text.split("\n")
    exercises = [
        n for n, line in enumerate(lines) if line == "## Exercises" or re.fullmatch(r"## .* \{ *#exercises *\}", line)
    ]
    assert exercises, f"{name} has no '## Exercises' section (in Chinese: '## 练习 {{ #exercises }}')"
    heading = exercises[0]
    later_headings = [n for n, line in enumerate(lines) if line.startswith("## ") and n > heading]
    assert later_headings == [], f"{name}: the exercises must be the last section"
    blocks = solution_blocks(text)
    assert 2 <= len(blocks) <= 4, f"{name} has {len(blocks)} solutions, expected 2 to 4"
    assert all(first > heading for first, _ in blocks), f"{name}: a solution before the exercises"


@pytest.mark.parametrize("name", CHAPTERS_WITH_EXERCISES)
def test_every_solution_prints_a_value_that_an_example_inside_it_compares(name):
    page = DOCS / name
    text = page.read_text(encoding="utf-8")
    by = printed_by(page, text)
    for first, end in solution_blocks(text):
        inside = [number for number in by if first < number < end and first < by[number]]
        assert inside, f"{name}: the solution on line {first + 1} prints nothing that an example inside it compares"


def run_copy(page: Path, text: str, folder: Path) -> list[int]:
    """Run ``text`` as Sybil runs the page ``page`` (its examples in order, in one namespace) and
    return the 0-based lines where the failing examples start."""
    copy = folder / page.name
    copy.write_text(text, encoding="utf-8")
    parsed = examples(copy)
    starts = start_lines(text, parsed)
    failing = []
    for example, start in zip(parsed, starts, strict=True):
        try:
            example.evaluate()
        except SybilFailure:
            failing.append(start)
    return failing


# A page that runs in about a second, with numbers and booleans printed in its prose examples and in
# solutions (indented inside `??? success` blocks).
END_TO_END = DOCS / "simplified.md"


def test_changed_printed_values_fail(tmp_path):
    """Every printed line of the page, changed by one digit (or a True/False flipped), at once:
    exactly the examples that print a changed line fail, those in solutions included."""
    text = END_TO_END.read_text(encoding="utf-8")
    assert run_copy(END_TO_END, text, tmp_path) == [], f"{page_id(END_TO_END)} fails as it is"
    lines = text.split("\n")
    by = printed_by(END_TO_END, text)
    changed = {number: line for number, line in output_lines(text) if re.search(r"\d|\b(True|False)\b", line)}
    for number, line in changed.items():
        lines[number] = mutate(line)
    expected = sorted({by[number] for number in changed})
    solutions = solution_blocks(text)
    assert any(first < start < end for start in expected for first, end in solutions), "no solution is changed"
    assert run_copy(END_TO_END, "\n".join(lines), tmp_path) == expected


def test_the_checks_see_a_page_that_is_not_compared(tmp_path):
    """The static check finds a printed line that no example compares (a line after a blank
    line ends doctest's expected output)."""
    page = tmp_path / "page.md"
    page.write_text("```python\n>>> 1 + 1\n2\n\n3\n```\n", encoding="utf-8")
    parsed = examples(page)
    text = page.read_text(encoding="utf-8")
    starts = start_lines(text, parsed)
    lines = dict(output_lines(text))
    assert set(lines) == {2, 4}
    assert [compared_lines(example.parsed) for example in parsed] == [["2"]]
    assert starts == [1]


@pytest.mark.parametrize("page", ["methods.md", "zh/methods.md"])
def test_the_tolerance_table_states_the_tolerances_the_tests_use(page):
    """docs/methods.md's table (both editions) lists each dtype of `TOLERANCES` once, with its tolerance."""
    from tests.conftest import TOLERANCES

    rows = re.findall(r"^\| `torch\.(\w+)` \| `([0-9.e-]+)` \|", (DOCS / page).read_text(encoding="utf-8"), re.M)
    stated = {name: float(tolerance) for name, tolerance in rows}
    assert len(rows) == len(stated)
    expected = {str(dtype).removeprefix("torch."): tolerance["atol"] for dtype, tolerance in TOLERANCES.items()}
    assert all(tolerance["atol"] == tolerance["rtol"] for tolerance in TOLERANCES.values())
    assert stated == expected
