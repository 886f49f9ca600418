"""The built site: mkdocs build --strict, maths rendered at build time, the notebook page, both editions.

The ``site`` fixture (tests/site/conftest.py) builds it once per test session, both editions: English
at the root, Chinese under zh/. Pages are those of mkdocs.yml's and mkdocs.zh.yml's nav, so a page
added there is checked here with no change. Each test checks one property on every page it concerns
and reports every page that lacks it at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.site.conftest import REPO_URL, ROOT, SITE_URL, all_pages, nav_pages, on_every_page, read_config

ENGLISH_PAGES = [url + "index.html" for url in nav_pages()]
PAGES = [url + "index.html" for url in all_pages()]
EDITIONS = ["", "zh/"]


def test_every_page_loads_only_local_assets(site: Path) -> None:
    """No asset from another host; maths rendered at build time, so no KaTeX JavaScript anywhere, its
    stylesheet exactly where there is maths, and mkdocstrings' stylesheet exactly where there is API
    documentation; every local asset a page names exists."""

    def problems(page: str) -> Iterator[str]:
        text = (site / page).read_text(encoding="utf-8")
        sources = re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"]*)"', text)
        sources += re.findall(
            r'<link\b[^>]*\brel="(?:stylesheet|icon|preload|modulepreload)"[^>]*\bhref="([^"]*)"', text
        )
        remote = [source for source in sources if re.match(r"(https?:)?//", source)]
        if remote:
            yield f"loads assets from another host: {remote}"
        if "katex.min.js" in text or "auto-render" in text:
            yield "loads KaTeX's JavaScript"
        if ("katex.min.css" in text) != ('class="katex"' in text):
            yield "KaTeX's stylesheet without maths, or maths without it"
        if ("_mkdocstrings.css" in text) != ('class="doc doc-' in text):
            yield "mkdocstrings' stylesheet without API documentation, or API documentation without it"
        for local in sources:
            if local and not local.startswith(("data:", "#")) and local not in remote:
                if not (site / page).parent.joinpath(re.split(r"[?#]", local)[0]).exists():
                    yield f"refers to a missing file {local}"

    failures = on_every_page(PAGES, problems)
    assert not failures, "\n".join(failures)


def test_katex_is_served_by_the_site(site: Path) -> None:
    missing = [
        edition + name
        for edition in EDITIONS
        for name in ["katex.min.css", "fonts/KaTeX_Main-Regular.woff2", "fonts/KaTeX_Math-Italic.woff2"]
        if not (site / edition / "assets" / "katex" / name).is_file()
        or (site / edition / "assets" / "katex" / name).stat().st_size == 0
    ]
    assert not missing, f"KaTeX files missing or empty: {missing}"


def test_maths_is_rendered_at_build_time(site: Path) -> None:
    """Every formula of the Markdown pages and of the notebook's Markdown cells arrives as KaTeX
    HTML (with MathML for screen readers): no TeX delimiter is left for a script to find."""
    rendered = []

    def problems(page: str) -> Iterator[str]:
        text = (site / page).read_text(encoding="utf-8")
        for element in re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', text, flags=re.S):
            if not element.startswith(('<span class="katex">', '<span class="katex-display">')):
                yield f"a formula not rendered: {element[:80]}"
        rendered.append(text.count('<span class="katex">'))
        if "katex-error" in text:
            yield "KaTeX reports an error"
        visible = re.sub(r"<[^>]+>", "", re.sub(r"<(script|style|annotation)\b.*?</\1>", "", text, flags=re.S))
        yield from (f"raw TeX {raw!r} left" for raw in ("\\(", "\\[", "$$") if raw in visible)

    failures = on_every_page(PAGES, problems)
    assert not failures, "\n".join(failures)
    assert sum(rendered) > 100


def test_katex_rejects_a_formula_it_cannot_parse() -> None:
    """The build fails on maths KaTeX cannot render, instead of showing it raw."""
    from sitebuild.maths import KaTeX

    katex = KaTeX(ROOT / "docs" / "assets" / "katex" / "katex.min.js")
    try:
        assert "katex-display" in katex.render("\\frac{a}{b}", True, "test")
        with pytest.raises(Exception, match="cannot render"):
            katex.render("\\frac{a}{", False, "test")
    finally:
        katex.close()


def test_notebook_page_shows_executed_outputs_and_offers_the_download(site: Path) -> None:
    """In both editions: the download link, the downloadable notebook is the source's (with no
    outputs: those on the page exist only because the build executed it), and its printed numbers."""

    def problems(edition: str) -> Iterator[str]:
        page = site / edition / "notebooks" / "walkthrough" / "index.html"
        text = page.read_text(encoding="utf-8")
        if 'href="walkthrough.ipynb"' not in text:
            yield "no download link"
        downloaded = json.loads((page.parent / "walkthrough.ipynb").read_text(encoding="utf-8"))
        source = json.loads((ROOT / "docs" / edition / "notebooks" / "walkthrough.ipynb").read_text(encoding="utf-8"))
        if downloaded["cells"] != source["cells"]:
            yield "the downloadable notebook is not the source"
        if any(cell.get("outputs") for cell in source["cells"] if cell["cell_type"] == "code"):
            yield "the source notebook has outputs"
        for printed in ["[1.9366, 6.6831, 1.5951]", "[2.0000, 7.0000, 1.5000]", "[0.4421, 0.5931, 0.5790]"]:
            if printed not in text:
                yield f"{printed} not printed"

    failures = on_every_page(EDITIONS, problems)
    assert not failures, "\n".join(failures)


def test_notebook_page_keeps_only_the_notebook_css_it_uses(site: Path) -> None:
    """sitebuild/page_assets.py cuts JupyterLab's inlined CSS down to the rules that can match: what
    is left parses as CSS, rule by rule, and keeps the rules the page needs (the hidden copy of
    each cell's source stays hidden)."""
    import tinycss2

    text = (site / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    styles = re.findall(r"<style[^>]*>(.*?)</style>", text, flags=re.S)
    assert 0 < sum(map(len, styles)) < 80_000, [len(style) for style in styles]
    for style in styles:
        for line in style.splitlines():
            rules = tinycss2.parse_stylesheet(line, skip_comments=True, skip_whitespace=True)
            assert all(rule.type != "error" for rule in rules), line[:200]
    assert ".jupyter-wrapper .clipboard-copy-txt{display:none}" in "".join(styles)
    assert "--md-red-50" not in "".join(styles)  # an unused custom property


def test_search_index_covers_the_pages(site: Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"", "simplified/", "trainable/"} <= locations
    assert any("softmax" in doc["text"] for doc in index["docs"])


def test_chinese_search_index_splits_chinese_into_words(site: Path) -> None:
    """With jieba installed, Material's search plugin splits Chinese text into words (joined by
    zero-width spaces) at build time, so that 点积, 权重 and 掩码 are words the index knows."""
    index = json.loads((site / "zh" / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert "zh" in index["config"]["lang"]
    words = {word for doc in index["docs"] for word in re.split(r"[\s\u200b]+", doc["text"])}
    assert {"点积", "权重", "掩码"} <= words


def test_each_edition_declares_its_language_and_links_the_same_page_in_the_other(site: Path) -> None:
    """lang="en" / lang="zh" on the <html> element, and the switcher's link leads to the same page."""

    def problems(page: str) -> Iterator[str]:
        english = (site / page).read_text(encoding="utf-8")
        chinese = (site / "zh" / page).read_text(encoding="utf-8")
        if not re.search(r'<html lang="en"', english) or not re.search(r'<html lang="zh"', chinese):
            yield 'not <html lang="en"> and <html lang="zh">'
        depth = page.count("/")
        up = "../" * depth if depth else "./"
        target = page.removesuffix("index.html")
        to_chinese = re.search(r'<a href="([^"]*)" hreflang="zh"[^>]*class="md-select__link"', english)
        to_english = re.search(r'<a href="([^"]*)" hreflang="en"[^>]*class="md-select__link"', chinese)
        if not to_chinese or not to_english:
            yield "no link to the other edition in the language switcher"
            return
        if Path(to_chinese[1]) != Path(f"{up}zh/{target}"):
            yield f"the English page links {to_chinese[1]}"
        if Path(to_english[1]) != Path(f"{up}../{target}"):
            yield f"the Chinese page links {to_english[1]}"
        if (site / page).parent.joinpath(to_chinese[1], "index.html").resolve() != (site / "zh" / page).resolve():
            yield "the link to the Chinese page leads elsewhere"
        if (site / "zh" / page).parent.joinpath(to_english[1], "index.html").resolve() != (site / page).resolve():
            yield "the link to the English page leads elsewhere"

    failures = on_every_page(ENGLISH_PAGES, problems)
    assert not failures, "\n".join(failures)


def test_each_edition_runs_every_plugin(site: Path) -> None:
    """An inheriting config whose plugins were a list would silently drop mkdocstrings and
    mkdocs-jupyter: the API reference would show `::: selfattention...` and the notebook no page."""

    def problems(edition: str) -> Iterator[str]:
        reference = (site / edition / "reference" / "index.html").read_text(encoding="utf-8")
        if reference.count("doc-contents") <= 20 or "::: selfattention" in reference:
            yield "the API reference is not rendered by mkdocstrings"
        notebook = (site / edition / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
        if "jp-OutputArea" not in notebook:
            yield "the notebook is not rendered by mkdocs-jupyter"

    failures = on_every_page(EDITIONS, problems)
    assert not failures, "\n".join(failures)


PALETTE = re.compile(r'<form class="md-header__option" data-md-component="palette">.*?</form>', flags=re.S)


def test_chinese_palette_is_the_english_one_with_chinese_names(site: Path) -> None:
    """Material names the palette toggle with the config's names, whatever theme.language is, so
    mkdocs.zh.yml repeats the palette (a list replaces the parent's) with the names in Chinese. The
    Chinese pages' toggle is then the English pages' one, but for its names."""
    names = {
        "Switch to light mode": "切换到浅色模式",
        "Switch to dark mode": "切换到深色模式",
        "Switch to system preference": "跟随系统设置",
    }
    for config, expected in (("mkdocs.yml", list(names)), ("mkdocs.zh.yml", list(names.values()))):
        assert [option["toggle"]["name"] for option in read_config(config)["theme"]["palette"]] == expected, config
    english = PALETTE.search((site / "index.html").read_text(encoding="utf-8"))
    chinese = PALETTE.search((site / "zh" / "index.html").read_text(encoding="utf-8"))
    assert english and chinese, "no palette toggle in the header"
    translated = english[0]
    for name, chinese_name in names.items():
        assert translated.count(f'"{name}"') == 2, name  # the option's label (aria-label) and its button (title)
        translated = translated.replace(f'"{name}"', f'"{chinese_name}"')
    assert chinese[0] == translated


def test_chinese_edition_is_published_under_zh(site: Path) -> None:
    """The Chinese edition's addresses (canonical links, sitemap), "edit" links and notebook links
    point under zh/ and into docs/zh/ (sitebuild/chinese.py, sitebuild/repository.py)."""
    home = (site / "zh" / "index.html").read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{SITE_URL}zh/">' in home
    assert f"<loc>{SITE_URL}zh/simplified/</loc>" in (site / "zh" / "sitemap.xml").read_text(encoding="utf-8")
    simplified = (site / "zh" / "simplified" / "index.html").read_text(encoding="utf-8")
    assert f'href="{REPO_URL}/edit/main/docs/zh/simplified.md"' in simplified
    assert 'role="dialog" aria-label="搜索"' in simplified
    notebook = (site / "zh" / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    assert "/blob/main/docs/zh/notebooks/walkthrough.ipynb" in notebook


ARTICLE = re.compile(r'<article class="md-content__inner[^"]*">(.*?)</article>', flags=re.S)


def test_content_images_load_lazily_with_their_size(site: Path) -> None:
    """Every image of a page's content (figures, attention maps, plots) has its size and is fetched
    only when it nears the screen, and decoded off the main thread (sitebuild/page_assets.py): of each
    light/dark pair the browser then fetches only the one shown. The header's logo loads at once."""

    def problems(page: str) -> Iterator[str]:
        text = (site / page).read_text(encoding="utf-8")
        article = ARTICLE.search(text)
        if not article:
            yield "no article"
            return
        for tag in re.findall(r"<img\b[^>]*>", article[1]):
            for attribute in ('loading="lazy"', 'decoding="async"', " width=", " height="):
                if attribute not in tag:
                    yield f"{attribute} missing in {tag[:160]}"
        logos = re.findall(r"<img\b[^>]*assets/logo\.svg[^>]*>", ARTICLE.sub("", text))
        if not logos or any("loading=" in tag for tag in logos):
            yield f"the header's logo is missing or lazy: {logos}"

    failures = on_every_page(PAGES, problems)
    assert not failures, "\n".join(failures)


def test_figures_on_their_pages_are_lazy(site: Path) -> None:
    """The pages with figures (both editions) show them as lazy images, both schemes' files."""

    def problems(edition: str) -> Iterator[str]:
        text = (site / edition / "trainable" / "index.html").read_text(encoding="utf-8")
        lazy = re.findall(r'<img\b[^>]*src="[^"]*images/figures/[^"]*-(light|dark)\.svg[^"]*"[^>]*loading="lazy"', text)
        if not lazy.count("light") == lazy.count("dark") >= 8:
            yield f"trainable/: {lazy.count('light')} light and {lazy.count('dark')} dark lazy figures"

    failures = on_every_page(EDITIONS, problems)
    assert not failures, "\n".join(failures)


def test_hreflang_links_name_both_editions_by_absolute_address(site: Path) -> None:
    """Search engines (and Lighthouse's hreflang audit) take only absolute addresses in hreflang
    links: on every page and on the 404 page (a theme template, not a page), of both editions."""

    def problems(page: str) -> Iterator[str]:
        text = (site / page).read_text(encoding="utf-8")
        links = {
            lang: href for href, lang in re.findall(r'<link rel="alternate" href="([^"]*)" hreflang="([^"]*)">', text)
        }
        if links != {"en": SITE_URL, "zh": SITE_URL + "zh/"}:
            yield f"hreflang links {links}"

    pages = [edition + page for edition in EDITIONS for page in [*ENGLISH_PAGES, "404.html"]]
    failures = on_every_page(pages, problems)
    assert not failures, "\n".join(failures)
