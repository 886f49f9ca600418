"""Tier 2 (`make test-site`): the built site. Fixtures shared by its tests.

``site`` is the site built as the publishing workflow builds it: both editions with
``mkdocs build --strict``, English into the folder's root, then the Chinese edition (mkdocs.zh.yml)
into its zh/ folder, with a public address under a path (``SITE_URL``) and a GitHub repository
(``REPO_URL``). It is built once per test session: with pytest-xdist, the first worker that needs it
builds it under a file lock, in the session's shared temporary folder, and the others read it (the
recipe of pytest-xdist's documentation, "Making session-scoped fixtures execute only once").
``SELFATTENTION_SITE`` names a folder already built that way (with ``SITE_URL`` and ``REPO_URL`` in
the environment as for its build), to test it without building again.

``server`` serves it on 127.0.0.1 as GitHub Pages serves a project site, and ``browser`` is Chromium
driven by Playwright, for the tests that open the pages. ``on_every_page`` runs a check on every page
and collects every failure, so that a test of a property reports all the pages that lack it at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from filelock import FileLock
from playwright.sync_api import Browser, sync_playwright

from sitebuild.serve import serve

ROOT = Path(__file__).resolve().parents[2]
# The public address (under a path, as a project site's) and the GitHub repository the site is built
# for; CI's own, from the environment, when it tests the site it publishes (SELFATTENTION_SITE).
SITE_URL = os.environ.get("SITE_URL") or "https://example.github.io/selfattention/"
REPO_URL = os.environ.get("REPO_URL") or "https://github.com/example/selfattention"
BUILD_ENV = {"SITE_URL": SITE_URL, "REPO_URL": REPO_URL}


class ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml's own tags (!ENV and python/name) as nothing: only the nav is read here."""


ConfigLoader.add_constructor("!ENV", lambda loader, node: None)
ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: None)


def read_config(config_file: str = "mkdocs.yml") -> dict:
    return yaml.load((ROOT / config_file).read_text(encoding="utf-8"), Loader=ConfigLoader)


def nav_pages(config_file: str = "mkdocs.yml") -> list[str]:
    """The URL (relative to the edition's root) of every page in a config's nav, in nav order."""

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                yield from walk(value)
            elif not value.startswith(("http://", "https://")):
                stem = value.rsplit(".", 1)[0]
                yield "" if stem == "index" else (stem[: -len("/index")] if stem.endswith("/index") else stem) + "/"

    return list(walk(read_config(config_file)["nav"]))


def all_pages() -> list[str]:
    """Every page of both editions, relative to the site's root: English, then Chinese under zh/."""
    return nav_pages() + [f"zh/{page}" for page in nav_pages("mkdocs.zh.yml")]


def build_site(folder: Path) -> None:
    """Both editions with --strict into ``folder``, as the workflow builds them; fails on a warning."""
    env = {**os.environ, **BUILD_ENV, "NO_MKDOCS_2_WARNING": "1"}
    for command in (["--site-dir", str(folder)], ["-f", "mkdocs.zh.yml", "--site-dir", str(folder / "zh")]):
        result = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        log = result.stdout + result.stderr
        assert result.returncode == 0, f"mkdocs build --strict {' '.join(command)} failed:\n{log}"
        assert "WARNING" not in log.replace("[IPKernelApp] WARNING | Kernel is running over TCP", ""), log


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site (both editions), built once per test session."""
    if os.environ.get("SELFATTENTION_SITE"):
        return Path(os.environ["SELFATTENTION_SITE"]).resolve()
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base
    folder, failed = shared / "site", shared / "site.failed"
    with FileLock(str(shared / "site.lock")):
        assert not failed.exists(), failed.read_text(encoding="utf-8")
        if not (folder / "zh" / "index.html").is_file():
            try:
                build_site(folder)
            except AssertionError as error:
                failed.write_text(str(error), encoding="utf-8")
                raise
    return folder


def on_every_page(pages: Iterable[str], check: Callable[[str], Iterable[str]]) -> list[str]:
    """Every failure ``check`` reports on any of ``pages``, each prefixed with its page.

    ``check(page)`` yields a line per failure. An exception it raises (a page missing an element the
    check reads) counts as that page's failure, and the other pages are still checked, so that a test
    of a property reports every page that lacks it at once."""
    failures = []
    for page in pages:
        try:
            failures += [f"{page or 'home'}: {failure}" for failure in check(page)]
        except Exception as error:
            failures.append(f"{page or 'home'}: {type(error).__name__}: {error}")
    return failures


# The site served as GitHub Pages serves a project site: under the path of its public address
# (/selfattention/), gzip-compressed, and 404.html with status 404 for a missing page.
PREFIX = urlsplit(SITE_URL).path


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    """The address (``http://127.0.0.1:PORT/selfattention/``) at which ``site`` is served, by the
    server of `make serve` (sitebuild/serve.py)."""
    httpd, address = serve(site, prefix=PREFIX)
    yield address
    httpd.shutdown()
    httpd.server_close()


# Debian's headless shell (package chromium-headless-shell): the Chromium build Playwright itself runs
# for headless tests, with the same engine as the browser and less than half its CPU time per page;
# Debian's full browser otherwise. SELFATTENTION_CHROMIUM chooses another (e.g. a runner's Chrome).
HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
CHROMIUM = Path(
    os.environ.get("SELFATTENTION_CHROMIUM") or (HEADLESS_SHELL if HEADLESS_SHELL.exists() else "/usr/bin/chromium")
)
# No background traffic to hosts that cannot be reached from the tests.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
CHROMIUM_ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Chromium, driven by Playwright: one per test process. Without it, the tests that need it are
    skipped, or fail with SELFATTENTION_REQUIRE_BROWSER=1 (as in CI)."""
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} not found: install Debian's chromium-headless-shell (apt-get install chromium-headless-shell)"
        )
        if os.environ.get("SELFATTENTION_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
