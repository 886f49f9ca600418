"""nbconvert's configuration for the site's notebooks (read through JUPYTER_CONFIG_PATH, which
sitebuild/notebooks.py sets for the build; mkdocs-jupyter loads it before it converts a notebook).

A kernel sends what a cell prints in pieces, 0.2 s apart at most: a print that takes longer (a
loaded machine) arrives as two outputs, drawn as two output boxes. Merging each cell's consecutive
outputs of one stream after the notebook is executed makes the page the same on every build.
nbconvert merges them with CoalesceStreamsPreprocessor, which its default order runs before
ExecutePreprocessor (on outputs that do not exist yet): here it runs after it.
"""

from nbconvert.exporters.exporter import Exporter

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - traitlets defines it for config files

EXECUTE = "nbconvert.preprocessors.ExecutePreprocessor"
COALESCE = "nbconvert.preprocessors.CoalesceStreamsPreprocessor"
order = [name for name in Exporter.class_traits()["default_preprocessors"].default() if name != COALESCE]
order.insert(order.index(EXECUTE) + 1, COALESCE)
c.Exporter.default_preprocessors = order
c.CoalesceStreamsPreprocessor.enabled = True
