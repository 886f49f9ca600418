"""Sybil: every ```python block of the English pages in docs/ and of README.md runs, and every >>>
example's output is compared exactly with the page (tests/pages.py has the parsers).

Blocks of one page share a namespace and run in page order, exactly as a reader who pastes them into
one session would run them (`make test` runs pytest with `--dist loadfile`, which keeps a page in one
test worker). The Chinese pages (docs/zh/) are not run again: their fenced blocks are the English
pages' blocks, line for line, outputs included (tests/test_zh_pages.py), so they print what the
English pages print.
"""

from __future__ import annotations

from tests.pages import DOCS_SYBIL, README_SYBIL

pytest_collect_file = (DOCS_SYBIL + README_SYBIL).pytest()
