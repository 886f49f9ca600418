"""The Chinese edition mirrors the English one: one page for every page, with the same code.

Every English page (Markdown and notebook) has a Chinese page at the same path under docs/zh/ and
the other way round (the glossary is the Chinese edition's own page). In each pair, the fenced
blocks (their info string, indentation and every line) and the notebook's code cells are identical,
so the Chinese page runs and prints exactly what the English one does; only prose is translated.
Headings keep the English page's ids, so that anchors and links agree in both editions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pages import fences

DOCS = Path(__file__).resolve().parent.parent / "docs"
ZH = DOCS / "zh"
ONLY_IN_CHINESE = {"glossary.md"}


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


def test_every_english_page_has_a_chinese_page():
    missing = [name for name in ENGLISH if name not in CHINESE]
    assert missing == [], f"English pages without a Chinese page in docs/zh/: {missing}"


def test_every_chinese_page_has_an_english_page():
    extra = sorted(CHINESE - set(ENGLISH) - ONLY_IN_CHINESE)
    assert extra == [], f"Chinese pages without an English page: {extra}"


def code_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    return [f"{indent}```{info}\n" + "\n".join(line for _, line in body) for info, indent, body in fences(text)]


@pytest.mark.parametrize("name", [name for name in ENGLISH if (ZH / name).exists()])
def test_code_is_identical_in_both_editions(name):
    english, chinese = code_blocks(DOCS / name), code_blocks(ZH / name)
    assert english, f"{name} has no code block"
    for number, (en, zh) in enumerate(zip(english, chinese, strict=False), start=1):
        assert zh == en, f"{name}: code block {number} differs between docs/{name} and docs/zh/{name}"
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
