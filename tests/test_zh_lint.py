"""The Chinese edition's typography, checked on what the reader sees.

Two checks of every page in docs/zh/ and of the Chinese notebook's Markdown cells:

1. No line break inside a Chinese paragraph. Markdown joins the lines of a paragraph with the line
   break kept in the HTML, and browsers (Chrome, Safari) draw that break as a space: 「加权平均，⏎而权重」
   is shown as 「加权平均， 而权重」. A paragraph is one line.
2. No straight double quote `"` and no corner bracket 「」 in Chinese prose: Chinese text quotes with
   “” (and single curly quotes inside them). Straight quotes in code, in link targets and in HTML attributes are code.

Both read the HTML that Python-Markdown makes of the page with the site's own Markdown extensions
(those of mkdocs.yml), so what counts as a paragraph, a code block, a table or maths is what the
site's Markdown decides, not a guess made here. The code blocks' comments are checked by
tests/test_zh_pages.py.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import markdown
import pytest
import yaml

from tests.pages import ROOT, ZH

# Han characters, CJK punctuation (、。「」…), full-width forms (，：（）…) and the curly quotes that
# Chinese text quotes with. A line break or a straight quote next to one of these is in Chinese prose.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\u201c\u201d\u2018\u2019]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Elements whose text flows on one line with the text around them; every other element starts or ends
# a block, and a line break next to a block's edge is not drawn.
INLINE = {"a", "abbr", "b", "cite", "code", "del", "em", "i", "ins", "kbd", "mark", "q", "s", "samp", "small"}
INLINE |= {"span", "strong", "sub", "sup", "u", "var", "img"}
# Elements whose text is not prose: preformatted code, scripts, and (by class) rendered maths.
SKIPPED = {"pre", "script", "style", "svg", "math"}
MATHS_CLASS = "arithmatex"
# Elements without content: a <br> or <hr> ends a line of text.
VOID = ("br", "hr", "input", "meta", "link", "wbr")


class _EnvTag(yaml.SafeLoader):
    """A safe YAML loader that reads MkDocs' ``!ENV [NAME, default]`` tags (site and repository URLs) as None:
    only the Markdown extensions are needed here."""


_EnvTag.add_constructor("!ENV", lambda loader, node: None)


def markdown_for_the_site() -> markdown.Markdown:
    """Python-Markdown with the extensions and extension settings of mkdocs.yml (which mkdocs.zh.yml inherits)."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_EnvTag)
    names: list[str] = []
    settings: dict[str, dict[str, Any]] = {}
    for entry in config["markdown_extensions"]:
        if isinstance(entry, dict):
            ((name, options),) = entry.items()
            names.append(name)
            settings[name] = options or {}
        else:
            names.append(entry)
    return markdown.Markdown(extensions=names, extension_configs=settings)


MARKDOWN = markdown_for_the_site()


@dataclass
class Block:
    """The text of one block of rendered HTML (a paragraph, a list item's text, a table cell...): ``text``
    as the reader sees it joined, and ``prose``, one flag per character, False for code and maths."""

    text: str = ""
    prose: list[bool] = field(default_factory=list)

    def add(self, text: str, *, prose: bool) -> None:
        self.text += text
        self.prose += [prose] * len(text)


