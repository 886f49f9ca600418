"""Run a page's own examples at build time, so that a drawing shows what the page computes.

`run_examples(page, name)` runs the doctest examples of the ```` ```python ```` blocks of a page
(parsed with the standard library's `doctest.DocTestParser`), in page order and in one namespace as
Sybil runs them, and stops after the first example that binds ``name``. A drawing made from that
namespace shows the page's own model and tensors, computed by the page's code: the recipe is written
once, on the page. Only the examples' source is run; their expected output is compared by the tests
(Sybil), not here, and what they print is discarded. torch's global random state and thread count
are restored afterwards, so the rest of the build does not depend on which page ran first.
`page_digest(page)` names a page's text in a build-cache key (sitebuild/generated.py), so that a
changed page is run again.
"""

from __future__ import annotations

import contextlib
import doctest
import hashlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any

import torch

__all__ = ["page_digest", "python_blocks", "run_examples"]

# A ```python fence, possibly indented (a solution inside an admonition), up to its closing fence.
PYTHON_BLOCK = re.compile(r"^(?P<indent> *)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```python ```` blocks of ``markdown``, dedented, in page order."""
    return [textwrap.dedent(match["body"]) for match in PYTHON_BLOCK.finditer(markdown)]


def run_examples(page: Path, name: str) -> dict[str, Any]:
    """The namespace of ``page``'s examples, run in page order up to the first one that binds ``name``.

    Raises:
        ValueError: no example of ``page`` binds ``name`` (the page is left unchanged by this run).
    """
    parser = doctest.DocTestParser()
    namespace: dict[str, Any] = {"__name__": f"page:{page.name}"}
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
        try:
            for block in python_blocks(page.read_text(encoding="utf-8")):
                for example in parser.get_examples(block, name=page.name):
                    exec(compile(example.source, str(page), "exec"), namespace)
                    if name in namespace:
                        return namespace
        finally:
            torch.set_num_threads(threads)
    raise ValueError(f"no example of {page} binds {name!r}: name must be a name the page's code assigns")


def page_digest(page: Path) -> str:
    """A short digest of ``page``'s text (16 hex digits), for a cache key."""
    return hashlib.sha256(page.read_bytes()).hexdigest()[:16]
