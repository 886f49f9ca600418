"""The notebook, English and Chinese, runs from top to bottom; its asserts check both seeds' numbers."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

DOCS = Path(__file__).resolve().parent.parent / "docs"
NOTEBOOKS = [DOCS / "notebooks" / "walkthrough.ipynb", DOCS / "zh" / "notebooks" / "walkthrough.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(DOCS)))
def test_notebook_runs_and_prints_the_seeds_numbers(path):
    assert path.exists(), f"{path.relative_to(DOCS.parent)} is missing"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=False).execute(
        cwd=str(path.parent)
    )
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "tensor([[2.0000, 7.0000, 1.5000]," in printed  # the tutorial's rounded outputs
    assert "tensor([[1.9366, 6.6831, 1.5951]," in printed  # the exact ones
    assert "[0.4177, 0.6503, 0.5645]])" in printed  # first seed's last context vector
