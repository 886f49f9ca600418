"""The Chinese edition's figures: the same drawings with Chinese words, every glyph drawn.

The hooks draw each figure (and the benchmark plots) in Chinese when the build is the Chinese
edition (theme.language: zh), with a CJK font as matplotlib's fallback (sitebuild/chinese.py). A
character the fonts lack would be drawn as an empty box, and matplotlib only warns (text) or logs
(maths): the build fails on either (sitebuild/generated.py), and these tests check that it does."""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import pytest
from mkdocs.structure.files import Files

ROOT = Path(__file__).resolve().parents[2]
FIGURE_HOOKS = {"figures": "FIGURES", "attention_maps": "MAPS", "attention_variants": "FIGURES"}


def load(name: str):
    return importlib.import_module(f"sitebuild.{name}")


@pytest.mark.parametrize(
    "text", ["注意力 \u0d9e", "$x \u0d9e$", "$\\sqrt{d_k}$ 权重"], ids=["text", "maths", "chinese-in-maths"]
)
def test_a_character_no_font_has_fails_the_build(text, tmp_path):
    """sitebuild/generated.py: every figure, map and plot is drawn inside `every_glyph_drawn`, which
    fails the build on a character matplotlib can only draw as an empty box (it warns for text and
    logs for maths, and goes on). Here a figure with such a character goes through
    `add_themed_svgs` as the hooks' figures do: the build fails, naming the file."""
    from matplotlib.figure import Figure

    from sitebuild.svg import svg_bytes

    generated, chinese = load("generated"), load("chinese")

    def render(name: str, theme: str, language: str) -> bytes:
        with chinese.chinese_fonts():  # as the hooks draw in Chinese
            figure = Figure()
            figure.suptitle(text if name == "bad" else "注意力权重 (attention weights)")
            return svg_bytes(figure)

    plugins = types.SimpleNamespace(_current_plugin=None)
    config = types.SimpleNamespace(site_dir=str(tmp_path), use_directory_urls=True, plugins=plugins)
    files = generated.add_themed_svgs(Files([]), config, "test", ["good"], render, "zh")
    assert [file.src_uri for file in files] == ["images/test/good-light.svg", "images/test/good-dark.svg"]
    with pytest.raises(ValueError, match=r"images/test/bad-light\.svg \(zh\): characters that no font has"):
        generated.add_themed_svgs(Files([]), config, "test", ["bad"], render, "zh")


FOLDERS = {"attention_maps": "attention-maps", "attention_variants": "attention-variants"}


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_chinese_figures_have_chinese_words(name, site):
    """Each map and attention-variant figure of the Chinese edition differs from the English one
    (its words are Chinese: text is drawn as paths, so the files hold no characters to read); the
    build drew every one with every glyph (see above). The data-flow figures (sitebuild/figures.py)
    have their own test below: some have no words to translate."""
    module = load(name)
    for figure in getattr(module, FIGURE_HOOKS[name]):
        for theme in ("light", "dark"):
            svg = f"images/{FOLDERS[name]}/{figure}-{theme}.svg"
            english, chinese = (site / svg).read_bytes(), (site / "zh" / svg).read_bytes()
            assert chinese != english, f"{svg} has no Chinese words"


@pytest.mark.parametrize("result", ["cpu-2026-11-23", "cpu-fwdbwd-2026-11-23"])
def test_chinese_benchmark_plots_have_chinese_words_and_every_glyph(result):
    """sitebuild/benchmark_plots.py: every title, axis label and legend entry in Chinese, every glyph drawn;
    the legend keeps the forms' names (code) beside their Chinese names."""
    from benchmarks import load_results, plot_results, plot_training_ratios

    module, generated = load("benchmark_plots"), load("generated")
    results = load_results(ROOT / "docs" / "zh" / "benchmarks" / f"{result}.json")
    for plot in (plot_results, plot_training_ratios) if results.config.get("backward") else (plot_results,):
        with module.chinese_fonts(), generated.every_glyph_drawn(f"{result}/{plot.__name__}"):
            figure = module.in_chinese_words(plot(results, theme="light"))
            module.svg_bytes(figure)  # drawing it is what finds a missing glyph
        words = [figure.get_suptitle()] + [
            label for axes in figure.axes for label in (axes.get_xlabel(), axes.get_ylabel())
        ]
        assert all(re.search(r"[\u4e00-\u9fff]", word) for word in words), words
        legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
        named = re.compile(r"(naive|blockwise|sdpa)（[\u4e00-\u9fff]+）")  # the form's name (code), then its Chinese
        assert legend and all(named.fullmatch(text) for text in legend), legend
