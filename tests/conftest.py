"""Shared fixtures: the site, built once per test session with mkdocs build --strict.

Both editions, as `make build` builds them: English into the site's root, then the Chinese edition
(mkdocs.zh.yml) into its zh/ folder (the English build empties the site folder first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def build(config: str, site_dir: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "--site-dir", str(site_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict -f {config} failed:\n{log}"
    assert "WARNING" not in log.replace("[IPKernelApp] WARNING | Kernel is running over TCP", ""), log


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    build("mkdocs.yml", site_dir)
    build("mkdocs.zh.yml", site_dir / "zh")
    return site_dir
