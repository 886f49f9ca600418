"""Sybil: every ```python block in docs/ runs, and every >>> example's output is compared.

Blocks of one page share a namespace and run in page order, exactly as a reader who pastes
them into one session would run them. The Chinese pages (docs/zh/) are not run again: their fenced
blocks are the English pages' blocks, line for line (tests/test_zh_pages.py), so they would print
what the English pages print; tests/test_docs.py judges every Chinese page's expected output
against what its English twin printed, with Sybil's checker, as Sybil would. Torch prints tensors
at a fixed precision, so outputs are compared exactly (no NUMBER tolerance): a changed digit on a
page fails the suite.

What each >>> example printed is kept (`PRINTED`), so that the tests of tests/test_docs.py that
change a page's printed numbers judge the changed page against what its code printed in this
run, without running the page again.

Scheduling (pytest-xdist, see `work_unit`): a page's examples run in one worker, in page order,
followed by the tests of tests/test_docs.py that use what they printed; the tests of a test module
run in one worker (they share module fixtures), except the browser and built-site tests, which
are independent and are spread over the workers; and the tests that need the built site come last
(`pytest_collection_modifyitems`), so that the workers run everything else while the site builds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sybil import Example, Sybil
from sybil.evaluators.doctest import DocTestEvaluator, OutputChecker
from sybil.parsers.markdown import PythonCodeBlockParser

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"

# Per page (its path), per example (the offset where it starts in the page): the output it
# wants, what it printed and its option flags, as Sybil's checker saw them in this process.
PRINTED: dict[str, dict[int, tuple[str, str, int]]] = {}


class _RecordingChecker(OutputChecker):
    """Sybil's checker, keeping the last comparison it made."""

    last: tuple[str, str, int] | None = None

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        self.last = (want, got, optionflags)
        return super().check_output(want, got, optionflags)


class RecordingEvaluator(DocTestEvaluator):
    """Sybil's doctest evaluator, which also keeps what each example printed in `PRINTED`."""

    def __init__(self, optionflags: int = 0) -> None:
        super().__init__(optionflags)
        self.runner._checker = _RecordingChecker()

    def __call__(self, sybil_example: Example) -> str:
        __tracebackhide__ = True
        checker = self.runner._checker
        checker.last = None
        try:
            return super().__call__(sybil_example)
        finally:
            # None when the example raised an exception (doctest then compares nothing).
            if checker.last is not None:
                PRINTED.setdefault(str(Path(sybil_example.path).resolve()), {})[sybil_example.region.start] = checker.last


# No SkipParser: no example on the site can be skipped, so none can go stale.
DOC_PARSERS = [PythonCodeBlockParser()]
DOC_PARSERS[0].doctest_parser.evaluator = RecordingEvaluator()

pytest_collect_file = Sybil(
    parsers=DOC_PARSERS,
    path="docs",
    patterns=["*.md"],
    excludes=["zh/*"],  # the Chinese pages: same code as the English ones (see above)
    name="docs",
).pytest()

# Test modules whose tests are independent (session fixtures only) and slow: spread test by test.
SPREAD = {"tests/test_browser.py", "tests/test_site.py", "tests/test_docs.py"}
SITE_FIXTURES = {"site", "properdocs_site"}
# Test modules that train the model of docs/trained.md, as the page does: in the page's worker, after
# its examples, they get the weights the page trained (train_induction_model keeps trained weights
# for the rest of the process), instead of training the same model again (about 10 s each).
WITH_PAGE = {"tests/test_toy.py": "docs/trained.md", "tests/test_attention_maps.py": "docs/trained.md"}


def work_unit(nodeid: str) -> str:
    """The tests that must run in one worker, in collection order, share a work unit: a page's
    examples ("docs/simplified.md::sybil:docs,line:31,column:1"), with the tests of
    tests/test_docs.py about that page and its Chinese twin ("tests/test_docs.py::test_…[simplified.md]",
    "…[zh/simplified.md]"), and the modules of WITH_PAGE; the browser tests of one page (they share
    its visits); the tests of any other module, except the modules in SPREAD, whose tests are units
    of their own."""
    module, _, rest = nodeid.partition("::")
    if module.startswith("docs/") and module.endswith(".md"):
        return module
    if module == "tests/test_docs.py" and rest.endswith(".md]"):
        page = "docs/" + rest[rest.index("[") + 1 : -1]
        english = page.replace("docs/zh/", "docs/", 1)  # a Chinese page is judged by its English twin's run
        if (ROOT / english).is_file():
            return english
        if (ROOT / page).is_file():
            return page
    if module in WITH_PAGE:
        return WITH_PAGE[module]
    if module == "tests/test_browser.py" and rest.endswith("]"):
        return module + rest[rest.index("[") :]  # a page's visits are shared by its tests
    return nodeid if module in SPREAD else module


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's loadscope scheduling with the work units of `work_unit`. (Its loadgroup
    mode would do with xdist_group marks, but with pytest 9.2 it no longer groups anything:
    pytest-dev/pytest-xdist#1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class PageScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return PageScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Stable: everything keeps its order, except that the tests that need the site go last.
    items.sort(key=lambda item: bool(SITE_FIXTURES & set(getattr(item, "fixturenames", ()))))
