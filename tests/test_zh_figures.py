"""The Chinese edition's figures: the same drawings with Chinese words, every glyph drawn.

The hooks draw each figure (and the benchmark plots) in Chinese when the build is the Chinese
edition (theme.language: zh), with a CJK font as matplotlib's fallback (hooks/chinese.py). A
character the fonts lack would be drawn as an empty box, and matplotlib only logs it: these tests
fail on that log."""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parent.parent / "hooks"
FIGURE_HOOKS = {"figures": "FIGURES", "attention_maps": "MAPS", "attention_variants": "FIGURES"}


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"zh_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=sorted(FIGURE_HOOKS))
def hook(request):
    return request.param, load(request.param)


def test_chinese_figures_have_chinese_words_and_every_glyph(hook, caplog):
    name, module = hook
    figures = getattr(module, FIGURE_HOOKS[name])
    for figure in list(figures)[:3] if name == "attention_maps" else figures:  # the trained maps train a model
        with caplog.at_level(logging.WARNING, logger="matplotlib"):
            chinese = module.render(figure, "light", "zh")
        missing = [r.getMessage() for r in caplog.records if "does not have a glyph" in r.getMessage()]
        assert missing == [], f"{name}/{figure}: characters drawn as boxes: {missing[:3]}"
        if name != "figures":  # data-flow figures without words stay the same (checked below)
            assert chinese != module.render(figure, "light"), f"{name}/{figure} has no Chinese words"


def test_every_data_flow_translation_is_used():
    """A Chinese label whose English text changed would silently leave the English one."""
    module = load("figures")
    texts = set()
    for make in module.FIGURES.values():
        diagram = make()
        texts.add(diagram.title)
        for row in diagram.rows:
            texts |= {getattr(item, "name", None) or getattr(item, "text", None) for item in row}
    assert set(module.CHINESE) <= texts, set(module.CHINESE) - texts
    english_words = {t for t in texts if t and re.search(r"\b(?!softmax\b)[a-z]{3,}\b", re.sub(r"\$[^$]*\$", "", t))}
    assert english_words <= set(module.CHINESE), f"figure words with no Chinese label: {english_words - set(module.CHINESE)}"


@pytest.mark.parametrize("result", ["cpu-2026-11-23", "cpu-fwdbwd-2026-11-23"])
def test_chinese_benchmark_plots_have_chinese_words_and_every_glyph(result, caplog):
    """hooks/benchmark_plots.py: every title and axis label in Chinese, every glyph drawn; the forms'
    names (code) stay in the legend."""
    from selfattention.benchmark import load_results, plot_results, plot_training_ratios

    module = load("benchmark_plots")
    results = load_results(HOOKS.parent / "docs" / "zh" / "benchmarks" / f"{result}.json")
    for plot in (plot_results, plot_training_ratios) if results.config.get("backward") else (plot_results,):
        with caplog.at_level(logging.WARNING, logger="matplotlib"), module.chinese_fonts():
            figure = module.in_chinese_words(plot(results, theme="light"))
            module.svg_bytes(figure)  # drawing it is what finds a missing glyph
        missing = [r.getMessage() for r in caplog.records if "does not have a glyph" in r.getMessage()]
        assert missing == [], f"{result}/{plot.__name__}: characters drawn as boxes: {missing[:3]}"
        words = [figure.get_suptitle()] + [label for axes in figure.axes for label in (axes.get_xlabel(), axes.get_ylabel())]
        assert all(re.search(r"[\u4e00-\u9fff]", word) for word in words), words
        legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
        assert set(legend) <= {"naive", "blockwise", "sdpa"} and legend, legend


def test_an_untranslated_benchmark_label_fails_the_build():
    from matplotlib.figure import Figure

    module = load("benchmark_plots")
    figure = Figure()
    figure.subplots().set_xlabel("a label with no Chinese")
    with pytest.raises(ValueError, match="no Chinese for the axis label 'a label with no Chinese'"):
        module.in_chinese_words(figure)
    figure = Figure()
    figure.suptitle("a title with no Chinese")
    with pytest.raises(ValueError, match="no Chinese for the plot title"):
        module.in_chinese_words(figure)
