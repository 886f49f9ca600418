"""The Chinese edition mirrors the English one: one page for every page, with the same code.

Every English page (Markdown and notebook) has a Chinese page at the same path under docs/zh/ and
the other way round. In each pair, the fenced
blocks (their info string, indentation and every line) and the notebook's code cells are identical
once their comments are removed, so the Chinese page runs and prints exactly what the English one
does: the code and every printed line are compared character for character, and only the prose and
the code comments are written in Chinese. Comments are found as Python finds them (its tokenizer, on
the source of each ``>>>`` example and of each notebook cell: a ``#`` inside a string is code), and
in a shell block as the shell does. A comment on a Chinese page is written in Chinese: one with no
Han character may only name code, such as ``# (batch, seq_len, d)``.
Headings keep the English page's ids, so that anchors and links agree in both editions.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pages import fences, mutate

DOCS = Path(__file__).resolve().parent.parent / "docs"
ZH = DOCS / "zh"
ONLY_IN_CHINESE: set[str] = set()
# The glossaries are tables of terms, in both editions: the only pages without code.
WITHOUT_CODE = {"glossary.md"}


def sources(root: Path, *, skip_zh: bool) -> set[str]:
    found = set()
    for pattern in ("*.md", "*.ipynb"):
        for path in root.rglob(pattern):
            relative = path.relative_to(root)
            if (skip_zh and relative.parts[0] == "zh") or ".ipynb_checkpoints" in relative.parts:
                continue
            found.add(relative.as_posix())
    return found


ENGLISH = sorted(sources(DOCS, skip_zh=True))
CHINESE = sources(ZH, skip_zh=False)
CHINESE_FILES = [ZH / name for name in sorted(CHINESE)]
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def test_every_english_page_has_a_chinese_page():
    missing = [name for name in ENGLISH if name not in CHINESE]
    assert missing == [], f"English pages without a Chinese page in docs/zh/: {missing}"


def test_every_chinese_page_has_an_english_page():
    extra = sorted(CHINESE - set(ENGLISH) - ONLY_IN_CHINESE)
    assert extra == [], f"Chinese pages without an English page: {extra}"


# --- code comments -----------------------------------------------------------------------------------

PROMPT = re.compile(r"^(?P<indent> *)(?P<prompt>>>> |\.\.\. |>>>$|\.\.\.$)")
# Pragmas that tools read: they stay as they are.
PRAGMA = re.compile(r"^#\s*(noqa|type:|doctest:|pragma|fmt:)")


def python_comments(source: str) -> list[tuple[int, int]]:
    """(0-based line, column) of every comment in Python ``source``, by Python's tokenizer, so that a ``#``
    inside a string is not a comment. Source that does not tokenize (an example that shows a syntax error)
    has no comments: it is compared with its ``#`` as written."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    return [(token.start[0] - 1, token.start[1]) for token in tokens if token.type == tokenize.COMMENT]


def shell_comment(line: str) -> int | None:
    """The column of a shell comment on ``line``: a ``#`` that starts a word outside quotes."""
    quote = ""
    for column, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (column == 0 or line[column - 1] in " \t"):
            return column
    return None


@dataclass
class CodeLine:
    """One line of a code block: ``code`` with its comment removed (and the spaces before it), ``comment``."""

    code: str
    comment: str


def split_doctest(lines: list[str], indent: str) -> list[CodeLine]:
    """The lines of a ```python block (a doctest session): prompts' source, comments split off by the
    tokenizer, example by example; printed output lines kept whole."""
    result = [CodeLine(line, "") for line in lines]
    example: list[int] = []

    def flush() -> None:
        if not example:
            return
        sources = [PROMPT.sub("", lines[i][len(indent) :], count=1) if lines[i].strip() else "" for i in example]
        for row, column in python_comments("\n".join(sources) + "\n"):
            i = example[row]
            prefix = len(lines[i]) - len(sources[row])
            result[i] = CodeLine(lines[i][: prefix + column].rstrip(), lines[i][prefix + column :])
        example.clear()

    for number, line in enumerate(lines):
        stripped = line[len(indent) :] if line.startswith(indent) else line
        if stripped.startswith(">>>"):
            flush()
            example.append(number)
        elif stripped.startswith("...") and example:
            example.append(number)
        else:
            flush()
    flush()
    return result


