"""The built site in a real browser: Debian's headless Chromium, driven by Playwright.

Every page of both editions (the Chinese one under zh/) is opened once on a desktop and once on a
phone, and every check of a page runs on that visit, reporting all its failures at once.
On a desktop: no console errors and no failed requests; the maths rendered by KaTeX with no raw TeX
left (nor in the table of contents), every KaTeX font it fetches preloaded; images loaded, with alt
text on the maps and plots; notebook code not cut off; and each copy button puts exactly its block's
code on the clipboard, without prompts or output. On a phone, with every solution opened: no sideways
scrolling, every printed number readable whole (nothing wider than its box unless it scrolls, no
number split over two lines), and only the figures of the light scheme fetched, each as it nears
the screen.

Then what a reader does: the copied code of one page, pasted into a fresh interpreter, prints what
the page shows (the examples of every page already run in `make test`); search finds "softmax", and
on the Chinese site 点积, 权重 and 掩码; the language switcher leads to the same page in the other
edition; the palette toggle reaches dark mode and the scheme follows the system until the reader
chooses one; the notebook downloads; a missing page gets the styled 404 page.

The site is served as GitHub Pages serves a project site (the ``server`` fixture); one browser per
test process, a fresh context per test. With SELFATTENTION_SCREENSHOTS=1, screenshots of every page
(desktop light, desktop dark, phone) go to test-artifacts/screenshots/, for a person to look at.
Without Chromium these tests are skipped, unless SELFATTENTION_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.pages import fences
from tests.site.conftest import ROOT, SITE_URL, all_pages

PAGES = all_pages()
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "device_scale_factor": 2}
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
GITHUB_API = {  # what GitHub's API answers about the repository (Material shows its facts)
    "releases/latest": {"tag_name": "v0.1.0"},
    "": {"stargazers_count": 1, "forks_count": 1},
}


def name_of(page_path: str) -> str:
    return page_path.strip("/").replace("/", "-") or "home"


def new_context(browser: Browser, server: str, **options: Any) -> BrowserContext:
    """A fresh context, in which GitHub's API (unreachable from the tests) answers as it would, and
    so does the site's public address (SITE_URL): the pages name the two editions by it (their
    hreflang links), and Material reads each edition's sitemap.xml from there."""
    context = browser.new_context(**options)

    def github(route: Route) -> None:
        path = route.request.url.split("/repos/", 1)[-1].split("/", 2)[2:]
        route.fulfill(status=200, json=GITHUB_API.get(path[0] if path else "", {}))

    def published(route: Route) -> None:
        try:
            response = route.fetch(url=server + route.request.url.removeprefix(SITE_URL), max_redirects=0)
            route.fulfill(response=response, headers={**response.headers, "access-control-allow-origin": "*"})
        except PlaywrightError:
            if context.pages and not all(page.is_closed() for page in context.pages):
                raise  # a request still in flight when the test closes its context is no failure

    context.route("https://api.github.com/repos/**", github)
    context.route(SITE_URL + "**", published)
    return context


class Visit(NamedTuple):
    page: Page
    problems: list[str]  # console errors, page errors, failed requests, HTTP errors
    requested: list[str]  # the address of every request


