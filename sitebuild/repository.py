"""What the site says about its repository, from ``repo_url`` when it is known.

- With no ``repo_url`` (a local build: ``make build``, ``make serve``) there are no "edit" links:
  ``edit_uri`` is dropped, since MkDocs would warn on every page about an edit address with no
  repository to join it to.
- The home page's set-up block clones the real repository (``git clone <this repository>`` in
  ``docs/index.md`` becomes ``git clone REPO_URL.git``); with no ``repo_url`` (a local build) the
  line becomes ``cd selfattention``, the folder of the reader's copy, so the block still reads and
  runs as written.
- Notebook pages get ``colab_url`` (Open in Colab, for a GitHub repository) and ``source_url``
  (the notebook in the repository), used by ``overrides/main.html``.

``repo_url`` comes from the environment (``REPO_URL``, see mkdocs.yml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page

CLONE = re.compile(r"^(?P<indent> *)git clone <this repository> (?P<folder>\S+) && cd (?P=folder)\s*$", re.M)


def branch(config: MkDocsConfig) -> str:
    """The branch that ``edit_uri`` (``edit/BRANCH/docs/``) names; ``main`` otherwise."""
    parts = (config.get("edit_uri") or "").strip("/").split("/")
    return parts[1] if len(parts) > 2 and parts[0] in ("edit", "blob", "tree") else "main"


def repository(config: MkDocsConfig) -> str | None:
    url = (config.get("repo_url") or "").rstrip("/")
    return url or None


def clone_line(markdown: str, repo_url: str | None) -> str:
    def replace(match: re.Match[str]) -> str:
        indent, folder = match["indent"], match["folder"]
        if repo_url:
            return f"{indent}git clone {repo_url}.git {folder} && cd {folder}"
        return f"{indent}cd {folder}  # your copy of the project's repository"

    return CLONE.sub(replace, markdown)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if repository(config) is None:
        config["edit_uri"] = None
    return config


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == "index.md":
        return clone_line(markdown, repository(config))
    return markdown


def notebook_links(src_uri: str, config: MkDocsConfig) -> dict[str, str]:
    repo_url = repository(config)
    if not repo_url:
        return {}
    # The docs folder relative to the repository's root (the config's folder): docs/ or docs/zh/.
    docs = Path(config["docs_dir"]).resolve().relative_to(Path(config["config_file_path"]).resolve().parent)
    path = f"{docs.as_posix()}/{src_uri}"
    links = {"source_url": f"{repo_url}/blob/{branch(config)}/{path}"}
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", repo_url)
    if match:
        links["colab_url"] = f"https://colab.research.google.com/github/{match[1]}/blob/{branch(config)}/{path}"
    return links


def on_page_context(context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Navigation) -> dict[str, Any]:
    if page.file.src_uri.endswith(".ipynb"):
        context.update(notebook_links(page.file.src_uri, config))
    return context
