"""The notebooks' executed outputs, the same on every build.

mkdocs-jupyter executes each notebook at build time and reads the user's nbconvert configuration
from Jupyter's configuration path; `on_config` puts sitebuild/jupyter/ first on that path
(``JUPYTER_CONFIG_PATH``, for this build's process only), whose configuration merges what a cell
prints into one output per stream (see sitebuild/jupyter/jupyter_nbconvert_config.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig

CONFIG_DIR = Path(__file__).resolve().parent / "jupyter"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    paths = [path for path in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if path]
    if str(CONFIG_DIR) not in paths:
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(CONFIG_DIR), *paths])
    return config