@contextmanager
def visit(browser: Browser, server: str, path: str, **options: Any) -> Iterator[Visit]:
    """The page at ``path`` in a fresh context, once the network is still, with its problems and
    requests so far (lists that grow while it is open)."""
    context = new_context(browser, server, **options)
    page = context.new_page()
    opened = Visit(page, [], [])
    page.on(
        "console",
        lambda message: opened.problems.append(f"console: {message.text}") if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: opened.problems.append(f"failed: {request.url} {request.failure}"))
    page.on(
        "response",
        lambda response: (
            opened.problems.append(f"HTTP {response.status}: {response.url}") if response.status >= 400 else None
        ),
    )
    page.on("request", lambda request: opened.requested.append(request.url))
    try:
        page.goto(server + path, wait_until="networkidle")
        yield opened
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    """The whole page into test-artifacts/screenshots/NAME, with SELFATTENTION_SCREENSHOTS=1 (whole
    pages at twice a phone's resolution take seconds each, so they are not taken by default)."""
    if os.environ.get("SELFATTENTION_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / name, full_page=True)


# The content's images are lazy (sitebuild/page_assets.py): the browser fetches those shown (not the other
# scheme's twin, display: none) when they near the screen. Bring each into view, as a reader scrolling
# down does, and wait until it has loaded (or failed: a broken image is then reported by the test).
LOAD_IMAGES = """async () => {
  const shown = [...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0);
  for (const image of shown) {
    image.scrollIntoView({block: 'center'});
    await new Promise(done => {
      if (image.complete) return done();
      image.addEventListener('load', done, {once: true});
      image.addEventListener('error', done, {once: true});
      setTimeout(done, 5000);
    });
  }
  window.scrollTo(0, 0);
  return shown.length;
}"""


def load_images(page: Page) -> int:
    """Scroll every shown image of the content into view and wait for it; the number of them."""
    return page.evaluate(LOAD_IMAGES)


def open_solutions(page: Page) -> None:
    """Open every collapsed block (the exercises' solutions) by clicking it, as a reader does."""
    for _ in range(page.locator(".md-content details:not([open])").count()):
        page.locator(".md-content details:not([open]) > summary").first.click()
    assert page.locator(".md-content details:not([open])").count() == 0


def maths_and_images(page: Page, page_path: str) -> Iterator[str]:
    """KaTeX rendered every formula, drew its parts and had its fonts preloaded; no raw TeX shows;
    every shown image loaded, and the maps and plots say what they show."""
    maths = page.locator(".arithmatex").count()
    if page.locator(".arithmatex .katex").count() != maths:
        yield "a formula not rendered by KaTeX"
    if page.locator(".katex-error").count():
        yield "KaTeX reports an error"
    # KaTeX's SVG parts (square roots, stretchy arrows) are drawn, not squashed to no height.
    flat = page.evaluate(
        "[...document.querySelectorAll('.md-content .katex-html svg')]"
        ".filter(s => s.getBoundingClientRect().height < 1).length"
    )
    if flat:
        yield f"{flat} of KaTeX's drawn parts have no height"
    # Every KaTeX font the page fetched was preloaded (sitebuild/maths.py): a font found only at
    # layout holds back the paint of the text that needs it.
    fetched = page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/katex/fonts/'))"
    )
    preloaded = page.evaluate("[...document.querySelectorAll('link[rel=preload][as=font]')].map(l => l.href)")
    if set(fetched) - set(preloaded):
        yield f"fonts fetched without a preload: {sorted(set(fetched) - set(preloaded))}"
    text = page.locator(".md-content").inner_text()
    yield from (f"raw TeX {raw!r} left visible" for raw in ("\\(", "\\[", "$$") if raw in text)
    if "notebooks/" in page_path:
        if page.locator(".jp-RenderedMarkdown .katex").count() == 0:
            yield "no maths rendered in the notebook's Markdown cells"
        # Each cell's source is shown once: its plain copy (for the copy button) stays hidden.
        if page.locator(".clipboard-copy-txt").count() == 0 or not page.evaluate(
            "[...document.querySelectorAll('.clipboard-copy-txt')].every(e => e.offsetHeight === 0)"
        ):
            yield "the cells' plain copies for the copy button are missing or shown"
        if "$" in page.locator(".jp-RenderedMarkdown").all_inner_texts()[0]:
            yield "raw TeX in the notebook's first Markdown cell"
    elif page_path.removeprefix("zh/") in ("simplified/", "trainable/", "blockwise/", "backward/") and maths <= 3:
        yield f"only {maths} formulas"
    load_images(page)
    broken = page.evaluate(
        "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0)"
        ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    if broken:
        yield f"images not loaded: {broken}"
    if page_path.removeprefix("zh/") in ("attention-maps/", "performance/"):
        alts = page.evaluate(
            "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0).map(i => i.alt)"
        )
        shortest = 15 if page_path.startswith("zh/") else 40  # characters: Chinese says as much in fewer
        if not alts or any(len(alt) <= shortest for alt in alts):
            yield f"every map and plot needs alt text: {alts}"


# Maths in a heading must not reach the table of contents as raw TeX: such headings carry a plain
# data-toc-label. The two pages with maths in headings must show these labels.
TOC_LABELS = {"causal/": "Mask with \u2212∞ before the softmax", "scaling/": "Dot products grow with d_k"}


def table_of_contents(page: Page, page_path: str) -> Iterator[str]:
    toc = page.evaluate("[...document.querySelectorAll('nav.md-nav--secondary')].map(n => n.textContent).join('\\n')")
    for raw in ("\\(", "\\)", "\\[", "$", "\\infty", "\\sqrt", "{", "}"):
        if raw in toc:
            yield f"raw TeX {raw!r} in the table of contents"
    if page_path in TOC_LABELS:
        if TOC_LABELS[page_path] not in toc:
            yield f"the table of contents lacks {TOC_LABELS[page_path]!r}"
        heading = page.locator("h2", has_text="before the softmax" if page_path == "causal/" else "Dot products grow")
        if heading.locator(".katex").count() != 1:
            yield "the heading itself does not show the maths"


# Everything that can hold printed numbers, and how it may be wider than its box: only by scrolling.
# An element whose content is wider than its box must scroll itself (overflow-x auto/scroll) or lie in
# an ancestor that does; overflow hidden or clip would cut numbers off. And no number in a code block,
# a notebook output or a table may be split over two lines.
READABILITY = """() => {
  const content = document.querySelector('.md-content');
  const boxes = content.querySelectorAll(
    'pre, pre > code, table, .md-typeset__scrollwrap, .katex-display, div.arithmatex, ' +
    '.jp-InputArea-editor, .jp-OutputArea-output');
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const clips = e => ['hidden', 'clip'].includes(getComputedStyle(e).overflowX);
  const cut = [];
  for (const box of boxes) {
    if (box.offsetParent === null || box.scrollWidth <= box.clientWidth + 1) continue;
    // The first ancestor (or the box itself) that scrolls, unless one that clips comes first.
    const end = box.getBoundingClientRect().left + box.scrollWidth;
    let scroller = null;
    for (let e = box; e && e !== content && !scroller; e = e.parentElement) {
      if (scrolls(e)) scroller = e;
      else if (clips(e) && e.getBoundingClientRect().right + 1 < end) break;
    }
    if (!scroller || scroller.getBoundingClientRect().right > window.innerWidth + 1) {
      cut.push(`${box.tagName}.${box.className}: ${box.textContent.trim().slice(0, 60)}`);
    }
  }
  const split = [];
  const holders = content.querySelectorAll('pre, table, .jp-OutputArea-output');
  for (const holder of holders) {
    const walker = document.createTreeWalker(holder, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        const around = node.data.slice(Math.max(0, match.index - 20), match.index + 20);
        if (tops.size > 1) split.push(`${match[0]} in: ${around}`);
      }
    }
  }
  return {cut, split};
}"""


def readable(page: Page) -> Iterator[str]:
    found = page.evaluate(READABILITY)
    if found["cut"]:
        yield f"content wider than its box that does not scroll: {found['cut'][:5]}"
    if found["split"]:
        yield f"numbers split over two lines: {found['split'][:5]}"


def notebook_code_fits(page: Page) -> Iterator[str]:
    """On a desktop the notebook's code fits the page: no cell's code needs scrolling."""
    if page.locator(".jp-InputArea-editor pre").count() <= 5:
        yield "fewer than 6 code cells in the notebook"
    wide = page.evaluate(
        "[...document.querySelectorAll('.jp-InputArea-editor pre')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60))"
    )
    if wide:
        yield f"notebook code wider than the page on a desktop: {wide}"


# In the page, block after block of the examples (the blocks with prompts): bring the block into view
# (Material gives a block its copy button when it comes into view: content.lazy), click its button,
# and wait (up to 5 s) for what the copy put on the clipboard, which is then emptied for the next one.
# Returns, for each block, whether it is a docstring example (on the API reference), what the
# clipboard got, and the block's output as shown (its lines without a prompt). One call for the
# whole page: a Playwright round trip per block costs more than the copies.
COPY_EVERY_BLOCK = """async () => {
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  const blocks = [...document.querySelectorAll('div.highlight')].filter(b => b.querySelector('.gp'));
  await navigator.clipboard.writeText('');
  const copied = [];
  for (const [index, block] of blocks.entries()) {
    block.scrollIntoView({block: 'center'});
    let button = null;
    for (let frames = 0; frames < 300 && !button; frames++) {
      button = block.querySelector("button[data-md-type='copy']");
      if (!button) await frame();
    }
    if (!button) throw new Error(`block ${index} got no copy button`);
    button.click();
    let text = '';
    for (let waited = 0; waited < 5000 && !(text = await navigator.clipboard.readText()); waited += 10) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    if (!text) throw new Error(`the copy button of block ${index} put nothing on the clipboard in 5 s`);
    await navigator.clipboard.writeText('');
    const shown = block.querySelector('code').innerText.split('\\n')
      .filter(line => !/^(>>>|\\.\\.\\.)( |$)/.test(line));
    copied.push([block.closest('.doc-contents') !== null, text, shown]);
  }
  return copied;
}"""


def copy_every_block(page: Page) -> list[tuple[bool, str, list[str]]]:
    """Click the copy button of every example block of the opened page (solutions opened first: a
    hidden block's button cannot be clicked): (in a docstring?, what was copied, output shown)."""
    origin = re.match(r"https?://[^/]+", page.url)
    assert origin
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin[0])
    open_solutions(page)
    return [(in_docstring, text, shown) for in_docstring, text, shown in page.evaluate(COPY_EVERY_BLOCK)]


