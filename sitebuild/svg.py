"""Figures as SVG files that are the same, byte for byte, on every run."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["svg_bytes"]


def svg_bytes(figure: Figure) -> bytes:
    """The figure as an SVG file that is byte-for-byte the same on every run (no date, fixed
    ids), so that a rebuilt site or a re-run benchmark does not change files needlessly."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "selfattention"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