def split_code(info: str, lines: list[str], indent: str = "") -> list[CodeLine]:
    """A code block's lines split into code and comment: a ```python block as a doctest session, a
    notebook cell (info ``"cell"``) as Python, a shell block by the shell's rule; any other block keeps
    its lines whole."""
    if info == "python":
        return split_doctest(lines, indent)
    if info == "cell":
        result = [CodeLine(line, "") for line in lines]
        for row, column in python_comments("\n".join(lines) + "\n"):
            result[row] = CodeLine(lines[row][:column].rstrip(), lines[row][column:])
        return result
    if info in ("bash", "sh", "shell", "console"):
        result = []
        for line in lines:
            column = shell_comment(line)
            result.append(CodeLine(line, "") if column is None else CodeLine(line[:column].rstrip(), line[column:]))
        return result
    return [CodeLine(line, "") for line in lines]


def without_comments(info: str, lines: list[str], indent: str = "") -> list[str]:
    """The block's lines with their comments removed; a pragma (``# noqa``, ``# doctest: ...``) is code."""
    split = split_code(info, lines, indent)
    return [whole if PRAGMA.match(line.comment) else line.code for whole, line in zip(lines, split, strict=True)]


# A comment without Han characters may only name code: identifiers (``seq_len``, ``x^1``), numbers,
# shapes and tuples in brackets, operators, units (GiB), a quoted token. A word that remains after these
# are taken out (a letter and lower-case letters: "tokens", "Your") is prose.
CODE_ONLY = [
    re.compile(r"`[^`]*`"),  # inline code
    re.compile("\u201c[^\u201d]*\u201d"),  # a token of the example, quoted: \u201cYour\u201d
    re.compile(r"\([^()]*\)|\[[^\[\]]*\]"),  # a shape or a tuple
    re.compile(r"\b[A-Za-z_][A-Za-z0-9_.]*(?:[_0-9.^][A-Za-z0-9_.^]*)\b"),  # identifiers with _ . digits ^
    re.compile(r"\b[A-Za-z]\b"),  # one-letter names: S, P, O, d
]


def english_comment(comment: str) -> bool:
    """Whether a code comment is written in English: it has no Han character but has a word of prose."""
    if HAN.search(comment) or PRAGMA.match(comment):
        return False
    text = comment.lstrip("#")
    for pattern in CODE_ONLY:
        for _ in range(3):  # nested brackets, innermost first
            text = pattern.sub(" ", text)
    return re.search(r"\b[A-Za-z][a-z]+\b", text) is not None


def comments(path: Path) -> list[tuple[str, str]]:
    """(where, comment) of every comment in the code of a Chinese page or notebook."""
    found = []
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = [cell for cell in json.loads(text)["cells"] if cell["cell_type"] == "code"]
        for number, cell in enumerate(cells, start=1):
            for line in split_code("cell", "".join(cell["source"]).split("\n")):
                if line.comment:
                    found.append((f"code cell {number}", line.comment))
        return found
    for info, indent, body in fences(text):
        split = split_code(info, [line for _, line in body], indent)
        for (number, _), line in zip(body, split, strict=True):
            if line.comment:
                found.append((f"line {number + 1}", line.comment))
    return found