def markdown_of(page_path: str) -> Path:
    """The Markdown source of a page: "simplified/" -> docs/simplified.md, "zh/" -> docs/zh/index.md."""
    parts = page_path.strip("/").split("/") if page_path.strip("/") else []
    if parts in ([], ["zh"]):
        parts.append("index")
    return ROOT / "docs" / Path(*parts).with_suffix(".md")


def example_code(markdown: Path) -> list[str]:
    """The code of every ```python block of a page's Markdown: its lines after the prompts."""
    sources = []
    for info, indent, body in fences(markdown.read_text(encoding="utf-8")):
        if info == "python":
            lines = [line[len(indent) :] for _, line in body]
            sources.append("\n".join(line[4:] for line in lines if re.match(r"(>>>|\.\.\.)( |$)", line)))
    return sources


def code_lines(code: str) -> list[str]:
    return [line.rstrip() for line in code.splitlines() if line.strip()]


def copy_buttons(page: Page, page_path: str) -> Iterator[str]:
    """Each copy button of an example gives exactly the block's code: no prompt, no output. The
    Markdown pages' blocks are compared with the page's source; docstring examples (the API
    reference) carry no prompt either. Notebooks: their cells' copy comes from mkdocs-jupyter."""
    markdown = markdown_of(page_path)
    if not markdown.is_file():
        return
    copied = copy_every_block(page)
    for _, text, _ in copied:
        if any(re.match(r"(>>>|\.\.\.)( |$)", line) for line in text.splitlines()):
            yield f"a copy with prompts: {text[:200]!r}"
    expected = example_code(markdown)
    got = [text for in_docstring, text, _ in copied if not in_docstring]
    if len(got) != len(expected):
        yield f"{len(got)} copy buttons on the examples, {len(expected)} ```python blocks in {markdown.name}"
    if not expected and page_path not in {"glossary/", "zh/glossary/"}:  # the glossaries are tables of terms
        yield "no code to copy"
    for index, (text, code) in enumerate(zip(got, expected, strict=False)):
        if code_lines(text) != code_lines(code):
            yield f"block {index} copies {text[:300]!r}, not its code {code[:300]!r}"


