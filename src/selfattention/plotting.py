"""Attention maps: heatmaps of attention weights with the tokens on both axes.

Needs matplotlib (``pip install selfattention[plot]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from selfattention._checks import check_floating

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_attention"]

# Text and line colours that read well on Material's light and dark ("slate") backgrounds.
_THEMES = {
    "light": {"text": "#1f2328", "muted": "#59636e"},
    "dark": {"text": "#e6edf3", "muted": "#9198a1"},
}


def plot_attention(
    weights: Tensor,
    tokens: Sequence[str],
    *,
    query_tokens: Sequence[str] | None = None,
    title: str | None = None,
    theme: str = "light",
    annotate: bool = True,
    vmin: float = 0.0,
    vmax: float | None = None,
    key_label: str = "key (attended to)",
    query_label: str = "query (attending)",
) -> Figure:
    """Draw attention weights as a labelled heatmap.

    Row ``i`` is query ``i`` (the token that attends), column ``j`` is key ``j`` (the token
    attended to); each cell shows the weight. The background is transparent; ``theme`` picks
    text colours for a light or a dark page. The colours run from ``vmin`` to ``vmax``
    (default: the largest weight); give maps that are compared one scale, e.g. ``vmax=1.0``.
    A value outside that scale is refused, as it would be drawn in the colour of the scale's end
    (e.g. negative scores with the default ``vmin=0.0``: pass ``vmin``). Long sequences get
    smaller cells and labels, so that the figure stays readable on a phone. ``key_label`` and
    ``query_label`` name the axes (e.g. in another language).

    Shapes: ``weights (n_q, n_k)``, ``tokens`` of length ``n_k`` (and ``query_tokens`` of
    length ``n_q``, default ``tokens``) -> a matplotlib ``Figure``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("plot_attention needs matplotlib: pip install 'selfattention[plot]'") from error

    weights = check_floating("weights", weights)
    if weights.dim() != 2:
        raise ValueError(f"weights must have shape (n_q, n_k), got shape {tuple(weights.shape)}")
    query_tokens = tokens if query_tokens is None else query_tokens
    n_q, n_k = weights.shape
    if len(tokens) != n_k or len(query_tokens) != n_q:
        raise ValueError(
            f"weights of shape {(n_q, n_k)} need {n_k} key tokens and {n_q} query tokens, "
            f"got {len(tokens)} and {len(query_tokens)}"
        )
    if theme not in _THEMES:
        raise ValueError(f"theme must be one of {sorted(_THEMES)}, got {theme!r}")
    colours = _THEMES[theme]

    low, high = float(weights.detach().min()), float(weights.detach().max())
    top = max(high, 1e-9) if vmax is None else float(vmax)
    if not vmin < top:
        raise ValueError(f"vmin must be smaller than vmax, got vmin={vmin} and vmax={top}")
    if low < vmin or high > top:
        raise ValueError(
            f"weights must lie within the colour scale from vmin={vmin} to vmax={top}, got values from "
            f"{low:.4g} to {high:.4g}: pass a vmin and vmax that include them"
        )
    values = weights.detach().float().cpu().numpy()
    cell = min(0.62, 5.0 / max(n_k, n_q))  # inches per cell: long sequences get smaller cells
    label_size = 10 if cell >= 0.5 else 7
    figure = Figure(figsize=(1.0 + cell * n_k, 0.8 + cell * 0.9 * n_q), layout="constrained")
    figure.patch.set_alpha(0.0)
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    image = axes.imshow(values, cmap="viridis", vmin=vmin, vmax=top)
    axes.set_xticks(range(n_k), labels=list(tokens), rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(n_q), labels=list(query_tokens))
    axes.set_xlabel(key_label, color=colours["muted"])
    axes.set_ylabel(query_label, color=colours["muted"])
    axes.tick_params(colors=colours["text"], length=0, labelsize=label_size)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        axes.set_title(title, color=colours["text"])
    if annotate:
        for i in range(n_q):
            for j in range(n_k):
                # Dark text on the bright (yellow-green) end of viridis, light text elsewhere.
                bright = values[i, j] > 0.6 * top
                colour = "#1f2328" if bright else "#ffffff"
                axes.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.85)
    colorbar.ax.tick_params(colors=colours["text"], labelsize=label_size)
    colorbar.outline.set_visible(False)
    return figure
