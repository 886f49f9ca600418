"""The site build's MkDocs events, each handing on to the modules that take part in it, in order.

``mkdocs_hooks.py`` (the one entry of mkdocs.yml's ``hooks:``) exposes these functions to MkDocs;
see https://www.mkdocs.org/user-guide/configuration/#hooks and the events' documentation,
https://www.mkdocs.org/dev-guide/plugins/#events. The parameters are named as MkDocs passes them.
"""

from __future__ import annotations

from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page

from sitebuild import (
    alt_texts,
    attention_maps,
    attention_variants,
    benchmark_plots,
    chinese,
    figures,
    llms_txt,
    maths,
    notebooks,
    page_assets,
    repository,
)

__all__ = [
    "on_config",
    "on_files",
    "on_nav",
    "on_page_context",
    "on_page_markdown",
    "on_post_build",
    "on_post_page",
    "on_post_template",
    "on_pre_build",
    "on_shutdown",
]


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The Chinese edition's address, no edit links without a repository, the notebooks' configuration."""
    for module in (chinese, repository, notebooks):
        config = module.on_config(config)
    return config


def on_pre_build(config: MkDocsConfig) -> None:
    maths.on_pre_build(config)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """The drawn figures, maps and plots, added to the site as SVG files."""
    for module in (attention_maps, attention_variants, benchmark_plots, figures):
        files = module.on_files(files, config)
    return files


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    return llms_txt.on_nav(nav, config, files)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """The home page's clone line; a page whose figure has another alt text than its code writes fails."""
    markdown = repository.on_page_markdown(markdown, page, config, files)
    return alt_texts.on_page_markdown(markdown, page, config, files)


# Last, after the search plugin has indexed the page's text (see sitebuild/maths.py).
@event_priority(-100)
def on_page_context(context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Navigation) -> dict[str, Any]:
    """The notebook pages' links to the repository, and the maths of the page's body rendered."""
    maths.render_page(page, config)
    return repository.on_page_context(context, page, config, nav)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    output = maths.on_post_page(output, page, config)
    output = notebooks.on_post_page(output, page, config)
    return page_assets.on_post_page(output, page, config)


def on_post_template(output_content: str, template_name: str, config: MkDocsConfig) -> str:
    return page_assets.on_post_template(output_content, template_name, config)


def on_post_build(config: MkDocsConfig) -> None:
    maths.on_post_build(config)
    llms_txt.on_post_build(config)


def on_shutdown() -> None:
    maths.on_shutdown()