def code_blocks(path: Path) -> list[tuple[str, list[str]]]:
    """(header, lines without comments) of every fenced block of a page or code cell of a notebook; a
    block's header is its fence line (info string and indentation), a cell's is ``"cell"``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
        return [("cell", without_comments("cell", source.split("\n"))) for source in sources]
    return [
        (f"{indent}```{info}", without_comments(info, [line for _, line in body], indent))
        for info, indent, body in fences(text)
    ]


def first_difference(english: tuple[str, list[str]], chinese: tuple[str, list[str]]) -> str:
    """Where two blocks (header, lines without comments) first differ, as two lines to compare."""
    english_lines, chinese_lines = [english[0], *english[1]], [chinese[0], *chinese[1]]
    for number, (en, zh) in enumerate(zip(english_lines, chinese_lines, strict=False)):
        if en != zh:
            return f"line {number} of the block:\n  English: {en!r}\n  Chinese: {zh!r}"
    return f"{len(english_lines) - 1} lines in English, {len(chinese_lines) - 1} in Chinese"


@pytest.mark.parametrize("name", [name for name in ENGLISH if (ZH / name).exists() and name not in WITHOUT_CODE])
def test_code_is_identical_in_both_editions(name):
    english, chinese = code_blocks(DOCS / name), code_blocks(ZH / name)
    assert english, f"{name} has no code block"
    for number, (en, zh) in enumerate(zip(english, chinese, strict=False), start=1):
        assert zh == en, (
            f"{name}: code block {number} differs between docs/{name} and docs/zh/{name} (comments aside), "
            + first_difference(en, zh)
        )
    assert len(chinese) == len(english), f"{name}: {len(english)} code blocks in English, {len(chinese)} in Chinese"


HEADING = re.compile(r"^(#{1,6}) (.*?)(?: \{(?P<attrs>[^}]*)\})?$")


def slug(title: str) -> str:
    """Python-Markdown's toc slug (with its defaults) of an English heading."""
    text = re.sub(r"\\\((.*?)\\\)", r"\1", title)
    text = re.sub(r"[^\w\s-]", "", text.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def heading_ids(path: Path, *, english: bool) -> list[str]:
    ids = []
    in_code = {number for _, _, body in fences(path.read_text(encoding="utf-8")) for number, _ in body}
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n")):
        match = HEADING.match(line)
        if not match or number in in_code:
            continue
        explicit = re.search(r"#([\w-]+)", match["attrs"] or "")
        ids.append(explicit.group(1) if explicit else slug(match.group(2)) if english else "")
    return ids


@pytest.mark.parametrize("name", [n for n in ENGLISH if n.endswith(".md") and (ZH / n).exists()])
def test_headings_keep_the_english_ids(name):
    """Level-2 and deeper headings: same order, same ids, so `page.md#anchor` links work in both."""
    english = heading_ids(DOCS / name, english=True)[1:]
    chinese = heading_ids(ZH / name, english=False)[1:]
    assert chinese == english, f"{name}: heading ids differ from the English page's"


def test_comments_are_found_by_the_tokenizer_not_by_hash_signs():
    lines = ['>>> x = "#1"  # a comment', "... y = 2", '"#1"', ">>> z = 3  # 注释"]
    assert without_comments("python", lines) == ['>>> x = "#1"', "... y = 2", '"#1"', ">>> z = 3"]
    assert [line.comment for line in split_code("python", lines)] == ["# a comment", "", "", "# 注释"]
    cell = ["s = '''", "# not a comment", "'''  # a comment"]
    assert without_comments("cell", cell) == ["s = '''", "# not a comment", "'''"]
    assert without_comments("bash", ["make test    # run them", "echo '#' x"]) == ["make test", "echo '#' x"]
    assert without_comments("python", [">>> f(x)  # doctest: +SKIP"]) == [">>> f(x)  # doctest: +SKIP"]
    indented = ["    >>> x = 1  # one", "    1"]
    assert without_comments("python", indented, "    ") == ["    >>> x = 1", "    1"]


def test_a_changed_line_of_code_or_output_is_seen_and_a_changed_comment_is_not(tmp_path):
    """On a copy of a Chinese page: every line of its code blocks with a digit, changed by one digit, makes
    its block differ from the English page's; rewriting every comment changes nothing."""
    name = "simplified.md"
    english = code_blocks(DOCS / name)
    lines = (ZH / name).read_text(encoding="utf-8").split("\n")
    copy = tmp_path / name
    changed = 0
    for _, indent, body in fences("\n".join(lines)):
        for (number, _), split in zip(body, split_code("python", [line for _, line in body], indent), strict=True):
            if split.comment:
                lines[number] = split.code + "  # 注释已改写"
            if re.search(r"\d", split.code):
                before = lines[number]
                lines[number] = mutate(before)
                copy.write_text("\n".join(lines), encoding="utf-8")
                assert code_blocks(copy) != english, f"line {number + 1} changed, but the comparison sees no change"
                lines[number] = before
                changed += 1
    copy.write_text("\n".join(lines), encoding="utf-8")
    assert changed > 50 and code_blocks(copy) == english


def test_the_comment_check_finds_english_and_spares_shapes():
    assert english_comment("# one context vector per token")
    assert english_comment("# (batch, 4 queries, d) of the decoder")
    assert english_comment("# tokens per second")
    assert not english_comment("# 每个词元一个上下文向量")
    assert not english_comment("# (batch, seq_len, d)")
    assert not english_comment("# (batch, num_heads, seq_len, head_dim)")
    assert not english_comment("# (4, 6, 2)")
    assert not english_comment("# S")
    assert not english_comment("# dO = G")
    assert not english_comment("# noqa: E501")
    assert not english_comment("# \u201cYour\u201d (x^1)") and english_comment("# Your (x^1)")
    assert not english_comment("# GiB")


@pytest.mark.parametrize("path", CHINESE_FILES, ids=lambda p: p.relative_to(ZH).as_posix())
def test_code_comments_are_written_in_chinese(path):
    english = [f"{where}: {comment}" for where, comment in comments(path) if english_comment(comment)]
    assert english == [], f"zh/{path.relative_to(ZH).as_posix()}: code comments in English:\n" + "\n".join(english)
