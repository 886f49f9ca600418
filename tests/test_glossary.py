"""The Chinese edition's terms: one word for each concept, the glossary's.

docs/zh/glossary.md holds two tables: the terms (English, 中文, meaning, where introduced) and the
variants that must not be written ("不要写成"). This test reads both from the page itself, so the page
is the single source, and checks the prose of every Chinese page and of the Chinese notebook's
Markdown cells (code, inline code, maths and link targets removed) for a variant.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pages import fences

ZH = Path(__file__).resolve().parent.parent / "docs" / "zh"
GLOSSARY = ZH / "glossary.md"
# The terms of 动手学深度学习 and the newer ones that the issue names: the glossary must list them.
REQUIRED = [
    "查询",
    "键",
    "值",
    "注意力分数",
    "注意力权重",
    "缩放点积注意力",
    "多头注意力",
    "掩蔽",
    "自注意力",
    "位置编码",
    "因果掩码",
    "交叉注意力",
    "旋转位置编码",
    "KV 缓存",
    "多查询注意力",
    "分组查询注意力",
]


def table_under(text: str, anchor: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after the heading with id `anchor`."""
    lines = text.split("\n")
    start = next(n for n, line in enumerate(lines) if line.startswith("#") and f"#{anchor} " in line + " ")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert len(rows) > 2 and set(rows[1][0]) <= set("-: "), f"no table under #{anchor}"
    return rows[2:]


def terms() -> list[dict[str, str]]:
    rows = table_under(GLOSSARY.read_text(encoding="utf-8"), "terms")
    return [dict(zip(["english", "chinese", "meaning", "introduced"], row, strict=True)) for row in rows]


def variants() -> dict[str, list[str]]:
    """Each glossary term -> the variants that must not be written instead."""
    rows = table_under(GLOSSARY.read_text(encoding="utf-8"), "variants")
    return {term: [v.strip() for v in re.split(r"[、,，]", never) if v.strip()] for term, never, _ in rows}


def prose(text: str) -> str:
    """Markdown without fenced code, inline code, maths, link targets and HTML comments."""
    lines = text.split("\n")
    for _, _, body in fences(text):
        for number, _ in body:
            lines[number] = ""
    text = "\n".join(line for line in lines if not re.match(r"^ *(```|~~~)", line))
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]|\$[^$\n]*\$", "", text, flags=re.S)
    return re.sub(r"\]\([^)]*\)|\]\[[^\]]*\]", "]", text)


