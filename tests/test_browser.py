"""The built site in a real browser: Debian's headless Chromium, driven by Playwright.

For every page: no console errors and no failed requests, the maths rendered by KaTeX with no raw
TeX left (nor in the table of contents), images loaded, no sideways scrolling at a phone's width and
every printed number readable whole there (nothing wider than its box unless it scrolls, no number
split over two lines; notebook code not cut off on a desktop). The search finds "softmax" (and, on
the Chinese site, 点积, 权重 and 掩码), the language switcher leads to the same page in the other edition,
the palette toggle reaches dark mode and the scheme follows the system until the reader chooses one,
the notebook downloads, a missing page gets the styled 404 page, and what the copy button of every
code block puts on the clipboard runs, page by page, as in a fresh interpreter
(tests/copy_runner.py: one interpreter per test worker, forked for each page). Every page of both
editions (the Chinese one under zh/) is checked.

The site is served as GitHub Pages serves a project site: under its path (/selfattention/), with
gzip, and 404.html for a missing page. One browser per test worker, one context per test.

With SELFATTENTION_SCREENSHOTS=1, screenshots of every page (desktop light, desktop dark, phone)
go to test-artifacts/screenshots/, for a person to look at (whole pages at twice a phone's
resolution take seconds each, so they are not taken by default).
Without Chromium these tests are skipped, unless SELFATTENTION_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED, SITE_URL, all_pages

ROOT = Path(__file__).resolve().parent.parent
# Debian's headless shell (package chromium-headless-shell): the Chromium build Playwright itself runs
# for headless tests, with the same engine as the browser and less than half its CPU time per page;
# Debian's full browser otherwise. SELFATTENTION_CHROMIUM chooses another (e.g. a runner's Chrome).
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
CHROMIUM = os.environ.get("SELFATTENTION_CHROMIUM") or (HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() else "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("SELFATTENTION_SCREENSHOTS") == "1"
# As the machine's documentation advises: no background traffic to hosts that cannot be reached.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGES = all_pages()


def markdown_of(page_path: str) -> Path:
    """The Markdown source of a page: "simplified/" -> docs/simplified.md, "zh/" -> docs/zh/index.md."""
    folder, _, name = page_path.strip("/").rpartition("/") if page_path.strip("/") != "zh" else ("zh", "", "")
    return ROOT / "docs" / folder / ((name or "index") + ".md")


# Pages whose code blocks the copy test runs (the Chinese glossary is a table of terms, with no code).
MARKDOWN_PAGES = [page for page in PAGES if markdown_of(page).is_file() and page != "zh/glossary/"]
PREFIX = "/" + SITE_URL.split("/", 3)[3]  # /selfattention/

if not Path(CHROMIUM).exists():
    if os.environ.get("SELFATTENTION_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium-headless-shell (apt-get install chromium-headless-shell)")
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium-headless-shell to run the browser tests", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402

from tools.audit.audit import serve  # noqa: E402


# Where the test server serves the site (set by the server fixture), for requests to its public address.
LOCAL: dict[str, str] = {}


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    httpd, url = serve(site, PREFIX)
    LOCAL["url"] = url
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def copy_runner() -> Iterator[subprocess.Popen]:
    runner = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "copy_runner.py")], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    yield runner
    assert runner.stdin is not None
    runner.stdin.close()
    runner.wait(timeout=60)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def name_of(page_path: str) -> str:
    return page_path.strip("/").replace("/", "-") or "home"


GITHUB_API = {  # what GitHub's API answers about the repository (Material shows its facts)
    "releases/latest": {"tag_name": "v0.1.0"},
    "": {"stargazers_count": 1, "forks_count": 1},
}


def new_context(browser: Browser, **context_options):
    """A fresh context, in which GitHub's API (unreachable from the tests) answers as it would, and
    so does the site's public address (SITE_URL): the pages name the two editions by it (their
    hreflang links), and Material reads each edition's sitemap.xml from there."""
    context = browser.new_context(**context_options)

    def github(route):
        path = route.request.url.split("/repos/", 1)[-1].split("/", 2)[2:]
        route.fulfill(status=200, json=GITHUB_API.get(path[0] if path else "", {}))

    def published(route):
        try:
            response = route.fetch(url=LOCAL["url"] + route.request.url.removeprefix(SITE_URL), max_redirects=0)
            route.fulfill(response=response, headers={**response.headers, "access-control-allow-origin": "*"})
        except PlaywrightError:
            if not page_or_context_closed(context):
                raise  # a request still in flight when the test closes its context is no failure

    context.route("https://api.github.com/repos/**", github)
    context.route(SITE_URL + "**", published)
    return context


