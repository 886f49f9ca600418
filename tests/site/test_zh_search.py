"""The Chinese edition's search, in the browser: compound terms and queries typed without spaces.

At build time jieba splits the Chinese text into words, the glossary's terms among them
(sitebuild/jieba_userdict.txt): 注意力权重 and 因果掩码 are words of the index. In the browser, the
query goes through docs/assets/javascripts/workers/search-segment.js, which overrides/main.html
(block ``config``) starts as the search worker, before Material's own worker: it segments the query
with the index's words, including a word at the query's end, which Material's segmenter never
finds, and it parts Latin letters from Chinese characters (see CONTRIBUTING.md, "Upgrading
tools"). Each word is searched whole (weighing the most), inside the longer words of the index
(注意力 finds 自注意力), and through the words it is made of in the text only (a heading 「掩码」 does
not outrank a section that writes 填充掩码). The pages that list every term carry a lower ``search.boost`` in their
front matter (术语表, 来源与致谢, 错误的输入), and two chapters a higher one, so that their term is not
lost to a passing mention on another page (多头注意力 for 注意力头, 因果自注意力 for 因果掩码; see
CONTRIBUTING.md, "The Chinese edition"). The reader types as in tests/site/test_browser.py: Latin
letters as keystrokes, Chinese characters as text input (as from an input method), then a key that
makes the search run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.site.test_browser import DESKTOP, visit

# A query, and the page (with the section, after #) that comes first in the results: a compound term
# of the glossary finds the page that the glossary names for it, or its section; a query with Latin
# letters glued to Chinese ones finds what the spaced query finds.
FIRST = {
    "上下文向量": "simplified/#step-3-context-vectors",
    "因果掩码": "causal/",
    "缩放点积注意力": "scaling/",
    "多头注意力": "multihead/",
    "分组查询注意力": "gqa/",
    "交叉注意力": "cross-attention/",
    "分块注意力": "blockwise/",
    "反向传播": "backward/",
    "头维度": "multihead/#a-batch-through-two-heads-shape-by-shape",
    # the section that writes the term (causal.md describes the row, 「一行全是 −∞ 的分数」, without naming it)
    "全被掩蔽的行": "backward/#a-query-with-nothing-to-attend-to",
    "KV缓存": "kv-cache/",
    "KV 缓存": "kv-cache/",
    "键值缓存": "kv-cache/",  # the glossary's synonym of KV 缓存
    "在线softmax": "blockwise/",
    # a heading that names a term only in part (「掩码」 on kv-cache/, 「注意力图」) ranks after the
    # sections that write it whole
    "填充掩码": "causal/#padding-masks",
    "前一词元头": "trained/#what-the-heads-learned",
    "注意力头": "multihead/",
    "归纳头": "trained/",  # before the bibliography's heading 「归纳头」 (来源与致谢 weighs less)
    # the page whose title has the word itself; pages that say only 自注意力 are found too (see below)
    "注意力": "attention-maps/",
}


def search(page: Page, query: str) -> None:
    """Type ``query`` into the search box as a reader does."""
    box = page.locator("input.md-search__input")
    box.click()
    box.fill("")
    page.keyboard.type(query, delay=50)
    page.keyboard.press("End")


def first_result(page: Page) -> Locator:
    """The links of the first result: its page, then its best sections, best first."""
    return page.locator(".md-search-result__item").first.locator("a.md-search-result__link")


def address(server: str, location: str) -> re.Pattern[str]:
    """A result's link to ``location`` (``page/`` or ``page/#section``) of the Chinese edition, with the
    words to highlight that Material adds (``?h=...``)."""
    page, _, section = location.partition("#")
    anchor = re.escape(f"#{section}") if section else ""
    return re.compile(re.escape(f"{server}zh/{page}") + r"(\?h=[^#]*)?" + anchor + "$")


def hrefs(links: Locator) -> list[str]:
    return [str(href) for href in links.evaluate_all("links => links.map(a => a.href)")]


def test_the_chinese_edition_starts_the_segmenting_worker(site: Path, browser: Browser, server: str) -> None:
    with visit(browser, server, "zh/", **DESKTOP) as (page, problems, _):
        config = json.loads(page.locator("#__config").text_content() or "{}")
        worker_address = r"assets/javascripts/workers/search-segment\.js\?worker=search\.[0-9a-f]+\.min\.js"
        assert re.search(worker_address + "$", config["search"]), config["search"]
        worker = config["search"].split("?worker=")[1]
        assert (site / "zh" / "assets" / "javascripts" / "workers" / worker).is_file()
        assert problems == []


def test_compound_and_spaceless_queries_find_their_section_first(browser: Browser, server: str) -> None:
    failures = []
    with visit(browser, server, "zh/", **DESKTOP) as (page, problems, _):
        for query, location in FIRST.items():
            search(page, query)
            links = first_result(page)
            article, _, section = location.partition("#")
            try:
                expect(links.nth(0)).to_have_attribute("href", address(server, article), timeout=10_000)
                if section:
                    expect(links.nth(1)).to_have_attribute("href", address(server, location), timeout=1_000)
            except AssertionError:
                failures.append(f"{query}: first {location}, found {hrefs(links)}")
        assert problems == []
    assert failures == []


def test_a_compound_term_is_not_searched_as_its_first_word(browser: Browser, server: str) -> None:
    """「注意力权重」 used to find exactly what 「注意力」 finds: now the first section found names the whole term."""
    with visit(browser, server, "zh/", **DESKTOP) as (page, problems, _):
        search(page, "注意力")
        expect(page.locator(".md-search-result__item").first).to_contain_text("注意力", timeout=10_000)
        first_for_the_word = [href.split("?")[0] for href in hrefs(first_result(page))]
        search(page, "注意力权重")
        best = first_result(page).nth(1)
        expect(best.locator("h1, h2")).to_contain_text("注意力权重", timeout=10_000)
        assert [href.split("?")[0] for href in hrefs(first_result(page))] != first_for_the_word
        assert problems == []


@pytest.mark.parametrize("query", ["点积", "权重", "掩码"])
def test_single_words_still_find_pages(browser: Browser, server: str, query: str) -> None:
    with visit(browser, server, "zh/", **DESKTOP) as (page, problems, _):
        search(page, query)
        expect(page.locator(".md-search-result__item").first).to_contain_text(query, timeout=10_000)
        assert problems == []


def test_a_word_finds_the_longer_words_that_hold_it(site: Path, browser: Browser, server: str) -> None:
    """「注意力」 finds every page that writes it, in any word of the index: also a page that writes only
    自注意力 (the notebook's), which Material's prefix search (注意力*) does not reach."""
    index = json.loads((site / "zh" / "search" / "search_index.json").read_text(encoding="utf-8"))
    words: dict[str, set[str]] = {}  # page -> its words that hold 注意力 (the index parts words with U+200B)
    for doc in index["docs"]:
        found = re.findall(r"[\u4e00-\u9fff]*注意力[\u4e00-\u9fff]*", f"{doc['title']} {doc['text']}")
        if found:
            words.setdefault(doc["location"].partition("#")[0], set()).update(found)
    only_inside = [page for page, held in words.items() if not any(word.startswith("注意力") for word in held)]
    assert only_inside, "no page writes 注意力 only inside a longer word: the test shows nothing"
    with visit(browser, server, "zh/", **DESKTOP) as (page, problems, _):
        search(page, "注意力")
        expect(first_result(page).nth(0)).to_have_attribute("href", address(server, FIRST["注意力"]), timeout=10_000)
        expect(page.locator(".md-search-result__meta")).to_have_text(f"{len(words)} 个符合条件的结果", timeout=1_000)
        assert problems == []
