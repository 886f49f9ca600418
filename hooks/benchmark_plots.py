"""MkDocs hook: plot every benchmark result in docs/benchmarks/ at build time.

For each ``docs/benchmarks/NAME.json`` written by ``python -m selfattention.benchmark``, adds
``images/benchmarks/NAME-light.svg`` and ``NAME-dark.svg`` to the site, drawn by
``selfattention.benchmark.plot_results`` from the measured data. For a forward + backward result
(``--backward``) it also adds ``NAME-ratios-light.svg`` and ``NAME-ratios-dark.svg``: each form
against the fused kernel, drawn by ``selfattention.benchmark.plot_training_ratios``. In the
Chinese edition the titles and axis labels are in Chinese (the forms' names are code: they stay).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.structure.files import Files

from selfattention.benchmark import load_results, plot_results, plot_training_ratios
from selfattention.plotting import svg_bytes

sys.path.insert(0, str(Path(__file__).parent))
from chinese import chinese_fonts, in_chinese  # noqa: E402
from generated import add_themed_svgs  # noqa: E402

# The plots' words in the Chinese edition (docs/zh/glossary.md's terms, docs/zh/performance.md's wording).
CHINESE = {
    "sequence length n": "序列长度 n",
    "median time (ms)": "时间的中位数（毫秒）",
    "median CPU time, forward + backward (ms)": "CPU 时间的中位数，前向 + 反向（毫秒）",
    "peak memory (MiB)": "峰值内存（MiB）",
    "peak memory above inputs (MiB)": "超出输入部分的峰值内存（MiB）",
    "CPU time / sdpa's": "CPU 时间 / sdpa 的",
    "memory above inputs / sdpa's": "超出输入部分的内存 / sdpa 的",
    "forward + backward, relative to torch's fused scaled_dot_product_attention":
        "前向 + 反向，相对于 torch 的融合 scaled_dot_product_attention",
}  # fmt: skip
# plot_results' title: the machine, then the configuration of the run.
TITLE = re.compile(
    r"(?P<machine>.+): batch (?P<batch>\d+), (?P<heads>\d+) heads, head size (?P<head_dim>\d+), (?P<dtype>\w+)"
    r"(?P<training>, forward \+ backward)?"
)


def chinese_title(title: str) -> str:
    if title in CHINESE:
        return CHINESE[title]
    match = TITLE.fullmatch(title)
    if match is None:
        raise ValueError(f"hooks/benchmark_plots.py: no Chinese for the plot title {title!r}")
    return (
        f"{match['machine']}：批大小 {match['batch']}，{match['heads']} 个头，头大小 {match['head_dim']}，{match['dtype']}"
        + ("，前向 + 反向" if match["training"] else "")
    )


def in_chinese_words(figure):
    """The figure with its title and axis labels in Chinese; an English label with no Chinese fails."""
    for axes in figure.axes:
        for get, set_ in ((axes.get_xlabel, axes.set_xlabel), (axes.get_ylabel, axes.set_ylabel)):
            if get():
                if get() not in CHINESE:
                    raise ValueError(f"hooks/benchmark_plots.py: no Chinese for the axis label {get()!r}")
                set_(CHINESE[get()])
    title = figure.get_suptitle()
    if title:
        # suptitle sets the figure's one title again: it keeps its colour, and is given the size
        # plot_results and plot_training_ratios give it.
        figure.suptitle(chinese_title(title), fontsize=10)
    return figure


def render(plot, results, theme: str, language: str) -> bytes:
    if language == "zh":
        with chinese_fonts():
            return svg_bytes(in_chinese_words(plot(results, theme=theme)))
    return svg_bytes(plot(results, theme=theme))


def on_files(files: Files, config) -> Files:
    # Each plot's name, with the function that draws it and the results it draws.
    plots = {}
    for path in sorted(Path(config["docs_dir"], "benchmarks").glob("*.json")):
        results = load_results(path)
        plots[path.stem] = (plot_results, results)
        if results.config.get("backward"):
            plots[f"{path.stem}-ratios"] = (plot_training_ratios, results)
    language = "zh" if in_chinese(config) else "en"
    return add_themed_svgs(
        files, config, "benchmarks", plots, lambda name, theme, language: render(*plots[name], theme, language), language
    )
