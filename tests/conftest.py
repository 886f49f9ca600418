"""Shared fixtures: the site, built with ``mkdocs build --strict`` once per test session.

The build starts in the background as soon as the tests are collected (if any collected test needs
the site), so that it runs while the unit tests do; with pytest-xdist one process builds it and
every worker uses it. It is built as the publishing workflow builds it, with a public address
under a path (``SITE_URL``) and a GitHub repository (``REPO_URL``), and as ``make build`` builds
it: both editions, English into the site's root, then the Chinese edition (mkdocs.zh.yml) into its
zh/ folder (the English build empties the site folder first). ``properdocs_site`` is the English
site built by ProperDocs, started the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SITE_URL = "https://example.github.io/selfattention/"
REPO_URL = "https://github.com/example/selfattention"
# Each build: one or more (command, folder inside the build's folder), run in order.
BUILDS = {
    "site": [
        ([sys.executable, "-m", "mkdocs", "build", "--strict"], "."),
        ([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.zh.yml"], "zh"),
    ],
    "properdocs_site": [([sys.executable, "-m", "properdocs", "build", "--strict", "-f", "mkdocs.yml"], ".")],
}
SHARED = "SELFATTENTION_TEST_BUILDS"


class _EnvLoader(yaml.SafeLoader):
    pass


_EnvLoader.add_constructor("!ENV", lambda loader, node: None)
_EnvLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: None)


def nav_pages(config_file: str = "mkdocs.yml") -> list[str]:
    """The URL (relative to the edition's root) of every page in a config's nav, in nav order."""
    config = yaml.load((ROOT / config_file).read_text(encoding="utf-8"), Loader=_EnvLoader)

    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                yield from walk(value)
            elif not value.startswith(("http://", "https://")):
                stem = value.rsplit(".", 1)[0]
                yield "" if stem == "index" else (stem[: -len("/index")] if stem.endswith("/index") else stem) + "/"

    return list(walk(config["nav"]))


def all_pages() -> list[str]:
    """Every page of both editions, relative to the site's root: English, then Chinese under zh/."""
    return nav_pages() + [f"zh/{page}" for page in nav_pages("mkdocs.zh.yml")]


def pytest_configure(config):
    # The controller (or a run without xdist) chooses where the builds go; workers inherit it.
    if not hasattr(config, "workerinput") and SHARED not in os.environ:
        os.environ[SHARED] = tempfile.mkdtemp(prefix="selfattention-builds-")
        config._selfattention_builds = os.environ[SHARED]


def pytest_unconfigure(config):
    for process in _started:
        if process.poll() is None:
            process.terminate()
            process.wait()
    builds = getattr(config, "_selfattention_builds", None)
    if builds:
        shutil.rmtree(builds, ignore_errors=True)
        del os.environ[SHARED]


_started: list[subprocess.Popen] = []


def start_build(name: str) -> None:
    """Start building the site into $SHARED/name once for the whole session (any process)."""
    shared = Path(os.environ[SHARED])
    try:
        (shared / f"{name}.started").mkdir()
    except FileExistsError:
        return
    log = open(shared / f"{name}.log", "w")  # noqa: SIM115 - the build process writes it
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true",
           "SITE_URL": SITE_URL, "REPO_URL": REPO_URL}  # fmt: skip
    script = (
        "import json, subprocess, sys\n"
        "rc = 0\n"
        "for command in json.loads(sys.argv[2]):\n"
        "    rc = subprocess.run(command).returncode\n"
        "    if rc: break\n"
        "open(sys.argv[1], 'w').write(str(rc))"
    )
    commands = [[*command, "--site-dir", str((shared / name / folder).resolve())] for command, folder in BUILDS[name]]
    command = [sys.executable, "-c", script, str(shared / f"{name}.rc"), json.dumps(commands)]
    _started.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))


def pytest_collection_modifyitems(session, config, items):
    for name in BUILDS:
        if any(name in getattr(item, "fixturenames", ()) for item in items):
            start_build(name)


def built(name: str) -> Path:
    start_build(name)
    shared = Path(os.environ[SHARED])
    rc_file = shared / f"{name}.rc"
    deadline = time.monotonic() + 900
    while not rc_file.exists() or not rc_file.read_text():
        assert time.monotonic() < deadline, f"the {name} build did not finish in 15 minutes"
        time.sleep(0.2)
    log = (shared / f"{name}.log").read_text(encoding="utf-8")
    assert rc_file.read_text() == "0", f"{BUILDS[name][0][0][2]} build --strict failed:\n{log}"
    quiet = log.replace("[IPKernelApp] WARNING | Kernel is running over TCP", "")
    assert "WARNING" not in quiet, log
    return shared / name


@pytest.fixture(scope="session")
def site() -> Path:
    return built("site")


@pytest.fixture(scope="session")
def properdocs_site() -> Path:
    return built("properdocs_site")
