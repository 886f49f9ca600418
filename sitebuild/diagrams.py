"""Data-flow figures: the computation drawn as matrices, with their shapes and numbers.

A figure is a `Diagram`: rows of `Panel` (one matrix, with its role, name and values) and
operators between them (``"×"``, ``"="``, ``"softmax →"``). `draw_diagram` turns it into a
matplotlib ``Figure`` with one colour per role, the same on every page (`ROLE_COLOURS`), for a
light or a dark page. The values are the tensors themselves, so a figure built from the
tensors a page prints cannot disagree with it.

The site's build draws them (sitebuild/figures.py); matplotlib is imported when a diagram is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ROLE_COLOURS", "Diagram", "Operator", "Panel", "draw_diagram"]

# One colour per role, used on every page: Okabe-Ito colours (readable with colour-blindness), greys for
# inputs and masks.
ROLE_COLOURS: dict[str, str] = {
    "inputs": "#8C8C8C",  # grey
    "queries": "#0072B2",  # blue
    "keys": "#E69F00",  # orange
    "values": "#009E73",  # green
    "scores": "#CC79A7",  # reddish purple
    "weights": "#D55E00",  # vermillion
    "context": "#56B4E9",  # sky blue
    "mask": "#7F7F7F",  # dark grey
    "output": "#56B4E9",  # like the context it is computed from
}
_THEMES: dict[str, dict[str, Any]] = {
    "light": {"text": "#1f2328", "muted": "#59636e", "alpha": 0.18, "strong": 0.45},
    "dark": {"text": "#e6edf3", "muted": "#9198a1", "alpha": 0.28, "strong": 0.6},
}
_CELL = 0.46  # inches per matrix cell: about 11 cells fit a phone's width with readable numbers


@dataclass(frozen=True)
class Panel:
    """One matrix of a diagram.

    Attributes:
        values: ``(rows, cols)`` or ``(cols,)`` (drawn as one row); float or boolean (a mask:
            ``True`` drawn as a check mark, ``False`` as a dot).
        role: a key of `ROLE_COLOURS`; sets the colour.
        name: what is shown above it, e.g. ``"Q = X W_q"`` (``$...$`` for maths).
        decimals: digits after the point; ``None`` shows integers as integers and other values
            with 2 digits.
        highlight: rows drawn stronger than the others (e.g. the row of one query).
        split: columns after which a dividing line is drawn (e.g. between heads).
    """

    values: Tensor
    role: str
    name: str
    decimals: int | None = 2
    highlight: tuple[int, ...] = ()
    split: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLE_COLOURS:
            raise ValueError(f"role must be one of {sorted(ROLE_COLOURS)}, got {self.role!r}")
        if not isinstance(self.values, Tensor) or self.values.dim() not in (1, 2):
            shape = tuple(self.values.shape) if isinstance(self.values, Tensor) else type(self.values).__name__
            raise ValueError(f"values must be a tensor of shape (rows, cols) or (cols,), got {shape}")

    @property
    def matrix(self) -> Tensor:
        """The values as ``(rows, cols)``."""
        return self.values.detach().cpu().reshape(-1, self.values.shape[-1])

    @property
    def labels(self) -> list[list[str]]:
        """The text of each cell, as drawn."""
        return [[_format(value, self.decimals) for value in row] for row in self.matrix.tolist()]

    @property
    def cell_width(self) -> float:
        """Width of one cell, in units of a cell's height: wider for long numbers such as ``−0.15``."""
        longest = max(len(text) for row in self.labels for text in row)
        return max(1.0, 0.26 * longest + 0.1)

    @property
    def width(self) -> float:
        return self.matrix.shape[1] * self.cell_width

    @property
    def shape_label(self) -> str:
        return str(tuple(self.values.shape))


@dataclass(frozen=True)
class Operator:
    """Text between two panels of a row, e.g. ``"×"``, ``"="`` or ``"softmax →"``."""

    text: str

    @property
    def width(self) -> float:
        return max(0.8, 0.27 * len(self.text) + 0.3)


Item = Panel | Operator


@dataclass(frozen=True)
class Diagram:
    """Rows of panels and operators, drawn top to bottom, each row centred.

    Attributes:
        rows: the rows.
        title: an optional title above everything.
    """

    rows: tuple[tuple[Item, ...], ...]
    title: str | None = None
    panels: tuple[Panel, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "panels", tuple(item for row in self.rows for item in row if isinstance(item, Panel)))


