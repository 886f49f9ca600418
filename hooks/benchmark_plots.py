"""MkDocs hook: plot every benchmark result in docs/benchmarks/ at build time.

For each ``docs/benchmarks/NAME.json`` written by ``python -m selfattention.benchmark``, adds
``images/benchmarks/NAME-light.svg`` and ``NAME-dark.svg`` to the site, drawn by
``selfattention.benchmark.plot_results`` from the measured data. For a forward + backward result
(``--backward``) it also adds ``NAME-ratios-light.svg`` and ``NAME-ratios-dark.svg``: each form
against the fused kernel, drawn by ``selfattention.benchmark.plot_training_ratios``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

from selfattention.benchmark import load_results, plot_results, plot_training_ratios
from selfattention.plotting import svg_bytes

sys.path.insert(0, str(Path(__file__).parent))
from generated import cached  # noqa: E402


def on_files(files: Files, config) -> Files:
    # The plots are labelled in English in both editions: one cache entry serves both builds.
    for path in sorted(Path(config["docs_dir"], "benchmarks").glob("*.json")):
        results = load_results(path)
        plots = {path.stem: plot_results}
        if results.config.get("backward"):
            plots[f"{path.stem}-ratios"] = plot_training_ratios
        for name, plot in plots.items():
            for theme in ("light", "dark"):
                uri = f"images/benchmarks/{name}-{theme}.svg"
                content = cached(f"en/benchmarks/{name}-{theme}.svg", lambda: svg_bytes(plot(results, theme=theme)))
                files.append(File.generated(config, uri, content=content))
    return files
