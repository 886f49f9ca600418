"""The site build's drawings rendered to SVG (matplotlib), and the notebook executed in a kernel: slow,
so tier 2; tier 1 checks the tensors and numbers behind every drawing (tests/test_figures.py,
tests/test_attention_maps.py, tests/test_attention_variants.py)."""

from __future__ import annotations

from pathlib import Path

from sitebuild import attention_maps, attention_variants, figures, notebooks


def test_a_data_flow_figure_renders_for_both_themes_and_the_same_on_every_build():
    light, dark = figures.render("causal-mask", "light"), figures.render("causal-mask", "dark")
    assert light.startswith(b"<?xml") and b"<svg" in light and light != dark
    assert figures.render("causal-mask", "light") == light  # identical on every build


def test_an_attention_map_renders_for_both_themes_and_the_same_on_every_build():
    light, dark = attention_maps.render("journey", "light"), attention_maps.render("journey", "dark")
    assert light.startswith(b"<?xml") and b"<svg" in light and light != dark
    assert attention_maps.render("journey", "light") == light  # identical on every build


def test_every_attention_variant_figure_renders_for_both_themes():
    for name in attention_variants.FIGURES:
        light, dark = attention_variants.render(name, "light"), attention_variants.render(name, "dark")
        assert light.startswith(b"<?xml") and b"<svg" in light and light != dark


def test_notebook_outputs_are_merged_after_execution(monkeypatch, tmp_path: Path):
    """A print that spans the kernel's 0.2 s flush arrives as two outputs; the build's nbconvert
    configuration (which mkdocs-jupyter loads) merges them, after ExecutePreprocessor has run."""
    import nbformat
    from mkdocs_jupyter.nbconvert2 import get_nbconvert_app, nb2html

    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    notebooks.on_config({})
    order = [name.rsplit(".", 1)[-1] for name in get_nbconvert_app().config.Exporter.default_preprocessors]
    assert order.index("ExecutePreprocessor") < order.index("CoalesceStreamsPreprocessor"), order
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('print("scores:", scores, sep="\\n")')
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in ("scores:\n", "[1, 2]\n")]
    notebook.cells.append(cell)
    nbformat.write(notebook, tmp_path / "split.ipynb")
    html = nb2html(str(tmp_path / "split.ipynb"), execute=False)
    assert html.count('class="jp-OutputArea-child') == 1 and "scores:\n[1, 2]" in html
