"""The built site: mkdocs build --strict, maths rendered at build time, the notebook page.

The ``site`` fixture (tests/conftest.py) builds it once per test session, both editions: English at
the root, Chinese under zh/. Pages are those of mkdocs.yml's and mkdocs.zh.yml's nav, so a page
added there is checked here with no change; every check of a page runs on both editions."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import SITE_URL, _EnvLoader, all_pages, nav_pages

ROOT = Path(__file__).resolve().parent.parent
ENGLISH_PAGES = [url + "index.html" for url in nav_pages()]
PAGES = [url + "index.html" for url in all_pages()]


@pytest.mark.parametrize("page", PAGES)
def test_page_is_built_with_local_assets_only(site, page):
    text = (site / page).read_text(encoding="utf-8")
    sources = re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"]*)"', text)
    sources += re.findall(r'<link\b[^>]*\brel="(?:stylesheet|icon|preload|modulepreload)"[^>]*\bhref="([^"]*)"', text)
    remote = [s for s in sources if re.match(r"(https?:)?//", s)]
    assert not remote, f"{page} loads assets from another host: {remote}"
    # Maths is rendered at build time: no KaTeX JavaScript anywhere; its stylesheet exactly
    # where there is maths; mkdocstrings' stylesheet exactly where there is API documentation.
    assert "katex.min.js" not in text and "auto-render" not in text
    assert ("katex.min.css" in text) == ('class="katex"' in text), page
    assert ("_mkdocstrings.css" in text) == ('class="doc doc-' in text), page
    for local in sources:
        if local and not local.startswith(("data:", "#")):
            target = (site / page).parent / re.split(r"[?#]", local)[0]
            assert target.exists(), f"{page} refers to a missing file {local}"


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_katex_is_served_by_the_site(site, edition):
    for name in ["katex.min.css", "fonts/KaTeX_Main-Regular.woff2", "fonts/KaTeX_Math-Italic.woff2"]:
        assert (site / edition / "assets" / "katex" / name).stat().st_size > 0


def test_maths_is_rendered_at_build_time(site):
    """Every formula of the Markdown pages and of the notebook's Markdown cells arrives as KaTeX
    HTML (with MathML for screen readers): no TeX delimiter is left for a script to find."""
    rendered = 0
    for page in PAGES:
        text = (site / page).read_text(encoding="utf-8")
        for element in re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', text, flags=re.S):
            assert element.startswith(('<span class="katex">', '<span class="katex-display">')), element[:80]
        rendered += text.count('<span class="katex">')
        assert "katex-error" not in text, page
        visible = re.sub(r"<(script|style|annotation)\b.*?</\1>", "", text, flags=re.S)
        for raw in ("\\(", "\\[", "$$"):
            assert raw not in re.sub(r"<[^>]+>", "", visible), f"{page}: raw TeX {raw!r} left"
    assert rendered > 100


def test_katex_rejects_a_formula_it_cannot_parse():
    """The build fails on maths KaTeX cannot render, instead of showing it raw."""
    from hooks.katex_render import KaTeX

    katex = KaTeX(ROOT / "docs" / "assets" / "katex" / "katex.min.js")
    try:
        assert "katex-display" in katex.render("\\frac{a}{b}", True, "test")
        with pytest.raises(Exception, match="cannot render"):
            katex.render("\\frac{a}{", False, "test")
    finally:
        katex.close()


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_notebook_page_shows_executed_outputs_and_offers_the_download(site, edition):
    page = site / edition / "notebooks" / "walkthrough" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert 'href="walkthrough.ipynb"' in text
    downloaded = json.loads((page.parent / "walkthrough.ipynb").read_text(encoding="utf-8"))
    source = json.loads((ROOT / "docs" / edition / "notebooks" / "walkthrough.ipynb").read_text(encoding="utf-8"))
    assert downloaded["cells"] == source["cells"]
    # Outputs exist only because the build executed the notebook (the source has none).
    assert all(not cell.get("outputs") for cell in source["cells"] if cell["cell_type"] == "code")
    for printed in ["[1.9366, 6.6831, 1.5951]", "[2.0000, 7.0000, 1.5000]", "[0.4421, 0.5931, 0.5790]"]:
        assert printed in text


def test_notebook_page_keeps_only_the_notebook_css_it_uses(site):
    """hooks/page_assets.py cuts JupyterLab's inlined CSS down to the rules that can match: what
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