@pytest.mark.parametrize("page_path", PAGES, ids=name_of)
def test_page_on_a_desktop(browser: Browser, server: str, page_path: str) -> None:
    with visit(browser, server, page_path, **DESKTOP) as (page, problems, _):
        failures = [*maths_and_images(page, page_path), *table_of_contents(page, page_path)]
        if "notebooks/" in page_path:
            failures += [*readable(page), *notebook_code_fits(page)]
        screenshot(page, f"{name_of(page_path)}-light.png")
        failures += copy_buttons(page, page_path)  # last: it opens the solutions and scrolls
        failures += problems
    assert not failures, f"{page_path or 'home'} on a desktop:\n" + "\n".join(failures)


def figures_fetched(page: Page, requested: list[str]) -> Iterator[str]:
    """In light mode the page fetches none of the dark figures, and (on a page with many) not the
    light ones far below the screen; scrolled to, each figure shown loads, and still no dark one."""
    total = page.locator(".md-content img[src*='images/figures/']").count()
    at_load = [url for url in requested if "/images/figures/" in url]
    if [url for url in at_load if "-dark.svg" in url]:
        yield f"dark figures fetched in light mode: {at_load}"
    if total >= 16 and len(at_load) >= total // 2:
        yield f"{len(at_load)} of {total} figure files fetched at load"
    load_images(page)
    shown = set(
        page.evaluate(
            "[...document.querySelectorAll(\".md-content img[src*='images/figures/']\")]"
            ".filter(i => i.offsetWidth > 0).map(i => i.src.split('#')[0])"
        )
    )
    fetched = {url for url in requested if "/images/figures/" in url}
    if fetched != shown:
        yield f"scrolled through, fetched {sorted(fetched - shown)} not shown, not {sorted(shown - fetched)} shown"


