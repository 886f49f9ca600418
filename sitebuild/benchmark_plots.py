"""Plot every benchmark result in docs/benchmarks/ at build time.

For each ``docs/benchmarks/NAME.json`` written by ``python -m benchmarks``, adds
``images/benchmarks/NAME-light.svg`` and ``NAME-dark.svg`` to the site, drawn by
``benchmarks.plot_results`` from the measured data. For a forward + backward result
(``--backward``) it also adds ``NAME-ratios-light.svg`` and ``NAME-ratios-dark.svg``: each form
against the fused kernel, drawn by ``benchmarks.plot_training_ratios``. In the Chinese edition the
titles and axis labels are in Chinese (sitebuild/strings.py; the forms' names are code: they stay).
`alt_text` writes each plot's alt text, in English and Chinese, from the same results
(sitebuild/alt_texts.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from benchmarks import load_results, plot_results, plot_training_ratios
from benchmarks.results import Results
from sitebuild.alt_texts import join, number, require
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.generated import ROOT, add_themed_svgs
from sitebuild.strings import CHINESE, chinese_plot_title
from sitebuild.svg import svg_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def in_chinese_words(figure: Figure) -> Figure:
    """The figure with its title, axis labels and legends in Chinese; an English label with no Chinese fails."""
    for axes in figure.axes:
        for get, set_ in ((axes.get_xlabel, axes.set_xlabel), (axes.get_ylabel, axes.set_ylabel)):
            if get():
                if get() not in CHINESE:
                    raise ValueError(f"no Chinese for the axis label {get()!r}: add it to sitebuild/strings.py")
                set_(CHINESE[get()])
        legend = axes.get_legend()
        for entry in legend.get_texts() if legend is not None else []:
            if entry.get_text() not in CHINESE:
                message = f"no Chinese for the legend entry {entry.get_text()!r}: add it to sitebuild/strings.py"
                raise ValueError(message)
            entry.set_text(CHINESE[entry.get_text()])
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


# The alt texts (see sitebuild/alt_texts.py), written from the results each plot draws: times as the
# plots draw them (CPU time for a forward + backward run), memory likewise (above the inputs then).
MIB, GIB = 2**20, 2**30
TWICE = 2  # the dashed line of the ratio plots


def _measured(results: Results, form: str) -> dict[int, tuple[float, int]]:
    """``{seq_len: (seconds, bytes)}`` of the cases of ``form`` that ran, as `plot_results` draws them."""
    training = bool(results.config.get("backward"))
    inputs = (lambda case: case.inputs_memory_bytes or 0) if training else (lambda case: 0)
    return {
        case.seq_len: (
            case.cpu_median_s if training and case.cpu_median_s is not None else case.median_s,
            case.peak_memory_bytes - inputs(case),
        )
        for case in results.cases
        if case.form == form and not case.error and case.median_s is not None and case.peak_memory_bytes is not None
    }


def _panels(results: Results) -> int:
    return len(plot_results(results).axes)


def _fastest_everywhere(name: str, results: Results) -> None:
    forms = {form: _measured(results, form) for form in ("naive", "blockwise", "sdpa")}
    for length, (seconds, _) in forms["sdpa"].items():
        others = [forms[form][length][0] for form in ("naive", "blockwise") if length in forms[form]]
        require(all(seconds < other for other in others), name, f"that sdpa is fastest at every length ({length})")


def _small_forms(results: Results) -> tuple[int, int]:
    """(a round number of MiB that blockwise and sdpa stay below, the longest length they ran)."""
    cases = [value for form in ("blockwise", "sdpa") for value in _measured(results, form).items()]
    return math.ceil(max(memory for _, (_, memory) in cases) / MIB / 100) * 100, max(length for length, _ in cases)


def _alt_forward(name: str, results: Results, language: str) -> str:
    naive = _measured(results, "naive")
    _fastest_everywhere(name, results)
    growth = {
        form: max(times) / min(times)
        for form in ("naive", "blockwise", "sdpa")
        if (times := [seconds for seconds, _ in _measured(results, form).values()])
    }
    require(max(growth, key=growth.__getitem__) == "naive", name, "that naive grows fastest")
    over = math.floor(max(memory for _, memory in naive.values()) / GIB)
    below, _ = _small_forms(results)
    panels = _panels(results)
    if language == "zh":
        return (
            f"{number(panels, 'zh')}幅以序列长度为横轴的双对数坐标图：一幅是时间的中位数，naive 增长最快，sdpa 最快；"
            f"另一幅是峰值内存，naive 攀升到 {over} GiB 以上，而 blockwise 和 sdpa 都保持在 {below} MiB 以下。"
        )
    return (
        f"{number(panels, 'en').capitalize()} log-log plots against sequence length: median time, where naive grows "
        f"fastest and sdpa is fastest; and peak memory, where naive climbs to over {over} GiB while blockwise and "
        f"sdpa stay below {below} MiB."
    )


def _alt_training(name: str, results: Results, language: str) -> str:
    naive = _measured(results, "naive")
    _fastest_everywhere(name, results)
    longest_naive = max(naive, key=lambda length: naive[length][1])
    over = math.floor(naive[longest_naive][1] / GIB)
    below, longest = _small_forms(results)
    panels = _panels(results)
    if language == "zh":
        return (
            f"{number(panels, 'zh')}幅以序列长度为横轴的双对数坐标图，对应一次前向传播加一次反向传播："
            "一幅是 CPU 时间的中位数，sdpa 在每个长度上都最快；另一幅是超出输入部分的峰值内存，"
            f"naive 在 {longest_naive} 个词元时攀升到 {over} GiB 以上，"
            f"而 blockwise 和 sdpa 直到 {longest} 个词元都保持在 {below} MiB 以下。"
        )
    return (
        f"{number(panels, 'en').capitalize()} log-log plots against sequence length, for a forward and a backward "
        f"pass: median CPU time, where sdpa is fastest at every length; and peak memory above the inputs, where naive "
        f"climbs to over {over} GiB at {longest_naive} tokens while blockwise and sdpa stay below {below} MiB up to "
        f"{longest}."
    )


def _ratios(results: Results, form: str) -> dict[int, tuple[float, float]]:
    """``{seq_len: (time ratio, memory ratio)}`` of ``form`` against sdpa, as `plot_training_ratios` draws them."""
    sdpa, own = _measured(results, "sdpa"), _measured(results, form)
    return {
        length: (seconds / sdpa[length][0], memory / sdpa[length][1])
        for length, (seconds, memory) in sorted(own.items())
        if length in sdpa
    }


def _times(factor: float, language: str) -> str:
    """``"twice"`` / ``"两倍"`` for 2, else ``"N times"`` / ``"N 倍"``."""
    if factor == TWICE:
        return "两倍" if language == "zh" else "twice"
    return f"{factor:g} 倍" if language == "zh" else f"{factor:g} times"


def _alt_ratios(name: str, results: Results, language: str) -> str:
    naive, blockwise = _ratios(results, "naive"), _ratios(results, "blockwise")
    require(all(time < TWICE for time, _ in blockwise.values()), name, "that blockwise stays below twice sdpa's time")
    slower = [length for length, (time, _) in naive.items() if time <= TWICE]
    require(len(slower) < len(naive) / 2, name, "that naive takes more than twice sdpa's time at most lengths")
    most = max(memory for _, memory in naive.values())
    require(most >= 10, name, "that naive needs over ten times sdpa's memory")
    over = math.floor(most / 10) * 10
    memory = [ratio for _, ratio in blockwise.values()]
    require(memory == sorted(memory, reverse=True), name, "that blockwise's memory ratio falls")
    start = min(blockwise)
    about = round(blockwise[start][1])
    below_from = min(length for length, (_, ratio) in blockwise.items() if ratio < 1)
    panels = len(plot_training_ratios(results).axes)
    but = join([str(length) for length in slower], language)
    if language == "zh":
        naive_time = f"除 {but} 个词元外在每个长度上" if slower else "在每个长度上"
        return (
            f"{number(panels, 'zh')}幅以序列长度为横轴的双对数坐标图，"
            "画出朴素形式和分块形式相对于 PyTorch 融合内核的比值："
            f"一幅是 CPU 时间，blockwise 在每个长度上都低于融合内核的{_times(TWICE, 'zh')}，"
            f"naive {naive_time}都超过它的{_times(TWICE, 'zh')}；另一幅是超出输入部分的内存，"
            f"naive 增长到融合内核的 {over} 倍以上，而 blockwise 从 {start} 个词元时的约{_times(about, 'zh')}逐渐下降，"
            f"从 {below_from} 个词元起低于融合内核。"
        )
    naive_time = f"at every length but {but} tokens" if slower else "at every length"
    return (
        f"{number(panels, 'en').capitalize()} log-log plots against sequence length of the naive and the blockwise "
        f"form relative to PyTorch's fused kernel: CPU time, where blockwise stays below {_times(TWICE, 'en')} the "
        f"fused kernel's at every length and naive takes more than {_times(TWICE, 'en')} its time {naive_time}; and "
        f"memory above the inputs, where naive grows to over {over} times the fused kernel's while blockwise falls "
        f"from about {_times(about, 'en')} it at {start} tokens to below it from {below_from} tokens on."
    )


def alt_text(name: str, language: str) -> str:
    """The alt text of the plot ``name`` (``NAME`` or ``NAME-ratios`` of docs/benchmarks/NAME.json) in
    ``language`` (``"en"``, ``"zh"``), written from the results it draws (see sitebuild/alt_texts.py).

    Raises:
        ValueError: no results for ``name``.
    """
    stem = name.removesuffix("-ratios")
    path = ROOT / "docs" / "benchmarks" / f"{stem}.json"
    if not path.is_file():
        raise ValueError(f"name must name a plot of docs/benchmarks/*.json, got {name!r}: no {path.name}")
    results = load_results(path)
    if name.endswith("-ratios"):
        return _alt_ratios(name, results, language)
    if results.config.get("backward"):
        return _alt_training(name, results, language)
    return _alt_forward(name, results, language)