def chinese_texts() -> list[tuple[str, str]]:
    texts = [(str(p.relative_to(ZH)), p.read_text(encoding="utf-8")) for p in sorted(ZH.rglob("*.md")) if p != GLOSSARY]
    for notebook in sorted(ZH.rglob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        markdown = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        texts.append((str(notebook.relative_to(ZH)), markdown))
    return texts


def offences(text: str) -> list[str]:
    """The variants that the prose uses. A variant inside a longer glossary term does not count
    (组查询注意力 inside 分组查询注意力), nor does one inside a quotation “…”: a quoted author's own
    word (the tutorial's “使用点乘来处理”) stays as it was written."""
    text = re.sub(r"“[^”\n]*”", "", prose(text))
    all_terms = {row["chinese"].split("（")[0] for row in terms()} | set(variants())
    found = []
    for term, never in variants().items():
        for variant in never:
            masked = text
            for longer in sorted((t for t in all_terms if variant in t and t != variant), key=len, reverse=True):
                masked = masked.replace(longer, "\0")
            for match in re.finditer(re.escape(variant), masked):
                context = masked[max(0, match.start() - 12) : match.end() + 12].replace("\n", " ")
                found.append(f"{variant!r} (write {term!r}): …{context}…")
    return found


def test_glossary_lists_the_key_terms_with_meaning_and_page():
    rows = terms()
    chinese = {row["chinese"] for row in rows}
    assert [t for t in REQUIRED if t not in chinese] == []
    for row in rows:
        assert row["english"] and row["meaning"], row
        page = re.fullmatch(r"\[[^\]]+\]\(([^)#]+)(#[^)]*)?\)", row["introduced"])
        assert page and (ZH.parent / page.group(1)).exists(), f"{row['chinese']}: no link to an existing page"


ENGLISH_GLOSSARY = ZH.parent / "glossary.md"


def test_english_glossary_has_the_same_terms_and_pages() -> None:
    """docs/glossary.md, the English edition's glossary, lists the Chinese glossary's terms in the same
    order, each with a meaning and a link to the same page; a term added to one goes into both."""
    rows = table_under(ENGLISH_GLOSSARY.read_text(encoding="utf-8"), "terms")
    english = [dict(zip(["english", "meaning", "introduced"], row, strict=True)) for row in rows]
    assert [row["english"] for row in english] == [row["english"] for row in terms()]

    def page(cell: str) -> str:
        link = re.fullmatch(r"\[[^\]]+\]\(([^)#]+)(#[^)]*)?\)", cell)
        assert link, f"{cell!r} is not a link to a page"
        return link.group(1)

    assert [page(row["introduced"]) for row in english] == [page(row["introduced"]) for row in terms()]
    assert all(row["meaning"] for row in english)


def test_every_variant_belongs_to_a_glossary_term():
    chinese = {row["chinese"].split("（")[0] for row in terms()}
    assert set(variants()) <= chinese | {"暂退法"}
    for term, never in variants().items():
        assert term not in never


def test_the_check_finds_a_variant_and_spares_longer_terms() -> None:
    assert offences("这里的注意力得分很大。") != []
    assert offences("分组查询注意力和多查询注意力。") == []
    assert offences("位置编码器") != [] and offences("位置编码") == []
    assert offences("`KV cache` 与 KV 缓存") == [] and offences("the KV cache") != []
    assert offences("```python\n>>> 点乘\n```\n") == []
    assert offences("用点乘计算") != [] and offences("原教程写道“使用点乘来处理”。") == []  # a quotation
    assert offences("旋转式位置编码和键值缓存") == []  # accepted synonyms
    assert offences("被注意的词元") != [] and offences("请注意到这一点") == []
    assert offences("头大小为 8") != [] and offences("模型的宽度") != []


@pytest.mark.parametrize("name, text", chinese_texts(), ids=lambda v: v if v.endswith((".md", ".ipynb")) else "")
def test_chinese_page_uses_the_glossary_terms(name, text):
    found = offences(text)
    assert found == [], f"zh/{name} uses variants that the glossary rules out:\n" + "\n".join(found)


# Terms whose first use needs no English in parentheses: those written with English already
# (softmax, KV 缓存, 在线 softmax), the one-character terms that also occur inside everyday words
# (值 in 最大值, 头 in 开头, 块 in 分块), and the everyday words 关注 and 维度. The glossary page says so.
NO_FIRST_USE_CHECK = {"值", "头", "注意力头", "块", "关注", "维度"}
# Everyday words that contain a glossary term without being a use of it.
NOT_A_USE = ["关键", "键盘", "按键"]
# How far after a term its English may come: "查询、键和值（query、key 和 value）" names all three.
WINDOW = 24


def english_forms(english: str) -> list[str]:
    """The ways the English of a glossary row may be written: "query / queries" gives both,
    "rotary position embedding (RoPE)" gives the name and the abbreviation."""
    forms = []
    for form in english.split("/"):
        name, _, abbreviation = form.partition("(")
        forms += [name.strip(), abbreviation.rstrip(") ").strip()]
    return [form.lower() for form in forms if form]


def checked_terms() -> list[tuple[str, list[str]]]:
    """(Chinese term, its English forms) for every term whose first use on a page must name the English."""
    checked = []
    for row in terms():
        for chinese in row["chinese"].split("/"):
            chinese = chinese.split("（")[0].strip()
            if chinese in NO_FIRST_USE_CHECK or re.search(r"[A-Za-z]", chinese):
                continue
            checked.append((chinese, english_forms(row["english"])))
    return checked


def running_text(text: str) -> str:
    """`text` with everything that is not running prose blanked out, character for character (so that
    a position in it is a position in `text`): fenced code, inline code, maths, HTML comments, link
    targets and link texts, headings, images, admonition titles, and quotations “…” and titles 《…》,
    which are other authors' words."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", "\0", match.group())

    lines = text.split("\n")
    for _, _, body in fences(text):
        for number, line in body:
            lines[number] = "\0" * len(line)
    lines = ["\0" * len(line) if re.match(r"^ *(```|~~~|#|!\[|!!!|\?\?\?)", line) else line for line in lines]
    text = "\n".join(lines)
    for pattern in [
        r"<!--.*?-->",
        r"`[^`\n]*`",
        r"\\\(.*?\\\)|\\\[.*?\\\]|\$[^$\n]*\$",
        r"\[[^\]\n]*\](\([^)\n]*\)|\[[^\]\n]*\])?",
        r"“[^”\n]*”|《[^》\n]*》",
        "|".join(NOT_A_USE),
    ]:
        text = re.sub(pattern, blank, text, flags=re.S)
    return text


def unnamed_first_uses(text: str) -> list[tuple[int, str, str]]:
    """(position, term, English) of each glossary term whose first use in `text` is not followed,
    within the same clause, by a parenthesis （…） naming the English term. A use inside a longer
    glossary term is not a use (查询 in 分组查询注意力)."""
    text = running_text(text)
    everything = {row["chinese"].split("（")[0] for row in terms()} | {c for c, _ in checked_terms()}
    found = []
    for term, english in checked_terms():
        masked = text
        for longer in sorted((t for t in everything if term in t and t != term), key=len, reverse=True):
            masked = masked.replace(longer, "\0" * len(longer))
        first = masked.find(term)
        if first < 0:
            continue
        after = re.split(r"[。；！？\n]", text[first + len(term) :], maxsplit=1)[0]
        parenthesis = re.search(r"（([^）]*)）", after)
        if not (
            parenthesis is not None
            and parenthesis.start() <= WINDOW
            and any(form in parenthesis.group(1).lower() for form in english)
        ):
            found.append((first, term, english[0]))
    return sorted(found)


def test_the_first_use_check_wants_the_english_once() -> None:
    def unnamed(text: str) -> list[str]:
        return [term for _, term, _ in unnamed_first_uses(text)]

    assert unnamed("查询（query）与键（key）比较。之后的查询不必。") == []
    assert unnamed("查询、键（query、key）比较。") == []
    assert unnamed("查询与键比较。查询（query）。") == ["查询", "键"]
    assert unnamed("## 查询\n\n查询（query）在标题之后。") == []
    assert unnamed("[分组查询注意力](gqa.md)中，分组查询注意力（grouped-query attention）省内存。") == []
    assert unnamed("分组查询注意力（grouped-query attention）") == []  # 查询 inside it is no use
    assert unnamed("旋转位置编码（RoPE）") == []
    assert unnamed("关键在于“查询”和《查询》，`查询`、\\(查询\\)") == []


@pytest.mark.parametrize("name, text", chinese_texts(), ids=lambda v: v if v.endswith((".md", ".ipynb")) else "")
def test_chinese_page_names_the_english_term_at_first_use(name: str, text: str) -> None:
    found = [
        f"{term} ({english}): …{text[max(0, at - 12) : at + 16]}…".replace("\n", " ")
        for at, term, english in unnamed_first_uses(text)
    ]
    assert found == [], f"zh/{name}: the first use of these terms needs the English in （…）:\n" + "\n".join(found)
