"""MkDocs hook: draw the site's attention maps from the package's code at build time.

Each map is computed here with ``selfattention`` and drawn with ``plot_attention`` twice, for
Material's light and dark schemes, as SVG files added to the site under
``images/attention-maps/``; pages show them with ``#only-light`` / ``#only-dark``. Nothing is
drawn by hand or committed. ``tests/test_attention_maps.py`` checks the weights behind each map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from mkdocs.structure.files import File, Files

from selfattention import (
    MultiHeadAttention,
    attention_weights,
    causal_mask,
    plot_attention,
)
from selfattention.plotting import svg_bytes

TOKENS = ["Your", "journey", "starts", "with", "one", "step"]
INPUTS = torch.tensor(
    [[0.43, 0.15, 0.89],
     [0.55, 0.87, 0.66],
     [0.57, 0.85, 0.64],
     [0.22, 0.58, 0.33],
     [0.77, 0.25, 0.10],
     [0.05, 0.80, 0.55]]
)  # fmt: skip


def journey_weights() -> torch.Tensor:
    """The first seed's attention weights: softmax(X X^T)."""
    return attention_weights(INPUTS @ INPUTS.T)


def journey_causal_weights() -> torch.Tensor:
    """The same scores with the causal mask: no token sees the tokens after it."""
    return attention_weights(INPUTS @ INPUTS.T, mask=causal_mask(len(TOKENS)))


def multihead_example() -> MultiHeadAttention:
    """A two-head module (d_in=3, d_out=4) with seeded random weights of standard deviation 2,
    large enough for the two heads to differ visibly (see docs/attention-maps.md)."""
    torch.manual_seed(123)
    attention = MultiHeadAttention(d_in=3, d_out=4, num_heads=2).eval()
    with torch.no_grad():
        for parameter in attention.parameters():
            torch.nn.init.normal_(parameter, std=2.0)
    return attention


def head_weights() -> torch.Tensor:
    """(num_heads, 6, 6): the weights of each head of ``multihead_example`` on the inputs."""
    with torch.no_grad():
        return multihead_example().steps(INPUTS).weights


MAPS: dict[str, tuple[Callable[[], torch.Tensor], str]] = {
    "journey": (journey_weights, "Simplified self-attention"),
    "journey-causal": (journey_causal_weights, "Causal: no look-ahead"),
    "head-1": (lambda: head_weights()[0], "Head 1 of 2"),
    "head-2": (lambda: head_weights()[1], "Head 2 of 2"),
}


def render(name: str, theme: str) -> bytes:
    compute, title = MAPS[name]
    return svg_bytes(plot_attention(compute(), TOKENS, title=title, theme=theme))


def on_files(files: Files, config) -> Files:
    for name in MAPS:
        for theme in ("light", "dark"):
            uri = f"images/attention-maps/{name}-{theme}.svg"
            files.append(File.generated(config, uri, content=render(name, theme)))
    return files