def page_or_context_closed(context) -> bool:
    return not context.pages or all(page.is_closed() for page in context.pages)


def started(page: Page) -> None:
    """Wait until Material's script has run: the site loads it after the page's first frame
    (overrides/main.html), which under load can come after the network has been still for the
    500 ms that Playwright's "networkidle" waits for."""
    page.wait_for_function("window.document$ !== undefined && window.component$ !== undefined")


def open_page(browser: Browser, url: str, **context_options) -> tuple[Page, list[str]]:
    """Open a page in a fresh context; collect console errors and failed requests."""
    context = new_context(browser, **context_options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}") if response.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    started(page)
    load_images(page)
    return page, problems


@pytest.fixture(scope="module", params=PAGES, ids=name_of)
def desktop(request, browser: Browser, server: str) -> Iterator[tuple[str, Page, list[str]]]:
    """(page path, the page opened on a desktop, its problems so far): one visit per page, shared
    by the tests of that page (the root conftest.py runs them in one worker, one after another;
    the copy test, which opens the solutions, comes last)."""
    page, problems = open_page(browser, server + request.param, viewport={"width": 1280, "height": 900})
    yield request.param, page, problems
    page.context.close()


@pytest.fixture(scope="module", params=PAGES, ids=name_of)
def phone(request, browser: Browser, server: str) -> Iterator[tuple[str, Page, list[str]]]:
    """The same on a phone (375 px wide, 2x), with every solution opened, as a reader would."""
    page, problems = open_page(
        browser, server + request.param, viewport={"width": 375, "height": 812}, is_mobile=True, device_scale_factor=2
    )
    open_solutions(page)
    yield request.param, page, problems
    page.context.close()


def screenshot(page: Page, name: str) -> None:
    """The whole page into test-artifacts/screenshots/NAME, with SELFATTENTION_SCREENSHOTS=1."""
    if TAKE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / name, full_page=True)

# The content's images are lazy (hooks/page_assets.py): the browser fetches those shown (not the other
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
    return page.evaluate(LOAD_IMAGES)


def open_solutions(page: Page) -> None:
    """Open every collapsed block (the exercises' solutions) by clicking it, as a reader does."""
    for _ in range(page.locator(".md-content details:not([open])").count()):
        page.locator(".md-content details:not([open]) > summary").first.click()
    assert page.locator(".md-content details:not([open])").count() == 0


