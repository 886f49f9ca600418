"""The installed package: what ``import selfattention`` loads, and its version."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import selfattention

ROOT = Path(__file__).resolve().parent.parent


def test_import_does_not_load_matplotlib():
    """matplotlib is optional (``selfattention[plot]``): `selfattention.plot_attention` imports it when called."""
    code = "import selfattention, sys; assert 'matplotlib' not in sys.modules, 'import selfattention loaded matplotlib'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_version_is_the_installed_metadata_of_pyproject():
    declared = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert declared is not None, "pyproject.toml declares no version"
    assert selfattention.__version__ == version("selfattention") == declared[1]
