"""The maths, rendered to HTML at build time with the site's own copy of KaTeX.

``pymdownx.arithmatex`` (generic mode) leaves ``\\( ... \\)`` and ``\\[ ... \\]`` in ``.arithmatex``
elements of a page's body; notebook Markdown cells keep Jupyter's ``$ ... $`` and ``$$ ... $$``.
`render_page` renders each, in the page's body (``page.content``) and in its table of contents, by
``docs/assets/katex/katex.min.js`` running in Node (one process for the whole build), so a page
arrives with its maths laid out: no KaTeX JavaScript, no layout shift. `on_post_page` links KaTeX's
stylesheet, and preloads the fonts the page's maths uses, only from the pages that show maths.
A formula KaTeX cannot parse fails the build.

The body is rendered once the site's search has indexed it (sitebuild/events.py: the last handler of
``on_page_context``, the event in which Material's search plugin reads ``page.content``): KaTeX writes
each formula three times, as MathML, as its TeX source and as HTML, and the search would index all
three ("dkd_kdk" for d_k), where it now indexes the TeX, as the page's readers type it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import AnchorLink
from mkdocs.utils import get_relative_url

STYLESHEET = "assets/katex/katex.min.css"
ARITHMATEX = re.compile(r'<(?P<tag>span|div) class="arithmatex">(?P<body>.*?)</(?P=tag)>', flags=re.S)
NOTEBOOK_MARKDOWN = re.compile(
    r'(?P<open><div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(?P<body>.*?)(?P<close></div>)', flags=re.S
)
INLINE_TEX = re.compile(r"\\\((?P<inline>.+?)\\\)", flags=re.S)
DOLLARS = re.compile(r"\$\$(?P<display>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$", flags=re.S)
SERVER = r"""
const katex = require(process.argv[1]);
const lines = require("readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { tex, display } = JSON.parse(line);
  let reply;
  try { reply = { html: katex.renderToString(tex, { displayMode: display, throwOnError: true }) }; }
  catch (error) { reply = { error: String(error.message) }; }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
"""


class KaTeX:
    """One Node process that renders formulas, one JSON line in and out each."""

    def __init__(self, katex_js: Path) -> None:
        node = shutil.which("node")
        if node is None:
            raise PluginError("sitebuild/maths.py needs Node.js (node on PATH) to render the maths")
        self.process = subprocess.Popen(
            [node, "-e", SERVER, str(katex_js.resolve())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.cache: dict[tuple[str, bool], str] = {}

    def render(self, tex: str, display: bool, where: str) -> str:
        key = (tex, display)
        if key not in self.cache:
            assert self.process.stdin and self.process.stdout
            self.process.stdin.write(json.dumps({"tex": tex, "display": display}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            if not line:
                raise PluginError(f"{where}: the KaTeX process ended (exit status {self.process.wait()})")
            reply = json.loads(line)
            if "error" in reply:
                raise PluginError(f"{where}: KaTeX cannot render {tex!r}: {reply['error']}")
            self.cache[key] = reply["html"]
        return self.cache[key]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


katex: KaTeX | None = None
# The pages of this build that show maths (their ``src_uri``): they get KaTeX's stylesheet.
with_maths: set[str] = set()


def start(config: MkDocsConfig) -> None:
    """Start the KaTeX process, unless it runs."""
    global katex
    if katex is None:
        katex = KaTeX(Path(config["docs_dir"]) / "assets" / "katex" / "katex.min.js")


def on_pre_build(config: MkDocsConfig) -> None:
    with_maths.clear()
    start(config)


def on_post_build(config: MkDocsConfig) -> None:
    on_shutdown()


def on_shutdown() -> None:
    global katex
    if katex is not None:
        katex.close()
        katex = None


def render_arithmatex(match: re.Match[str], where: str) -> str:
    body = html.unescape(match["body"]).strip()
    if body.startswith("\\(") and body.endswith("\\)"):
        display = False
    elif body.startswith("\\[") and body.endswith("\\]"):
        display = True
    else:
        raise PluginError(f"{where}: unexpected maths {body!r}")
    assert katex is not None
    rendered = katex.render(body[2:-2].strip(), display, where)
    return f'<{match["tag"]} class="arithmatex">{rendered}</{match["tag"]}>'


def render_dollars(match: re.Match[str], where: str) -> str:
    assert katex is not None
    display = match.groupdict().get("display") is not None
    tex = html.unescape(match["display"] if display else match["inline"]).strip()
    return katex.render(tex, display, where)


def render_body(html_: str, where: str) -> tuple[str, bool]:
    """A page's body with every formula rendered, and whether it has any."""
    html_, count = ARITHMATEX.subn(lambda m: render_arithmatex(m, where), html_)
    rendered = 0

    def cell(match: re.Match[str]) -> str:
        nonlocal rendered
        body, n = DOLLARS.subn(lambda m: render_dollars(m, where), match["body"])
        rendered += n
        return match["open"] + body + match["close"]

    html_ = NOTEBOOK_MARKDOWN.sub(cell, html_)
    return html_, bool(count + rendered)


def render_toc(toc: Iterable[AnchorLink], where: str) -> None:
    """Render the maths of the table of contents, which repeats each heading's text with its maths
    as TeX (a heading's ``data-toc-label`` can give it a title without maths)."""
    for item in toc:
        item.title = INLINE_TEX.sub(lambda m: render_dollars(m, where), item.title)
        render_toc(item.children, where)


# The fonts a page's maths needs, by the classes KaTeX gives it: preloaded with the stylesheet, so
# that the maths is drawn in its own font from the first paint (no shift when fonts swap in), and
# so that a formula needing a font found only at layout (e.g. the big brackets of a matrix, Size3)
# does not hold back the paint of its paragraph. KaTeX sets large operators in Size1 (inline,
# small-op) or Size2 (display, large-op), delimiters of size N in SizeN, tall ones built of pieces
# (delimsizing mult) in Size4, and \mathbb in AMS.
FONTS = {
    "KaTeX_Main-Regular": re.compile(r'class="katex"'),
    "KaTeX_Math-Italic": re.compile(r'class="[^"]*\bmathnormal\b'),
    "KaTeX_AMS-Regular": re.compile(r'class="[^"]*\b(?:mathbb|amsrm)\b'),
    "KaTeX_Size1-Regular": re.compile(r'class="[^"]*\b(?:small-op|delimsizing size1)\b'),
    "KaTeX_Size2-Regular": re.compile(r'class="[^"]*\b(?:large-op|delimsizing size2)\b'),
    "KaTeX_Size3-Regular": re.compile(r'class="[^"]*\bdelimsizing size3\b'),
    "KaTeX_Size4-Regular": re.compile(r'class="[^"]*\b(?:delimsizing size4|delimsizing mult)\b'),
}


def head_links(output: str, page_url: str) -> str:
    links = [f'<link rel="stylesheet" href="{get_relative_url(STYLESHEET, page_url)}">']
    for font, marker in FONTS.items():
        if marker.search(output):
            href = get_relative_url(f"assets/katex/fonts/{font}.woff2", page_url)
            links.append(f'<link rel="preload" href="{href}" as="font" type="font/woff2" crossorigin>')
    return "\n".join(links)


def render_page(page: Page, config: MkDocsConfig) -> None:
    """Render the maths of ``page.content`` and of the page's table of contents."""
    start(config)
    page.content, has_maths = render_body(page.content or "", page.file.src_uri)
    render_toc(page.toc, page.file.src_uri)
    if has_maths:
        with_maths.add(page.file.src_uri)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """KaTeX's stylesheet and the fonts the page's maths uses, before the page's first stylesheet."""
    if page.file.src_uri in with_maths:
        first_stylesheet = output.index('<link rel="stylesheet"')
        output = output[:first_stylesheet] + head_links(output, page.url) + "\n" + output[first_stylesheet:]
    return output
