"""Chinese labels for the figures of the Chinese edition (mkdocs.zh.yml sets theme.language: zh).

Not a hook itself: the figure hooks import it. `in_chinese(config)` says whether a build is the
Chinese edition; `chinese_fonts()` is a matplotlib rc context that draws text in DejaVu Sans (as
in English) with a CJK font as the fallback for Chinese characters. The SVG files hold the glyphs as
paths, so readers need no font. Without a CJK font the Chinese build stops with the command that
installs one, rather than drawing empty boxes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# Tried in order; the first one installed is used (Debian/Ubuntu: fonts-noto-cjk; macOS: PingFang).
# matplotlib reads the first face of a .ttc collection: Debian's NotoSansCJK-Regular.ttc is "Noto Sans
# CJK JP" to it, which has every simplified Chinese character too.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
             "WenQuanYi Zen Hei"]  # fmt: skip


def in_chinese(config) -> bool:
    return config["theme"]["language"] == "zh"


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
