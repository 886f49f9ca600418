"""Plot every benchmark result in docs/benchmarks/ at build time.

For each ``docs/benchmarks/NAME.json`` written by ``python -m benchmarks``, adds
``images/benchmarks/NAME-light.svg`` and ``NAME-dark.svg`` to the site, drawn by
``benchmarks.plot_results`` from the measured data. For a forward + backward result
(``--backward``) it also adds ``NAME-ratios-light.svg`` and ``NAME-ratios-dark.svg``: each form
against the fused kernel, drawn by ``benchmarks.plot_training_ratios``. In the Chinese edition the
titles and axis labels are in Chinese (sitebuild/strings.py; the forms' names are code: they stay).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from benchmarks import load_results, plot_results, plot_training_ratios
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.generated import add_themed_svgs
from sitebuild.strings import CHINESE, chinese_plot_title
from sitebuild.svg import svg_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def in_chinese_words(figure: Figure) -> Figure:
    """The figure with its title and axis labels in Chinese; an English label with no Chinese fails."""
    for axes in figure.axes:
        for get, set_ in ((axes.get_xlabel, axes.set_xlabel), (axes.get_ylabel, axes.set_ylabel)):
            if get():
                if get() not in CHINESE:
                    raise ValueError(f"no Chinese for the axis label {get()!r}: add it to sitebuild/strings.py")
                set_(CHINESE[get()])
    title = figure.get_suptitle()
    if title:
        # suptitle sets the figure's one title again: it keeps its colour, and is given the size
        # plot_results and plot_training_ratios give it.
        figure.suptitle(chinese_plot_title(title), fontsize=10)
    return figure


def render(plot: Callable[..., Figure], results: Any, theme: str, language: str) -> bytes:
    if language == "zh":
        with chinese_fonts():
            return svg_bytes(in_chinese_words(plot(results, theme=theme)))
    return svg_bytes(plot(results, theme=theme))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    # Each plot's name, with the function that draws it and the results it draws.
    plots = {}
    for path in sorted(Path(config["docs_dir"], "benchmarks").glob("*.json")):
        results = load_results(path)
        plots[path.stem] = (plot_results, results)
        if results.config.get("backward"):
            plots[f"{path.stem}-ratios"] = (plot_training_ratios, results)
    language = "zh" if in_chinese(config) else "en"
    return add_themed_svgs(
        files,
        config,
        "benchmarks",
        plots,
        lambda name, theme, language: render(*plots[name], theme, language),
        language,
    )