@pytest.mark.parametrize("page_path", PAGES, ids=name_of)
def test_page_on_a_phone(browser: Browser, server: str, page_path: str) -> None:
    """On a phone (375 px wide, 2x), with every solution opened, as a reader would."""
    with visit(browser, server, page_path, **PHONE) as (page, problems, requested):
        failures = list(figures_fetched(page, requested))
        open_solutions(page)
        # Against the screen's 375 px: on a phone, window.innerWidth widens with a page that is too wide.
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["viewport"]["width"]:
            failures.append(f"the page is {width} px wide on a {PHONE['viewport']['width']} px screen")
        failures += readable(page)
        screenshot(page, f"{name_of(page_path)}-phone.png")
        failures += problems
    assert not failures, f"{page_path or 'home'} on a phone:\n" + "\n".join(failures)


# Pasted into a fresh interpreter, statement after statement as the interactive prompt runs them: an
# expression's value is printed, as on the page.
PROMPT = """
import ast, sys
namespace = {"__name__": "__main__"}
for statement in ast.parse(sys.stdin.read()).body:
    exec(compile(ast.Interactive(body=[statement]), "<copied code>", "single"), namespace)
"""


def test_copied_code_prints_what_the_page_shows(browser: Browser, server: str) -> None:
    """What the copy buttons of the simplified page give, pasted in order into a fresh interpreter,
    runs and prints exactly the output the page shows under its examples. One page is enough: every
    page's examples run in `make test`, and the copy buttons of every page give their block's code
    (test_page_on_a_desktop)."""
    with visit(browser, server, "simplified/", **DESKTOP) as (page, problems, _):
        copied = copy_every_block(page)
        assert problems == []
    assert len(copied) > 5
    program = "\n".join(text for _, text, _ in copied)
    assert ast.parse(program)
    result = subprocess.run(
        [sys.executable, "-c", PROMPT],
        input=program,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=300,
    )
    assert result.returncode == 0, f"the copied code of simplified/ fails:\n{result.stderr[-3000:]}"
    shown = [line for _, _, output in copied for line in output]
    assert shown, "the simplified page shows no output"
    assert code_lines(result.stdout) == code_lines("\n".join(shown).replace("<BLANKLINE>", ""))


@pytest.mark.parametrize(
    ("edition", "queries"), [("", ["softmax"]), ("zh/", ["点积", "权重", "掩码"])], ids=["English", "Chinese"]
)
def test_search_finds_words_of_the_edition(browser: Browser, server: str, edition: str, queries: list[str]) -> None:
    """Each edition's own search (the Chinese index split into words by jieba at build time) finds
    the words, on that edition's pages."""
    with visit(browser, server, edition, **DESKTOP) as (page, problems, _):
        search = page.locator("input.md-search__input")
        for query in queries:
            search.click()
            search.fill("")
            # Latin letters as keystrokes (search listens to keys); Chinese characters arrive as text
            # input, with no key events, as from an input method: search runs on the key that follows.
            page.keyboard.type(query, delay=50)
            page.keyboard.press("End")
            expect(page.locator(".md-search-result")).to_contain_text(query, ignore_case=True, timeout=10_000)
            links = page.locator(".md-search-result__link").evaluate_all("links => links.map(a => a.href)")
            assert links and all(("/zh/" in href) == (edition == "zh/") for href in links), (query, links)
        assert problems == []


