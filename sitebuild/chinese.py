"""The Chinese edition (mkdocs.zh.yml sets theme.language: zh): its addresses and its fonts.

`on_config` acts only in the Chinese build: the Chinese edition is published
under zh/ of the English site, so its ``site_url`` gets ``zh/`` appended (sitemap, canonical
addresses), and its "edit" links point into docs/zh/ (``edit_uri`` ``…/docs/`` becomes ``…/docs/zh/``).
Both come from mkdocs.yml, where they may come from the environment. The headings' permanent links
get a Chinese title (the toc extension's ``permalink_title``, "Permanent link" by default): mkdocs.yml's
``markdown_extensions`` is a list, which mkdocs.zh.yml could only replace whole, not change.

For the figures: `in_chinese(config)` says whether a build is the
Chinese edition; `chinese_fonts()` is a matplotlib rc context that draws text in DejaVu Sans (as
in English) with a CJK font as the fallback for Chinese characters. The SVG files hold the glyphs as
paths, so readers need no font. Without a CJK font the Chinese build stops with the command that
installs one, rather than drawing empty boxes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mkdocs.config.defaults import MkDocsConfig

# Tried in order; the first one installed is used (Debian/Ubuntu: fonts-noto-cjk; macOS: PingFang).
# matplotlib reads the first face of a .ttc collection: Debian's NotoSansCJK-Regular.ttc is "Noto Sans
# CJK JP" to it, which has every simplified Chinese character too.
CJK_FONTS = [
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "WenQuanYi Zen Hei",
]


# The title (tooltip and accessible name) of the ¶ link after every heading, in the Chinese edition.
PERMALINK_TITLE = "永久链接"


def in_chinese(config: MkDocsConfig) -> bool:
    return bool(config["theme"]["language"] == "zh")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if not in_chinese(config):
        return config
    if config.get("site_url") and not config["site_url"].rstrip("/").endswith("/zh"):
        config["site_url"] = config["site_url"].rstrip("/") + "/zh/"
    edit_uri = config.get("edit_uri")
    if edit_uri and edit_uri.rstrip("/").endswith("docs"):
        config["edit_uri"] = edit_uri.rstrip("/") + "/zh/"
    config["mdx_configs"].setdefault("toc", {})["permalink_title"] = PERMALINK_TITLE
    return config


def cjk_font() -> str:
    from matplotlib import font_manager

    for attempt in range(2):
        installed = {font.name for font in font_manager.fontManager.ttflist}
        for name in CJK_FONTS:
            if name in installed:
                return name
        if attempt == 0:  # matplotlib's font cache predates the font: add the system's CJK fonts
            for path in font_manager.findSystemFonts():
                if any(part in path for part in ("CJK", "SourceHan", "PingFang", "msyh", "wqy")):
                    font_manager.fontManager.addfont(path)
    raise RuntimeError(
        "the Chinese edition's figures need a CJK font for matplotlib, one of "
        f"{CJK_FONTS}: on Debian or Ubuntu, apt-get install fonts-noto-cjk"
    )


@contextlib.contextmanager
def chinese_fonts() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context({"font.family": ["DejaVu Sans", cjk_font()]}):
        yield
