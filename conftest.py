"""Sybil: every ```python block in docs/ runs, and every >>> example's output is compared.

Blocks of one page share a namespace and run in page order, exactly as a reader who pastes
them into one session would run them. Torch prints tensors at a fixed precision, so outputs
are compared exactly (no NUMBER tolerance): a changed digit on a page fails the suite.
"""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

# No SkipParser: no example on the site can be skipped, so none can go stale.
DOC_PARSERS = [PythonCodeBlockParser()]

pytest_collect_file = Sybil(
    parsers=DOC_PARSERS,
    path="docs",
    patterns=["*.md"],
    name="docs",
).pytest()
