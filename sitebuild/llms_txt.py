"""``llms.txt`` (https://llmstxt.org) for the site, and the pages' Markdown beside them.

``llms.txt`` names the site, says what it is and links every page of the navigation, in its order and
under the heading of its part of the reading path (a navigation section; pages outside one come first,
under "Pages"), to a plain-text copy: the page's Markdown source (published next to the page, e.g. ``scaling.md``)
or, for a notebook, the ``.ipynb`` file. ``llms-full.txt`` is every Markdown page in one file.
Pages are taken from the navigation, so a page added to ``nav`` is listed with no change here.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure import StructureItem
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

pages: list[Page] = []
# The heading each page of `pages` is listed under: "Pages", or the title of its top-level nav section.
parts: list[str] = []


def pages_in(items: list[StructureItem]) -> list[Page]:
    """The pages of nav items, in nav order, those of nested sections included."""
    found: list[Page] = []
    for item in items:
        if isinstance(item, Page):
            found.append(item)
        elif isinstance(item, Section):
            found += pages_in(item.children)
    return found


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    pages.clear()
    parts.clear()
    for item in nav.items:
        found = pages_in([item])
        pages.extend(found)
        parts.extend([str(item.title) if isinstance(item, Section) else "Pages"] * len(found))
    return nav


def text_url(page: Page) -> str:
    """Where a page's plain-text source is published, relative to the site's root."""
    if page.file.src_uri.endswith(".ipynb"):
        return f"{page.url}{Path(page.file.src_uri).name}"
    return str(page.file.src_uri)


def on_post_build(config: MkDocsConfig) -> None:
    site = Path(config["site_dir"])
    base = config.get("site_url") or ""
    lines = [f"# {config['site_name']}", "", f"> {config.get('site_description') or ''}"]
    full = [f"# {config['site_name']}", "", f"> {config.get('site_description') or ''}", ""]
    heading = None
    for page, part in zip(pages, parts, strict=True):
        if part != heading:
            lines += ["", f"## {part}", ""]
            heading = part
        url = text_url(page)
        link = base + url if base else get_relative_url(url, "")
        title = page.title or page.file.name
        description = page.meta.get("description")
        lines.append(f"- [{title}]({link})" + (f": {description}" if description else ""))
        if not page.file.src_uri.endswith(".ipynb"):
            source = Path(str(page.file.abs_src_path)).read_text(encoding="utf-8")
            target = site / page.file.src_uri
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
            full += [f"<!-- {page.file.src_uri} -->", "", source.rstrip(), ""]
    (site / "llms.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (site / "llms-full.txt").write_text("\n".join(full) + "\n", encoding="utf-8")
