"""The pages as the tests read them: where they are, their fenced blocks, and how Sybil parses them.

One fence parser for every test that reads a page (`fences`), and the one Sybil configuration that
runs the examples (`PARSERS`, used by the root conftest.py): every ```python block is a doctest
session, compared with doctest's option flags at 0, so a page's expected output must equal what
its code prints, character for character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from sybil import Document, Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ZH = DOCS / "zh"

# No option flags: no NUMBER, ELLIPSIS or NORMALIZE_WHITESPACE to loosen a comparison.
DOCTEST_OPTIONFLAGS = 0
# No SkipParser: no example on the site can be skipped, so none can go stale.
PARSERS = [PythonCodeBlockParser(doctest_optionflags=DOCTEST_OPTIONFLAGS)]
# What the root conftest.py hands to pytest: the English pages. The Chinese pages' blocks are the
# English pages' blocks, line for line (tests/test_zh_pages.py), so they are not run twice.
DOCS_SYBIL = Sybil(parsers=PARSERS, path=str(DOCS), patterns=["*.md"], excludes=["zh/*"], name="docs")
# The README's example of the package, run as a reader would paste it.
README_SYBIL = Sybil(parsers=PARSERS, path=str(ROOT), patterns=["README.md"], name="readme")

PAGES = sorted(DOCS.rglob("*.md"))
ENGLISH_PAGES = [page for page in PAGES if page.relative_to(DOCS).parts[0] != "zh"]
NOTEBOOKS = [DOCS / "notebooks" / "walkthrough.ipynb", ZH / "notebooks" / "walkthrough.ipynb"]

FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+|~~~+)(?P<info>.*)$")
Line = tuple[int, str]


def fences(text: str) -> Iterator[tuple[str, str, list[Line]]]:
    """Every fenced block of a Markdown text: (info string, indentation, [(0-based line, line), ...])."""
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


def output_lines(text: str) -> Iterator[Line]:
    """(0-based line, line) of every line that a ```python block shows as printed output."""
    for info, indent, body in fences(text):
        if info != "python":
            continue
        for number, line in body:
            stripped = line[len(indent) :]
            if stripped.strip() and not stripped.startswith((">>>", "...")):
                yield number, line


def examples(path: Path) -> list:
    """The examples Sybil collects from a page, in page order."""
    return list(Document.parse(str(path), *PARSERS))


def start_lines(text: str, parsed: list) -> list[int]:
    """The 0-based line on which each example starts. Inside an indented fence (a solution in a
    ``??? success`` admonition) Sybil's offsets drift towards the start of the block, because it
    parses the dedented text; so each doctest example is looked up by its first line of source,
    at or after where Sybil puts it."""
    lines = text.split("\n")
    starts: list[int] = []
    for example in parsed:
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


def english_twin(path: Path) -> Path | None:
    """The English page of a Chinese page (docs/zh/NAME.md -> docs/NAME.md); None for any other page."""
    relative = path.resolve().relative_to(DOCS.resolve())
    if relative.parts[0] != "zh" or not (DOCS / Path(*relative.parts[1:])).is_file():
        return None
    return DOCS / Path(*relative.parts[1:])


def mutate(line: str) -> str:
    """The line with its first digit changed or, if it has none, its first True/False flipped."""
    match = re.search(r"\d", line)
    if match is not None:
        return line[: match.start()] + str((int(match.group()) + 1) % 10) + line[match.end() :]
    flag = re.search(r"\b(True|False)\b", line)
    assert flag is not None, line
    flipped = "False" if flag.group() == "True" else "True"
    return line[: flag.start()] + flipped + line[flag.end() :]
