"""MkDocs hook: plot every benchmark result in docs/benchmarks/ at build time.

For each ``docs/benchmarks/NAME.json`` written by ``python -m selfattention.benchmark``, adds
``images/benchmarks/NAME-light.svg`` and ``NAME-dark.svg`` to the site, drawn by
``selfattention.benchmark.plot_results`` from the measured data. For a forward + backward result
(``--backward``) it also adds ``NAME-ratios-light.svg`` and ``NAME-ratios-dark.svg``: each form
against the fused kernel, drawn by ``selfattention.benchmark.plot_training_ratios``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

from selfattention.benchmark import load_results, plot_results, plot_training_ratios
from selfattention.plotting import svg_bytes


def on_files(files: Files, config) -> Files:
    for path in sorted(Path(config["docs_dir"], "benchmarks").glob("*.json")):
        results = load_results(path)
        for theme in ("light", "dark"):
            uri = f"images/benchmarks/{path.stem}-{theme}.svg"
            files.append(File.generated(config, uri, content=svg_bytes(plot_results(results, theme=theme))))
            if results.config.get("backward"):
                uri = f"images/benchmarks/{path.stem}-ratios-{theme}.svg"
                content = svg_bytes(plot_training_ratios(results, theme=theme))
                files.append(File.generated(config, uri, content=content))
    return files
