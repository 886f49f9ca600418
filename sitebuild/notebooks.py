"""The notebooks' executed outputs, the same on every build.

mkdocs-jupyter executes each notebook at build time and reads the user's nbconvert configuration
from Jupyter's configuration path; `on_config` puts sitebuild/jupyter/ first on that path
(``JUPYTER_CONFIG_PATH``, for this build's process only), whose configuration merges what a cell
prints into one output per stream (see sitebuild/jupyter/jupyter_nbconvert_config.py).

`on_post_page` gives the Chinese edition's notebook pages the copy buttons' words in Chinese:
mkdocs-jupyter's cell template (``notebook.html.j2``) writes them in English and has no setting for
them, so they are replaced in the page it wrote (``CHINESE_BUTTON``; each must be found, or the build fails).
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.pages import Page

from sitebuild.chinese import in_chinese

CONFIG_DIR = Path(__file__).resolve().parent / "jupyter"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    paths = [path for path in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if path]
    if str(CONFIG_DIR) not in paths:
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(CONFIG_DIR), *paths])
    return config


# mkdocs-jupyter's words on each code cell's copy button (its accessible name, and the notice shown
# once the cell is copied), in Chinese (Material's own copy button says 复制 and 已复制).
CHINESE_BUTTON = {
    'aria-label="Copy to Clipboard"': 'aria-label="复制到剪贴板"',
    ">Copied!</span>": ">已复制</span>",
}


def in_chinese_words(output: str) -> str:
    """A notebook page's HTML with mkdocs-jupyter's button words in Chinese.

    Raises:
        ValueError: ``output`` lacks one of the words (a new mkdocs-jupyter writes them otherwise).
    """
    for english, chinese in CHINESE_BUTTON.items():
        if english not in output:
            raise ValueError(f"output has no {english!r} to write in Chinese: see CHINESE_BUTTON in {__name__}")
        output = output.replace(english, chinese)
    return output


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    if in_chinese(config) and page.file.src_uri.endswith(".ipynb"):
        return in_chinese_words(output)
    return output