def test_page_loads_cleanly_with_maths_and_images(desktop):
    page_path, page, problems = desktop
    screenshot(page, f"{name_of(page_path)}-light.png")
    assert problems == []
    maths = page.locator(".arithmatex").count()
    assert page.locator(".arithmatex .katex").count() == maths
    assert page.locator(".katex-error").count() == 0
    # KaTeX's SVG parts (square roots, stretchy arrows) are drawn, not squashed to no height.
    flat = page.evaluate("[...document.querySelectorAll('.md-content .katex-html svg')].filter(s => s.getBoundingClientRect().height < 1).length")
    assert flat == 0, f"{flat} of KaTeX's drawn parts have no height"
    # Every KaTeX font the page fetched was preloaded (hooks/katex_render.py): a font found only at
    # layout holds back the paint of the text that needs it.
    fetched = page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/katex/fonts/'))"
    )
    preloaded = page.evaluate("[...document.querySelectorAll('link[rel=preload][as=font]')].map(l => l.href)")
    assert sorted(set(fetched) - set(preloaded)) == [], "fonts fetched without a preload"
    text = page.locator(".md-content").inner_text()
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in text, f"raw TeX {raw!r} left visible"
    if "notebooks/" in page_path:
        assert page.locator(".jp-RenderedMarkdown .katex").count() > 0
        # Each cell's source is shown once: its plain copy (for the copy button) stays hidden.
        assert page.locator(".clipboard-copy-txt").count() > 0
        assert page.evaluate("[...document.querySelectorAll('.clipboard-copy-txt')].every(e => e.offsetHeight === 0)")
        assert "$" not in page.locator(".jp-RenderedMarkdown").all_inner_texts()[0]
    elif page_path.removeprefix("zh/") in ("simplified/", "trainable/", "blockwise/", "backward/"):
        assert maths > 3
    broken = page.evaluate(
        "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0)"
        ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == []
    if page_path.removeprefix("zh/") in ("attention-maps/", "performance/"):
        visible = page.evaluate(
            "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0).map(i => i.alt)"
        )
        shortest = 15 if page_path.startswith("zh/") else 40  # characters: Chinese says as much in fewer
        assert visible and all(len(alt) > shortest for alt in visible), "every map and plot needs alt text"


def test_phone_width_does_not_scroll_sideways(phone):
    page_path, page, problems = phone
    screenshot(page, f"{name_of(page_path)}-phone.png")
    assert problems == []
    # Against the screen's 375 px: on a phone, window.innerWidth widens with a page that is too wide.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide on a {page.viewport_size['width']} px screen"


# Maths in a heading must not reach the table of contents as raw TeX: such headings carry a plain
# data-toc-label. The two pages with maths in headings must show these labels.
TOC_LABELS = {"causal/": "Mask with −∞ before the softmax", "scaling/": "Dot products grow with d_k"}


def test_table_of_contents_shows_no_raw_tex(desktop):
    page_path, page, problems = desktop
    toc = page.evaluate("[...document.querySelectorAll('nav.md-nav--secondary')].map(n => n.textContent).join('\\n')")
    for raw in ("\\(", "\\)", "\\[", "$", "\\infty", "\\sqrt", "{", "}"):
        assert raw not in toc, f"raw TeX {raw!r} in the table of contents of {page_path or 'home'}"
    if page_path in TOC_LABELS:
        assert TOC_LABELS[page_path] in toc
        heading = page.locator("h2", has_text="before the softmax" if page_path == "causal/" else "Dot products grow")
        assert heading.locator(".katex").count() == 1, "the heading itself still shows the maths"
    assert problems == []


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
        if (tops.size > 1) split.push(`${match[0]} in: ${node.data.slice(Math.max(0, match.index - 20), match.index + 20)}`);
      }
    }
  }
  return {cut, split};
}"""


def test_printed_numbers_are_readable_whole_at_phone_width(phone):
    _, page, problems = phone
    found = page.evaluate(READABILITY)
    assert found["cut"] == [], f"content wider than its box that does not scroll: {found['cut'][:5]}"
    assert found["split"] == [], f"numbers split over two lines: {found['split'][:5]}"
    assert problems == []


def test_notebook_code_is_not_cut_off_on_a_desktop(browser, server):
    page, problems = open_page(browser, server + "notebooks/walkthrough/", viewport={"width": 1280, "height": 900})
    found = page.evaluate(READABILITY)
    assert found["cut"] == [] and found["split"] == [], found
    wide = page.evaluate(
        "[...document.querySelectorAll('.jp-InputArea-editor pre')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60))"
    )
    assert page.locator(".jp-InputArea-editor pre").count() > 5
    assert wide == [], f"notebook code wider than the page on a desktop: {wide}"
    assert problems == []
    page.context.close()


def test_search_finds_softmax(browser, server):
    page, problems = open_page(browser, server, viewport={"width": 1280, "height": 900})
    page.locator("input.md-search__input").click()
    page.keyboard.type("softmax", delay=50)  # keystrokes, as a reader types: search listens to keys
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=10_000)
    assert results.count() > 0
    assert "softmax" in page.locator(".md-search-result").inner_text().lower()
    assert problems == []
    page.context.close()


def test_palette_toggle_switches_to_dark(browser, server):
    page, problems = open_page(browser, server + "attention-maps/", viewport={"width": 1280, "height": 900})
    scheme = lambda: page.evaluate("document.body.getAttribute('data-md-color-scheme')")  # noqa: E731
    assert scheme() == "default"
    for _ in range(3):  # system preference -> light -> dark
        if scheme() == "slate":
            break
        page.locator("form[data-md-palette] label:visible").first.click()
    assert scheme() == "slate"
    assert load_images(page) > 0  # the dark twins, lazy and not fetched in light mode, load now
    screenshot(page, "attention-maps-dark.png")
    shown = page.evaluate(
        "[...document.querySelectorAll('.md-content img')].filter(i => i.offsetWidth > 0)"
        ".map(i => [i.src, i.complete && i.naturalWidth > 0])"
    )
    assert shown and all("-dark.svg" in src for src, _ in shown), "dark mode shows the dark maps"
    assert all(loaded for _, loaded in shown), f"dark maps not loaded: {shown}"
    assert problems == []
    page.context.close()


def test_palette_follows_the_system_and_keeps_the_readers_choice(browser, server):
    """overrides/partials/javascripts/palette.html: on a first visit the scheme is the system's, and
    follows it when it changes; the toggle cycles system -> light -> dark -> system (Enter works as a
    click); the choice holds on the next page."""
    page, problems = open_page(browser, server + "causal/", viewport={"width": 1280, "height": 900}, color_scheme="dark")
    scheme = lambda: page.evaluate("document.body.getAttribute('data-md-color-scheme')")  # noqa: E731
    label = lambda: page.locator("form[data-md-palette] label:visible")  # noqa: E731
    assert scheme() == "slate", "a first visit with a dark system preference shows the dark scheme"
    assert label().get_attribute("title") == "Switch to light mode"
    page.emulate_media(color_scheme="light")
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5000)
    label().click()  # -> light
    assert scheme() == "default"
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(100)
    assert scheme() == "default", "a chosen light scheme does not follow the system"
    label().click()  # -> dark
    assert scheme() == "slate"
    page.goto(server + "scaling/", wait_until="load")
    started(page)
    assert scheme() == "slate", "the choice holds on the next page"
    page.locator("form[data-md-palette] input:checked").focus()
    page.keyboard.press("Enter")  # -> system preference (dark here)
    assert label().get_attribute("title") == "Switch to light mode"
    page.emulate_media(color_scheme="light")
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'", timeout=5000)
    assert problems == []
    page.context.close()


def test_javascript_marks_are_set_before_the_body(browser, server):
    """overrides/main.html sets, in the head, the marks Material's bundle sets when it starts (html.js,
    the focus-visible polyfill's class and attribute), so that setting them again later restyles
    nothing; the bundle's own palette component is not mounted (its start-up restyles every element)."""
    context = new_context(browser)
    page = context.new_page()
    page.add_init_script(
        "new MutationObserver(() => { if (document.body && !window.__seen) window.__seen ="
        " [document.documentElement.className, document.documentElement.hasAttribute('data-js-focus-visible')]; })"
        ".observe(document, {childList: true, subtree: true})"
    )
    page.goto(server + "causal/", wait_until="load")
    started(page)
    classes, attribute = page.evaluate("window.__seen")
    assert classes.split() == ["js", "js-focus-visible"] and attribute, (classes, attribute)
    assert page.evaluate("document.documentElement.className").split() == ["js", "js-focus-visible"]
    assert page.locator("[data-md-component='palette']").count() == 0
    context.close()