def test_search_index_covers_the_pages(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"", "simplified/", "trainable/"} <= locations
    assert any("softmax" in doc["text"] for doc in index["docs"])


def test_chinese_search_index_splits_chinese_into_words(site):
    """With jieba installed, Material's search plugin splits Chinese text into words (joined by
    zero-width spaces) at build time, so that 点积, 权重 and 掩码 are words the index knows."""
    index = json.loads((site / "zh" / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert "zh" in index["config"]["lang"]
    words = {word for doc in index["docs"] for word in re.split(r"[\s\u200b]+", doc["text"])}
    assert {"点积", "权重", "掩码"} <= words


@pytest.mark.parametrize("page", ENGLISH_PAGES)
def test_each_edition_declares_its_language_and_links_the_same_page_in_the_other(site, page):
    """lang="en" / lang="zh" on the <html> element, and the switcher's link leads to the same page."""
    english = (site / page).read_text(encoding="utf-8")
    chinese = (site / "zh" / page).read_text(encoding="utf-8")
    assert re.search(r'<html lang="en"', english) and re.search(r'<html lang="zh"', chinese)
    depth = page.count("/")
    up = "../" * depth if depth else "./"
    target = page.removesuffix("index.html")
    to_chinese = re.search(r'<a href="([^"]*)" hreflang="zh"[^>]*class="md-select__link"', english).group(1)
    to_english = re.search(r'<a href="([^"]*)" hreflang="en"[^>]*class="md-select__link"', chinese).group(1)
    assert Path(to_chinese) == Path(f"{up}zh/{target}"), to_chinese
    assert Path(to_english) == Path(f"{up}../{target}"), to_english
    assert (site / page).parent.joinpath(to_chinese, "index.html").resolve() == (site / "zh" / page).resolve()
    assert (site / "zh" / page).parent.joinpath(to_english, "index.html").resolve() == (site / page).resolve()


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_each_edition_runs_every_plugin(site, edition):
    """An inheriting config whose plugins were a list would silently drop mkdocstrings and
    mkdocs-jupyter: the API reference would show `::: selfattention...` and the notebook no page."""
    reference = (site / edition / "reference" / "index.html").read_text(encoding="utf-8")
    assert reference.count("doc-contents") > 20 and "::: selfattention" not in reference
    notebook = (site / edition / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    assert "jp-OutputArea" in notebook


def test_chinese_palette_is_the_english_one_with_chinese_names():
    """mkdocs.zh.yml repeats the palette (a list replaces the parent's) to name the toggle in Chinese;
    everything else must stay as in mkdocs.yml."""
    english, chinese = (
        yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=_EnvLoader)["theme"]["palette"]
        for name in ("mkdocs.yml", "mkdocs.zh.yml")
    )
    names = [option["toggle"]["name"] for option in chinese]
    assert names == ["切换到浅色模式", "切换到深色模式", "跟随系统设置"]
    strip = lambda options: [{**o, "toggle": {**o["toggle"], "name": None}} for o in options]  # noqa: E731
    assert strip(chinese) == strip(english)
    assert [o["toggle"]["name"] for o in english] == ["Switch to light mode", "Switch to dark mode", "Switch to system preference"]


@pytest.mark.parametrize("page", PAGES + ["404.html", "zh/404.html"])
def test_pages_start_without_restyling_the_whole_page(site, page):
    """overrides/: the head sets Material's start-up marks (html.js, focus-visible); Material's palette
    component is not mounted (no data-md-component="palette"), the site's script that applies the
    palette comes right after the toggle, in the header; Material's script is loaded only after the
    page's first frame, by the site's loader right after its tag, which the browser does not run."""
    text = (site / page).read_text(encoding="utf-8")
    assert text.index('classList.replace("no-js", "js")') < text.index("</head>")
    assert 'data-md-component="palette"' not in text
    form = text.index('<form class="md-header__option" data-md-palette>')
    script = text.index('document.querySelector("form[data-md-palette]")')
    assert form < script < text.index('<div class="md-container"')
    bundles = re.findall(r'<script( type="[^"]*")? src="[^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js"[^>]*>', text)
    assert bundles == [' type="text/x-material-bundle"'], bundles
    loader = text.index("document.querySelector(\"script[type='text/x-material-bundle']\").src")
    assert text.index('type="text/x-material-bundle"') < loader < text.index("</body>")


def test_chinese_edition_is_published_under_zh(site):
    """The Chinese edition's addresses (canonical links, sitemap), "edit" links and notebook links
    point under zh/ and into docs/zh/ (hooks/chinese.py, hooks/repository.py)."""
    from tests.conftest import REPO_URL

    home = (site / "zh" / "index.html").read_text(encoding="utf-8")
    assert f'<link rel="canonical" href="{SITE_URL}zh/">' in home
    assert f"<loc>{SITE_URL}zh/simplified/</loc>" in (site / "zh" / "sitemap.xml").read_text(encoding="utf-8")
    simplified = (site / "zh" / "simplified" / "index.html").read_text(encoding="utf-8")
    assert f'href="{REPO_URL}/edit/main/docs/zh/simplified.md"' in simplified
    assert 'role="dialog" aria-label="搜索"' in simplified
    notebook = (site / "zh" / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    assert "/blob/main/docs/zh/notebooks/walkthrough.ipynb" in notebook


@pytest.mark.parametrize("page", PAGES)
def test_content_images_load_lazily_with_their_size(site, page):
    """Every image of a page's content (figures, attention maps, plots) has its size and is fetched
    only when it nears the screen, and decoded off the main thread (hooks/page_assets.py): of each
    light/dark pair the browser then fetches only the one shown. The header's logo loads at once."""
    text = (site / page).read_text(encoding="utf-8")
    article = re.search(r'<article class="md-content__inner[^"]*">(.*?)</article>', text, flags=re.S).group(1)
    for tag in re.findall(r"<img\b[^>]*>", article):
        for attribute in ('loading="lazy"', 'decoding="async"', " width=", " height="):
            assert attribute in tag, f"{page}: {attribute} missing in {tag[:160]}"
    outside = re.sub(r'<article class="md-content__inner[^"]*">.*?</article>', "", text, flags=re.S)
    logos = re.findall(r'<img\b[^>]*assets/logo\.svg[^>]*>', outside)
    assert logos and not any("loading=" in tag for tag in logos), page


def test_figures_on_their_pages_are_lazy(site):
    """The pages with figures (both editions) show them as lazy images, both schemes' files."""
    for edition in ("", "zh/"):
        text = (site / edition / "trainable" / "index.html").read_text(encoding="utf-8")
        lazy = re.findall(r'<img\b[^>]*src="[^"]*images/figures/[^"]*-(light|dark)\.svg[^"]*"[^>]*loading="lazy"', text)
        assert lazy.count("light") == lazy.count("dark") >= 8, (edition, lazy)


@pytest.mark.parametrize("page", ENGLISH_PAGES + ["404.html"])
def test_hreflang_links_name_both_editions_by_absolute_address(site, page):
    """Search engines (and Lighthouse's hreflang audit) take only absolute addresses in hreflang
    links: on every page and on the 404 page (a theme template, not a page), of both editions."""
    for edition in ("", "zh/"):
        text = (site / edition / page).read_text(encoding="utf-8")
        links = dict((lang, href) for href, lang in re.findall(r'<link rel="alternate" href="([^"]*)" hreflang="([^"]*)">', text))
        assert links == {"en": SITE_URL, "zh": SITE_URL + "zh/"}, (edition + page, links)