def _tone(colour: str, theme: str) -> str:
    """The role colour for lines and labels: as is on a light page, lightened on a dark one."""
    if theme == "light":
        return colour
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * 0.35):02x}" for c in (red, green, blue))


def _format(value: float | bool, decimals: int | None) -> str:
    if isinstance(value, bool):
        return "\u2713" if value else "\u00b7"
    if math.isinf(value):
        return "\u2212\u221e" if value < 0 else "\u221e"
    if decimals is None and float(value).is_integer():
        return f"{int(value)}"
    text = f"{value:.{2 if decimals is None else decimals}f}"
    return text.replace("-", "\u2212")


def _row_width(row: Sequence[Item]) -> float:
    gap = 0.35
    return sum(item.width for item in row) + gap * (len(row) - 1)


def draw_diagram(diagram: Diagram, *, theme: str = "light") -> Figure:
    """Draw ``diagram`` as a matplotlib ``Figure`` with a transparent background; ``theme``
    picks text colours and fill strengths for a light or a dark page."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if theme not in _THEMES:
        raise ValueError(f"theme must be one of {sorted(_THEMES)}, got {theme!r}")
    colours = _THEMES[theme]
    label_height, shape_height, row_gap = 0.75, 0.55, 0.35
    heights = [
        max((item.matrix.shape[0] for item in row if isinstance(item, Panel)), default=1) for row in diagram.rows
    ]
    width = max(_row_width(row) for row in diagram.rows) + 0.2
    title_height = 0.7 if diagram.title else 0.0
    height = title_height + sum(h + label_height + shape_height + row_gap for h in heights)

    figure = Figure(figsize=(width * _CELL, height * _CELL))
    figure.patch.set_alpha(0.0)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)  # y grows downwards, like the rows of a matrix
    axes.set_axis_off()
    if diagram.title:
        axes.text(
            width / 2,
            0.35,
            diagram.title,
            ha="center",
            va="center",
            fontsize=14,
            color=colours["text"],
            fontweight="bold",
        )
    top = title_height
    for row, rows_height in zip(diagram.rows, heights, strict=True):
        x = (width - _row_width(row)) / 2
        middle = top + label_height + rows_height / 2
        for item in row:
            if isinstance(item, Operator):
                axes.text(
                    x + item.width / 2, middle, item.text, ha="center", va="center", fontsize=15, color=colours["muted"]
                )
                x += item.width + 0.35
                continue
            matrix, labels, cell = item.matrix, item.labels, item.cell_width
            n_rows, n_cols = matrix.shape
            y0 = middle - n_rows / 2
            colour = ROLE_COLOURS[item.role]
            line = _tone(colour, theme)
            for i in range(n_rows):
                for j in range(n_cols):
                    value = matrix[i, j].item()
                    alpha = colours["strong"] if i in item.highlight else colours["alpha"]
                    if item.highlight and i not in item.highlight:
                        alpha *= 0.4
                    if isinstance(value, bool) and not value:
                        alpha = 0.0
                    axes.add_patch(
                        Rectangle((x + j * cell, y0 + i), cell, 1, facecolor=colour, alpha=alpha, linewidth=0)
                    )
                    axes.text(
                        x + (j + 0.5) * cell,
                        y0 + i + 0.5,
                        labels[i][j],
                        ha="center",
                        va="center",
                        fontsize=12.5,
                        color=colours["text"],
                    )
            axes.add_patch(Rectangle((x, y0), item.width, n_rows, fill=False, edgecolor=line, linewidth=1.6))
            for column in item.split:
                axes.plot(
                    [x + column * cell, x + column * cell],
                    [y0 - 0.15, y0 + n_rows + 0.15],
                    color=colours["text"],
                    linewidth=1.6,
                )
            axes.text(
                x + item.width / 2,
                y0 - 0.35,
                item.name,
                ha="center",
                va="bottom",
                fontsize=13,
                color=line,
                fontweight="bold",
            )
            axes.text(
                x + item.width / 2,
                y0 + n_rows + 0.15,
                item.shape_label,
                ha="center",
                va="top",
                fontsize=11,
                color=colours["muted"],
            )
            x += item.width + 0.35
        top += rows_height + label_height + shape_height + row_gap
    return figure