@pytest.mark.parametrize("page_path", ["trainable/", "zh/trainable/"])
def test_page_load_fetches_only_the_shown_figures_near_the_screen(browser, server, page_path):
    """On a phone in light mode, loading the page fetches none of the dark figures and not the light
    ones far below the screen: the page's load carries no more images than the reader sees."""
    context = new_context(browser, viewport={"width": 375, "height": 812}, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    figures: list[str] = []
    page.on("request", lambda request: figures.append(request.url) if "/images/figures/" in request.url else None)
    page.goto(server + page_path, wait_until="networkidle")
    started(page)
    total = page.locator(".md-content img[src*='images/figures/']").count()
    assert total >= 16
    assert not [url for url in figures if "-dark.svg" in url], figures
    assert len(figures) < total // 2, f"{len(figures)} of {total} figure files fetched at load"
    load_images(page)  # scrolled to, each light figure loads; still no dark one
    assert len(set(figures)) == total // 2 and not [url for url in figures if "-dark.svg" in url]
    context.close()


def test_notebook_download_link(browser, server):
    page, problems = open_page(browser, server + "notebooks/walkthrough/", viewport={"width": 1280, "height": 900})
    link = page.locator("a[title='Download this notebook']")
    with page.expect_download() as download:
        link.click()
    notebook = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4 and len(notebook["cells"]) > 5
    assert problems == []
    page.context.close()


def test_missing_page_gets_the_styled_404_page(browser, server):
    context = new_context(browser, viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(f"HTTP {response.status}: {response.url}") if response.status >= 400 and not response.url.endswith("/no-such-page/") else None)
    response = page.goto(server + "no-such-page/", wait_until="networkidle")
    started(page)
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "404 - Not found"
    # Material's stylesheet applies (the header has the theme's colour) and the logo loads.
    header = page.evaluate("getComputedStyle(document.querySelector('.md-header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
    assert page.evaluate("document.querySelector('.md-logo img').naturalWidth") > 0
    assert failed == []
    screenshot(page, "404-phone.png")
    context.close()


def copied_code(page: Page, url: str) -> list[tuple[bool, str]]:
    """Click the copy button of every doctest block of an opened page; return, for each, whether
    it is a docstring example (on the API reference) and what the clipboard got."""
    origin = re.match(r"https?://[^/]+", url).group(0)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    open_solutions(page)  # a hidden block's copy button cannot be clicked
    return [(in_docstring, text) for in_docstring, text in page.evaluate(COPY_EVERY_BLOCK)]


# In the page, block after block: bring the block into view (Material gives a block its copy button
# when it comes into view: content.lazy), click its button, and wait (up to 5 s) for what the copy
# put on the clipboard, which is then emptied for the next one. One call for the whole page: a
# Playwright round trip per block costs more than the copies.
COPY_EVERY_BLOCK = """async () => {
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  const blocks = [...document.querySelectorAll('div.highlight')].filter(b => b.querySelector('.gp'));
  await navigator.clipboard.writeText('');
  const copied = [];
  for (const [index, block] of blocks.entries()) {
    block.scrollIntoView({block: 'center'});
    let button = null;
    for (let frames = 0; frames < 300 && !(button = block.querySelector("button[data-md-type='copy']")); frames++) await frame();
    if (!button) throw new Error(`block ${index} got no copy button`);
    button.click();
    let text = '';
    for (let waited = 0; waited < 5000 && !(text = await navigator.clipboard.readText()); waited += 10) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    if (!text) throw new Error(`the copy button of block ${index} put nothing on the clipboard in 5 s`);
    await navigator.clipboard.writeText('');
    copied.push([block.closest('.doc-contents') !== null, text]);
  }
  return copied;
}"""


def run_copied(copy_runner: subprocess.Popen, program: str) -> dict:
    """Run a program in the copy runner (a fresh interpreter's state, see tests/copy_runner.py).

    A program is run once per test session: the Chinese pages' code is the English pages' code
    (tests/test_zh_pages.py), and a program that ran in a fresh interpreter runs the same way
    again (every page prints the same on every run: the doc-tests compare its output exactly), so
    the result of the first run, kept in the session's folder, stands for the second."""
    results = Path(os.environ[SHARED]) / "copied" if SHARED in os.environ else None
    kept = results / f"{hashlib.sha256(program.encode()).hexdigest()}.json" if results else None
    if kept is not None and kept.is_file():
        return json.loads(kept.read_text(encoding="utf-8"))
    assert copy_runner.stdin is not None and copy_runner.stdout is not None
    copy_runner.stdin.write(json.dumps(program) + "\n")
    copy_runner.stdin.flush()
    reply = copy_runner.stdout.readline()
    if kept is not None:
        kept.parent.mkdir(exist_ok=True)
        partial = kept.with_suffix(f".{os.getpid()}")
        partial.write_text(reply, encoding="utf-8")
        partial.replace(kept)
    return json.loads(reply)


def doctest_sources(page_path: str) -> list[str]:
    """The code of every ```python block of the page's Markdown, prompts removed."""
    markdown = markdown_of(page_path)
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", markdown.read_text(encoding="utf-8"), flags=re.M | re.S)
    sources = []
    for indent, body in blocks:
        lines = [line[len(indent):] for line in body.splitlines()]
        sources.append("\n".join(line[4:] for line in lines if line.startswith((">>> ", "... ")) or line in (">>>", "...")))
    return sources


def normalise(code: str) -> list[str]:
    return [line.rstrip() for line in code.splitlines() if line.strip()]


def test_copied_code_is_the_code_and_runs(desktop, server, copy_runner):
    page_path, page, problems = desktop
    if page_path not in MARKDOWN_PAGES and page_path != "zh/glossary/":
        pytest.skip("a notebook: its cells run in tests/test_notebook.py")
    copied = copied_code(page, server + page_path)
    assert problems == []
    for _, got in copied:
        assert not any(line.startswith((">>>", "...")) for line in got.splitlines()), got
    from_markdown = [got for in_docstring, got in copied if not in_docstring]
    expected = doctest_sources(page_path)
    assert len(from_markdown) == len(expected)
    assert expected or page_path == "zh/glossary/", f"{page_path or 'home'} has no code to copy"
    for got, want in zip(from_markdown, expected, strict=True):
        assert normalise(got) == normalise(want)
    if copied:
        program = "\n".join(got for _, got in copied)  # docstring examples must run on their own too
        result = run_copied(copy_runner, program)
        assert result["returncode"] == 0, f"the copied code of {page_path or 'home'} fails:\n{result['output'][-3000:]}"


def test_copied_code_runs_as_in_a_fresh_interpreter(copy_runner):
    """What the copy-paste test relies on: each program starts with nothing imported into its
    namespace, sees no state a previous one left, and a failing one is reported."""
    def run(program: str) -> dict:
        copy_runner.stdin.write(json.dumps(program) + "\n")
        copy_runner.stdin.flush()
        return json.loads(copy_runner.stdout.readline())

    assert run("import torch\ntorch.set_default_dtype(torch.float64)\nleft = 1")["returncode"] == 0
    assert run("import torch\nassert torch.get_default_dtype() == torch.float32")["returncode"] == 0
    missing = run("print(left)")
    assert missing["returncode"] == 1 and "NameError" in missing["output"]
    unimported = run("torch.ones(1)")
    assert unimported["returncode"] == 1 and "NameError: name 'torch'" in unimported["output"]


@pytest.mark.parametrize("query", ["点积", "权重", "掩码"])
def test_chinese_search_finds_chinese_words(browser, server, query):
    """The Chinese edition's own search (its index split into words by jieba at build time)."""
    page, problems = open_page(browser, server + "zh/", viewport={"width": 1280, "height": 900})
    page.locator("input.md-search__input").click()
    page.keyboard.type(query, delay=50)  # Chinese characters arrive as text input, with no key events,
    page.keyboard.press("End")  # as from an input method; search runs on the key that follows
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=10_000)
    assert results.count() > 0
    assert query in page.locator(".md-search-result").inner_text()
    assert all("/zh/" in href for href in page.locator(".md-search-result__link").evaluate_all("links => links.map(a => a.href)"))
    assert problems == []
    page.context.close()


def switch_language(page: Page, lang: str) -> None:
    """Choose a language in the header's switcher as a reader does: hover the icon, click the entry."""
    page.locator(".md-header .md-select").hover()
    page.locator(f".md-header a.md-select__link[hreflang='{lang}']").click()
    page.wait_for_load_state("networkidle")
    started(page)


@pytest.mark.parametrize("start", ["simplified/", "notebooks/walkthrough/", ""], ids=name_of)
def test_language_switcher_leads_to_the_same_page(browser, server, start):
    page, problems = open_page(browser, server + start, viewport={"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.lang") == "en"
    switch_language(page, "zh")
    assert page.url == server + "zh/" + start
    assert page.evaluate("document.documentElement.lang") == "zh"
    switch_language(page, "en")
    assert page.url == server + start
    assert page.evaluate("document.documentElement.lang") == "en"
    assert problems == []
    page.context.close()
