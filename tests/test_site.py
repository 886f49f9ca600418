"""The built site: mkdocs build --strict, self-hosted maths that parses, the notebook page.

The ``site`` fixture (tests/conftest.py) builds it once per test session, both editions: English at
the root, Chinese under zh/. Every check of a page runs on both."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "index.html", "simplified/index.html", "trainable/index.html", "scaling/index.html",
    "causal/index.html", "multihead/index.html", "gqa/index.html", "kv-cache/index.html", "positions/index.html",
    "cross-attention/index.html", "pytorch/index.html", "attention-maps/index.html",
    "errors/index.html", "reference/index.html",
    "blockwise/index.html", "backward/index.html", "performance/index.html", "notebooks/walkthrough/index.html",
    "sources/index.html",
]
ENGLISH_PAGES = PAGES
PAGES = [*ENGLISH_PAGES, *(f"zh/{page}" for page in ENGLISH_PAGES), "zh/glossary/index.html"]


@pytest.mark.parametrize("page", PAGES)
def test_page_is_built_with_local_assets_only(site, page):
    text = (site / page).read_text(encoding="utf-8")
    sources = re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"]*)"', text)
    sources += re.findall(r'<link\b[^>]*\brel="(?:stylesheet|icon|preload|modulepreload)"[^>]*\bhref="([^"]*)"', text)
    remote = [s for s in sources if re.match(r"(https?:)?//", s)]
    assert not remote, f"{page} loads assets from another host: {remote}"
    assert "assets/katex/katex.min.js" in text and "javascripts/katex.js" in text
    for local in sources:
        if local and not local.startswith(("data:", "#")):
            target = (site / page).parent / re.split(r"[?#]", local)[0]
            assert target.exists(), f"{page} refers to a missing file {local}"


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_katex_is_served_by_the_site(site, edition):
    for name in ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "fonts/KaTeX_Main-Regular.woff2"]:
        assert (site / edition / "assets" / "katex" / name).stat().st_size > 0


def maths_of(site: Path) -> list[str]:
    expressions = []
    for page in PAGES:
        text = (site / page).read_text(encoding="utf-8")
        for raw in re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', text, flags=re.S):
            body = html.unescape(raw).strip()
            assert body[:2] in ("\\(", "\\["), body
            expressions.append(body[2:-2])
        for cell in re.findall(r'<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>(.*?)</div>', text, flags=re.S):
            expressions += [html.unescape(m) for m in re.findall(r"\$([^$]+)\$", cell)]
    return expressions


def test_every_formula_parses_with_katex(site):
    expressions = maths_of(site)
    assert len(expressions) > 20
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run KaTeX outside a browser")
    script = (
        "const katex = require(process.argv[1]);"
        "const errors = [];"
        "for (const tex of JSON.parse(require('fs').readFileSync(0, 'utf8'))) {"
        "  try { katex.renderToString(tex, {throwOnError: true}); }"
        "  catch (e) { errors.push(tex + ' -> ' + e.message); } }"
        "console.log(JSON.stringify(errors));"
    )
    katex_js = str(site / "assets" / "katex" / "katex.min.js")
    result = subprocess.run(
        [node, "-e", script, katex_js], input=json.dumps(expressions), capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


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