class _Blocks(HTMLParser):
    """Splits rendered HTML into blocks of inline text, leaving out preformatted code and maths."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = [Block()]
        self.skipping = 0  # depth inside a skipped element
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skipped, is <code>) of every open element

    def _in_code(self) -> bool:
        return any(code for _, _, code in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        skipped = tag in SKIPPED or MATHS_CLASS in classes
        if tag == "img":
            alt = dict(attrs).get("alt") or ""
            self.blocks.append(Block())
            self.blocks[-1].add(alt, prose=True)  # alt text is read aloud: prose, a block of its own
            self.blocks.append(Block())
            return
        if tag in VOID:
            self.blocks.append(Block())
            return
        if tag not in INLINE and not skipped:
            self.blocks.append(Block())
        if skipped:
            if self.skipping == 0 and tag not in ("pre", "script", "style"):
                self.blocks[-1].add("\u2211", prose=False)  # maths reads as one non-CJK symbol in the line
            self.skipping += 1
        self.stack.append((tag, skipped, tag == "code"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag != "img" and tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not any(open_tag == tag for open_tag, _, _ in self.stack):
            return
        while self.stack:
            open_tag, skipped, _ = self.stack.pop()
            if skipped:
                self.skipping -= 1
            if open_tag == tag:
                break
        if tag not in INLINE and self.skipping == 0:
            self.blocks.append(Block())

    def handle_data(self, data: str) -> None:
        if self.skipping == 0:
            self.blocks[-1].add(data, prose=not self._in_code())


@functools.cache
def blocks(text: str) -> list[Block]:
    """The blocks of inline text of a Markdown text, rendered as the site renders it (once per text: both
    checks read every page)."""
    MARKDOWN.reset()
    parser = _Blocks()
    parser.feed(MARKDOWN.convert(text))
    parser.close()
    return [block for block in parser.blocks if block.text.strip()]


def _context(text: str, start: int, end: int) -> str:
    return (text[max(0, start - 12) : start] + "\u23ce" + text[end : end + 12]).replace("\n", " ")


def line_breaks(text: str) -> list[str]:
    """The line breaks inside a paragraph (or any block of inline text) next to a Chinese character, each as
    「…before⏎after…」. The spaces around a break collapse with it, so the characters compared are the
    nearest ones that are not white space."""
    found = []
    for block in blocks(text):
        for match in re.finditer(r"\s*\n\s*", block.text):
            before = block.text[match.start() - 1] if match.start() > 0 else ""
            after = block.text[match.end()] if match.end() < len(block.text) else ""
            # A break at the edge of a block (after a <br>, before a nested list) collapses into nothing.
            if before and after and (CJK.match(before) or CJK.match(after)):
                found.append(_context(block.text, match.start(), match.end()))
    return found


def straight_quotes(text: str) -> list[str]:
    """The quotation marks that Chinese prose does not use: a straight ``"`` outside code and maths in a block
    with Han characters, or whose nearest character that is not white space, on either side, is a Chinese
    one; and the corner brackets 「」『』 anywhere in prose (this site quotes with \u201c\u201d)."""
    found = []
    for block in blocks(text):
        chinese = HAN.search(block.text) is not None
        for match in re.finditer('["\u300c\u300d\u300e\u300f]', block.text):
            if not block.prose[match.start()]:
                continue
            before = block.text[: match.start()].rstrip()[-1:]
            after = block.text[match.end() :].lstrip()[:1]
            corner = match.group() != '"'
            if corner or chinese or (before and CJK.match(before)) or (after and CJK.match(after)):
                found.append(block.text[max(0, match.start() - 12) : match.end() + 12].replace("\n", " "))
    return found


def page_texts() -> list[tuple[str, str]]:
    """(name, Markdown) of every Chinese page and of the Chinese notebook's Markdown cells, one cell a text."""
    texts = [(p.relative_to(ZH).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(ZH.rglob("*.md"))]
    for notebook in sorted(ZH.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells, start=1):
            if cell["cell_type"] == "markdown":
                texts.append((f"{notebook.relative_to(ZH).as_posix()}, cell {number}", "".join(cell["source"])))
    return texts


PAGE_TEXTS = page_texts()
PAGE_IDS = [name for name, _ in PAGE_TEXTS]


# --- the checks, on a bad example first ---------------------------------------------------------------


def test_the_line_break_check_finds_breaks_in_chinese_paragraphs_only():
    (found,) = line_breaks("每个向量都被替换为加权平均，\n而权重由这些向量本身算出。\n")
    assert "加权平均，\u23ce而权重" in found
    assert line_breaks("用 PyTorch 一个公式\n`scaled_dot_product_attention` 的约定。") != []  # Han before the break
    assert line_breaks("1. 第一项，\n   续行。\n2. 第二项\n") != []  # a list item's continuation line
    assert line_breaks('!!! note "注意"\n    提示的正文，\n    第二行。\n') != []  # inside an admonition
    assert line_breaks("在 **粗体**\n之后。") != []  # across an inline element
    assert line_breaks("变化：\n\\(x = 0\\)。") != []  # before inline maths
    # Breaks Markdown does not draw as a space inside a line of text, or not next to Chinese.
    assert line_breaks("第一段。\n\n第二段。\n") == []
    assert line_breaks("## 标题\n正文。\n") == []
    assert line_breaks("- 第一项\n- 第二项\n") == []
    assert line_breaks("| 列 | 列 |\n|---|---|\n| 中 | 文 |\n") == []
    assert line_breaks("第一行。  \n硬换行之后。\n") == []  # two trailing spaces: a <br>
    assert line_breaks("```python\n>>> x = 1  # 中文\n>>> y = 2  # 注释\n```\n") == []
    assert line_breaks("An English\nparagraph.\n") == []
    assert line_breaks("公式：\n\n\\[\n\\text{中}\n\\]\n") == []


def test_the_quote_check_finds_straight_quotes_in_chinese_prose_only():
    assert straight_quotes('对 "Your journey" 做') != []
    assert straight_quotes('文章"图解自注意力"。') != []
    assert straight_quotes('!["Your" 的热图](map.svg)') != []  # alt text is prose too
    assert straight_quotes('用 `figure.savefig("map.svg")` 保存') == []  # inline code
    assert straight_quotes('```python\n>>> "中文"\n```\n') == []
    assert straight_quotes('??? success "答案"\n    正文。\n') == []  # the title's quotes are syntax
    assert straight_quotes('[链接](https://example.com/"x")') == []
    assert straight_quotes('An "English" sentence.') == []
    assert straight_quotes('原始论文 Vaswani et al., "Attention Is All You Need", 2017。') != []
    assert straight_quotes("文章\u201c图解自注意力\u201d。") == []
    assert straight_quotes("文章\u300c图解自注意力\u300d。") != []


# --- the pages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", PAGE_TEXTS, ids=PAGE_IDS)
def test_no_line_break_inside_a_chinese_paragraph(name, text):
    found = line_breaks(text)
    assert found == [], (
        f"zh/{name}: a line break inside a paragraph shows as a space between Chinese characters; "
        "write each paragraph on one line:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("name, text", PAGE_TEXTS, ids=PAGE_IDS)
def test_chinese_prose_quotes_with_chinese_quotation_marks(name, text):
    found = straight_quotes(text)
    assert found == [], (
        f'zh/{name}: straight quotes " or corner brackets \u300c\u300d in Chinese prose; '
        "write \u201c\u201d (and \u2018\u2019 inside them):\n" + "\n".join(found)
    )
