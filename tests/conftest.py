"""Shared fixtures: the site, built with ``mkdocs build --strict`` once per test session.

The builds start in the background as soon as the tests are collected (if any collected test needs
the site), so that they run while the unit tests do; with pytest-xdist one process builds and every
worker uses the result. The site is built as the publishing workflow builds it, with a public
address under a path (``SITE_URL``) and a GitHub repository (``REPO_URL``), and as ``make build``
builds it: both editions, English into the site's root, then the Chinese edition (mkdocs.zh.yml)
into its zh/ folder (the English build empties the site folder first). ``properdocs_site`` is the
English site built by ProperDocs, after the other two. The builds share a build cache
(``SELFATTENTION_BUILD_CACHE``, by default .cache/build/; hooks/generated.py), so each figure is
drawn and the model of the trained-model page is trained once for all three, and again only when
the code or data it is made from changes.
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
# The builds, in the order one background process runs them: (name, command, folder inside the
# build's folder). "site" is ready when its last step is done: English into the site's root, then
# the Chinese edition into its zh/ folder (the English build empties the site's folder first).
# ProperDocs builds last; by then the drawings of the English build are in the build cache
# (hooks/generated.py), so it draws nothing again.
BUILD_STEPS = [
    ("site", [sys.executable, "-m", "mkdocs", "build", "--strict"], "."),
    ("site", [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.zh.yml"], "zh"),
    ("properdocs_site", [sys.executable, "-m", "properdocs", "build", "--strict", "-f", "mkdocs.yml"], "."),
]
BUILDS = list(dict.fromkeys(name for name, _, _ in BUILD_STEPS))
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


# Runs the steps given in argv[2] in order, each step's output to NAME.log, and writes a build's
# return code to NAME.rc after its last step (a failed step fails every later build too).
BUILD_SCRIPT = """
import json, subprocess, sys
from pathlib import Path
shared, steps = Path(sys.argv[1]), json.loads(sys.argv[2])
rc = 0
for i, (name, command) in enumerate(steps):
    with open(shared / f"{name}.log", "a") as log:
        rc = rc or subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if i + 1 == len(steps) or steps[i + 1][0] != name:
        (shared / f"{name}.rc.part").write_text(str(rc))
        (shared / f"{name}.rc.part").rename(shared / f"{name}.rc")
"""


def start_builds(names: set[str]) -> None:
    """Start the builds in ``names`` in the background, once for the whole session (whichever
    process comes first; every process collects the same tests, so asks for the same builds)."""
    shared = Path(os.environ[SHARED])
    try:
        (shared / "builds.started").mkdir()
    except FileExistsError:
        return
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true",
           "SITE_URL": SITE_URL, "REPO_URL": REPO_URL}  # fmt: skip
    env.setdefault("SELFATTENTION_BUILD_CACHE", str(ROOT / ".cache" / "build"))
    steps = [
        (name, [*command, "--site-dir", str((shared / name / folder).resolve())])
        for name, command, folder in BUILD_STEPS
        if name in names
    ]
    command = [sys.executable, "-c", BUILD_SCRIPT, str(shared), json.dumps(steps)]
    _started.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))


def pytest_collection_modifyitems(session, config, items):
    needed = {name for name in BUILDS if any(name in getattr(item, "fixturenames", ()) for item in items)}
    if needed:
        start_builds(needed)


def built(name: str) -> Path:
    start_builds({name})
    shared = Path(os.environ[SHARED])
    rc_file = shared / f"{name}.rc"
    deadline = time.monotonic() + 900
    while not rc_file.exists() or not rc_file.read_text():
        assert time.monotonic() < deadline, f"the {name} build did not finish in 15 minutes"
        time.sleep(0.2)
    log = (shared / f"{name}.log").read_text(encoding="utf-8")
    assert rc_file.read_text() == "0", f"the {name} build (mkdocs/properdocs build --strict) failed:\n{log}"
    quiet = log.replace("[IPKernelApp] WARNING | Kernel is running over TCP", "")
    assert "WARNING" not in quiet, log
    return shared / name


@pytest.fixture(scope="session")
def site() -> Path:
    return built("site")


@pytest.fixture(scope="session")
def properdocs_site() -> Path:
    return built("properdocs_site")
