"""Each page loads what it uses, and what it shows is sized and labelled.

- mkdocstrings' stylesheet only on the pages that show API documentation (``.doc`` elements);
- on notebook pages, the JupyterLab CSS that mkdocs-jupyter inlines (about 600 KiB) is cut down
  to the rules whose classes occur on the page: a selector that names a class no element has
  matches nothing on a page that adds no classes after load, so what is shown is unchanged;
- every ``<img>`` of an SVG from the site gets ``width`` and ``height`` from the drawing, so the
  browser reserves its box before it loads (no layout shift);
- the images of the page's content (figures, attention maps, plots) load lazily and decode off the
  main thread (``loading="lazy" decoding="async"``): each is drawn twice, for the light and the dark
  scheme, and the browser fetches only the one shown (the other is ``display: none``, which a lazy
  image never intersects), and only when it nears the screen. Chrome parses an SVG image into a
  document of its own on the main thread, so these were most of the page's work at load;
- the head's ``hreflang`` links to the two editions are absolute addresses (search engines ignore
  relative ones), from ``site_url`` and ``extra.alternate``;
- the search dialog gets an accessible name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import tinycss2  # type: ignore[import-untyped]
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.pages import Page

MKDOCSTRINGS_CSS = re.compile(r'\s*<link rel="stylesheet" href="[^"]*assets/_mkdocstrings\.css">')
SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'
STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", flags=re.S)
CLASS_ATTRIBUTE = re.compile(r'\bclass="([^"]*)"')
SELECTOR_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
IMG = re.compile(r"<img\b[^>]*>")
ARTICLE = re.compile(r'(<article class="md-content__inner[^"]*">)(.*?)(</article>)', flags=re.S)
ALTERNATE = re.compile(r'<link rel="alternate" href="[^"]*" hreflang="([^"]*)">')
LENGTH = re.compile(r"([\d.]+)(px|pt)?$")


# `.jupyter-wrapper :root` or `.jupyter-wrapper body`: the root and the body are never inside.
DEAD = re.compile(r"\S\s+(?::root|html|body)\b")
VARIABLE_USE = re.compile(r"var\(\s*(--[\w-]+)")


def split_selectors(prelude: str) -> list[str]:
    """A selector list split at its top-level commas (not those inside :is(...) or [...])."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(prelude):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(prelude[start:index])
            start = index + 1
    return [*parts, prelude[start:]]


