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
    (组查询注意力 inside 分组查询注意力)."""
    text = prose(text)
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


def test_every_variant_belongs_to_a_glossary_term():
    chinese = {row["chinese"].split("（")[0] for row in terms()}
    assert set(variants()) <= chinese | {"暂退法"}
    for term, never in variants().items():
        assert term not in never


def test_the_check_finds_a_variant_and_spares_longer_terms():
    assert offences("这里的注意力得分很大。") != []
    assert offences("分组查询注意力和多查询注意力。") == []
    assert offences("位置编码器") != [] and offences("位置编码") == []
    assert offences("`KV cache` 与 KV 缓存") == [] and offences("the KV cache") != []
    assert offences("```python\n>>> 点乘\n```\n") == []


@pytest.mark.parametrize("name, text", chinese_texts(), ids=lambda v: v if v.endswith((".md", ".ipynb")) else "")
def test_chinese_page_uses_the_glossary_terms(name, text):
    found = offences(text)
    assert found == [], f"zh/{name} uses variants that the glossary rules out:\n" + "\n".join(found)