def switch_language(page: Page, lang: str) -> None:
    """Choose a language in the header's switcher as a reader does: hover the icon, click the entry."""
    page.locator(".md-header .md-select").hover()
    page.locator(f".md-header a.md-select__link[hreflang='{lang}']").click()
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("start", ["simplified/", "notebooks/walkthrough/", ""], ids=name_of)
def test_language_switcher_leads_to_the_same_page(browser: Browser, server: str, start: str) -> None:
    with visit(browser, server, start, **DESKTOP) as (page, problems, _):
        assert page.evaluate("document.documentElement.lang") == "en"
        switch_language(page, "zh")
        assert page.url == server + "zh/" + start
        assert page.evaluate("document.documentElement.lang") == "zh"
        switch_language(page, "en")
        assert page.url == server + start
        assert page.evaluate("document.documentElement.lang") == "en"
        assert problems == []


PALETTE_LABEL = "form[data-md-component='palette'] label:visible"


def scheme(page: Page) -> str | None:
    return page.evaluate("document.body.getAttribute('data-md-color-scheme')")


def test_palette_toggle_switches_to_dark(browser: Browser, server: str) -> None:
    with visit(browser, server, "attention-maps/", **DESKTOP) as (page, problems, _):
        assert scheme(page) == "default"
        for _ in range(3):  # system preference -> light -> dark
            if scheme(page) == "slate":
                break
            page.locator(PALETTE_LABEL).first.click()
        assert scheme(page) == "slate"
        assert load_images(page) > 0  # the dark twins, lazy and not fetched in light mode, load now
        screenshot(page, "attention-maps-dark.png")
        shown = page.evaluate(
            "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0)"
            ".map(i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        assert shown and all("-dark.svg" in src for src, _ in shown), "dark mode shows the dark maps"
        assert all(loaded for _, loaded in shown), f"dark maps not loaded: {shown}"
        assert problems == []


def test_palette_follows_the_system_and_keeps_the_readers_choice(browser: Browser, server: str) -> None:
    """On a first visit the scheme is the system's, and follows it when it changes; the toggle
    cycles system -> light -> dark -> system (Enter works as a click); the choice holds on the next
    page."""
    with visit(browser, server, "causal/", **DESKTOP, color_scheme="dark") as (page, problems, _):
        label = page.locator(PALETTE_LABEL)
        assert scheme(page) == "slate", "a first visit with a dark system preference shows the dark scheme"
        assert label.get_attribute("title") == "Switch to light mode"
        page.emulate_media(color_scheme="light")
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5000)
        label.click()  # -> light
        assert scheme(page) == "default"
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(100)
        assert scheme(page) == "default", "a chosen light scheme does not follow the system"
        label.click()  # -> dark
        assert scheme(page) == "slate"
        page.goto(server + "scaling/", wait_until="load")
        assert scheme(page) == "slate", "the choice holds on the next page"
        # The keyboard reaches the palette's radio group at its first option (none is checked on a new
        # page), and Enter moves to the next scheme, as a click on the toggle does.
        page.locator("form[data-md-component='palette'] input").first.focus()
        page.keyboard.press("Enter")  # -> system preference (dark here)
        assert label.get_attribute("title") == "Switch to light mode"
        page.emulate_media(color_scheme="light")
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5000)
        assert problems == []


def test_notebook_download_link(browser: Browser, server: str) -> None:
    with visit(browser, server, "notebooks/walkthrough/", **DESKTOP) as (page, problems, _):
        with page.expect_download() as download:
            page.locator("a[title='Download this notebook']").click()
        notebook = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert notebook["nbformat"] == 4 and len(notebook["cells"]) > 5
        assert problems == []


def test_missing_page_gets_the_styled_404_page(browser: Browser, server: str) -> None:
    context = new_context(browser, server, **PHONE)
    try:
        page = context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.on(
            "response",
            lambda response: (
                failed.append(f"HTTP {response.status}: {response.url}")
                if response.status >= 400 and not response.url.endswith("/no-such-page/")
                else None
            ),
        )
        response = page.goto(server + "no-such-page/", wait_until="networkidle")
        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "404 - Not found"
        # Material's stylesheet applies (the header has the theme's colour) and the logo loads.
        header = page.evaluate("getComputedStyle(document.querySelector('.md-header')).backgroundColor")
        assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
        assert page.evaluate("document.querySelector('.md-logo img').naturalWidth") > 0
        assert failed == []
        screenshot(page, "404-phone.png")
    finally:
        context.close()