def live_rules(rules: Iterable[Any], classes: set[str]) -> list[Any]:
    """(selectors or at-rule prelude, declarations or nested list) of the rules that can match."""
    kept: list[Any] = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = [s.strip() for s in split_selectors(tinycss2.serialize(rule.prelude)) if s.strip()]
            live = [s for s in selectors if set(SELECTOR_CLASS.findall(s)) <= classes and not DEAD.search(s)]
            if live:
                declarations = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
                kept.append((", ".join(live), [d for d in declarations if d.type == "declaration"]))
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content:
            inner = live_rules(tinycss2.parse_rule_list(rule.content, True, True), classes)
            if inner:
                kept.append((f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}", inner))
        # @font-face, @keyframes, @import: JupyterLab's fonts and animations; the page uses Material's.
    return kept


def declarations_of(rules: list[Any]) -> Iterator[Any]:
    for _, body in rules:
        if body and not hasattr(body[0], "name"):
            yield from declarations_of(body)
        else:
            yield from body


def serialise(rules: list[Any], variables: set[str]) -> str:
    out = []
    for head, body in rules:
        if body and not hasattr(body[0], "name"):
            inner = serialise(body, variables)
            if inner:
                out.append(f"{head}{{{inner}}}")
            continue
        text = ";".join(
            f"{d.name}:{tinycss2.serialize(d.value).strip()}{' !important' if d.important else ''}"
            for d in body
            if not d.name.startswith("--") or d.name in variables
        )
        if text:
            out.append(f"{head}{{{text}}}")
    return "\n".join(out)


def trim_styles(output: str) -> str:
    classes = {name for value in CLASS_ATTRIBUTE.findall(output) for name in value.split()}
    head, separator, body = output.partition("<body")
    sheets = [live_rules(tinycss2.parse_stylesheet(m[2], True, True), classes) for m in STYLE.finditer(body)]
    # Custom properties used by a kept declaration, or by a custom property so used, or by the page.
    declarations = [d for rules in sheets for d in declarations_of(rules)]
    used = set(VARIABLE_USE.findall(STYLE.sub("", body)))
    while True:
        more = {
            name
            for d in declarations
            if not d.name.startswith("--") or d.name in used
            for name in VARIABLE_USE.findall(tinycss2.serialize(d.value))
        } - used
        if not more:
            break
        used |= more
    trimmed = iter(serialise(rules, used) for rules in sheets)
    return head + separator + STYLE.sub(lambda m: m[1] + next(trimmed) + m[3], body)


def svg_size(path: Path) -> tuple[int, int] | None:
    opening = re.search(r"<svg\b[^>]*>", path.read_text(encoding="utf-8", errors="replace"))
    if not opening:
        return None
    sizes = []
    for name in ("width", "height"):
        value = re.search(rf'\b{name}="([^"]+)"', opening[0])
        length = LENGTH.match(value[1]) if value else None
        if not length:
            return None
        sizes.append(round(float(length[1]) * (4 / 3 if length[2] == "pt" else 1)))
    return sizes[0], sizes[1]


def size_images(output: str, page: Page, config: MkDocsConfig) -> str:
    site = Path(config["site_dir"])

    def size(match: re.Match[str]) -> str:
        tag = match[0]
        source = re.search(r'\bsrc="([^"]+)"', tag)
        if " width=" in tag or not source or urlsplit(source[1]).scheme or not source[1].split("#")[0].endswith(".svg"):
            return tag
        target = site / urljoin("/" + page.url, source[1].split("#")[0]).lstrip("/")
        dimensions = svg_size(target) if target.is_file() else None
        if dimensions is None:
            return tag
        return tag[:-1].rstrip("/").rstrip() + f' width="{dimensions[0]}" height="{dimensions[1]}">'

    return IMG.sub(size, output)


def lazy_images(output: str) -> str:
    """``loading="lazy" decoding="async"`` on every ``<img>`` of the page's content (not the
    header's logo)."""

    def lazy(match: re.Match[str]) -> str:
        tag = match[0]
        if " loading=" in tag:
            return tag
        return tag[:-1].rstrip("/").rstrip() + ' loading="lazy" decoding="async">'

    return ARTICLE.sub(lambda m: m[1] + IMG.sub(lazy, m[2]) + m[3], output)


def absolute_alternates(output: str, config: MkDocsConfig) -> str:
    """Material links the editions' home pages relative to the page; hreflang needs absolute URLs."""
    if not config.get("site_url"):
        return output
    roots = {alt["lang"]: urljoin(config["site_url"], alt["link"]) for alt in config["extra"].get("alternate", [])}
    return ALTERNATE.sub(
        lambda m: f'<link rel="alternate" href="{roots[m[1]]}" hreflang="{m[1]}">' if m[1] in roots else m[0], output
    )


def search_label(config: MkDocsConfig) -> str:
    """The search dialog's label in the edition's language (mkdocs.zh.yml: theme.language zh)."""
    return "搜索" if config["theme"]["language"] == "zh" else "Search"


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    if SEARCH_DIALOG not in output:
        raise PluginError("sitebuild/page_assets.py: Material's search dialog changed; label it anew")
    output = output.replace(SEARCH_DIALOG, SEARCH_DIALOG[:-1] + f' aria-label="{search_label(config)}">', 1)
    if 'class="doc doc-' not in output:
        output = MKDOCSTRINGS_CSS.sub("", output)
    if page.file.src_uri.endswith(".ipynb"):
        output = trim_styles(output)
    return absolute_alternates(lazy_images(size_images(output, page, config)), config)


def on_post_template(output: str, template_name: str, config: MkDocsConfig) -> str:
    """The 404 page is a theme template, not a page: label its search dialog too."""
    if template_name == "404.html":
        output = output.replace(SEARCH_DIALOG, SEARCH_DIALOG[:-1] + f' aria-label="{search_label(config)}">', 1)
        output = absolute_alternates(output, config)
    return output
