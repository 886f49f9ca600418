"""The Chinese edition speaks Chinese in the theme's and the plugins' words too.

Material translates its own words from ``theme.language``, but not all of them: the headings'
permanent links (the toc extension's title, set by sitebuild/chinese.py), the footer's credit
(mkdocs.zh.yml: ``extra.generator: false`` and a Chinese ``copyright``), the notebook page's buttons
(overrides/main.html) and mkdocs-jupyter's copy buttons (sitebuild/notebooks.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.site.conftest import nav_pages, on_every_page

ENGLISH = [
    "Permanent link",
    "Made with",
    "Download this notebook",
    "Open in Colab",
    "Open this notebook in Colab",
    "Copy to Clipboard",
    "Copied!",
]


def test_chinese_pages_have_no_english_theme_words(site: Path) -> None:
    def problems(page: str) -> Iterator[str]:
        text = (site / "zh" / page / "index.html").read_text(encoding="utf-8")
        yield from (f"{english!r} on the page" for english in ENGLISH if english in text)

    failures = on_every_page(nav_pages("mkdocs.zh.yml"), problems)
    assert not failures, "\n".join(failures)


def test_chinese_pages_say_it_in_chinese(site: Path) -> None:
    home = (site / "zh" / "index.html").read_text(encoding="utf-8")
    assert 'title="永久链接"' in home
    assert "本站使用" in home and 'href="https://squidfunk.github.io/mkdocs-material/"' in home
    notebook = (site / "zh" / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    assert 'title="下载这个笔记本"' in notebook
    assert 'aria-label="复制到剪贴板"' in notebook and ">已复制</span>" in notebook
