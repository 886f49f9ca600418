"""The notebook, English and Chinese, runs from top to bottom; its asserts check both seeds' numbers.

Its code cells run in this process, in one namespace, in the notebook's folder, as a kernel would
run them (they use no magic or display call); the built site executes the notebook in a real kernel
(mkdocs-jupyter, tier 2).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from tests.pages import DOCS, NOTEBOOKS


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(DOCS)))
def test_notebook_runs_and_prints_the_seeds_numbers(path, monkeypatch):
    assert path.exists(), f"{path.relative_to(DOCS.parent)} is missing"
    cells = code_cells(path)
    assert cells, f"{path.name} has no code"
    monkeypatch.chdir(path.parent)
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for number, source in enumerate(cells, start=1):
            assert not any(line.lstrip().startswith(("%", "!")) for line in source.split("\n")), number
            exec(compile(source, f"{path.name}, cell {number}", "exec"), namespace)
    text = printed.getvalue()
    assert "tensor([[2.0000, 7.0000, 1.5000]," in text  # the article's outputs, from its approximated weights
    assert "tensor([[1.9366, 6.6831, 1.5951]," in text  # the exact ones
    assert "[0.4177, 0.6503, 0.5645]])" in text  # first seed's last context vector
    assert os.getcwd() == str(path.parent)
