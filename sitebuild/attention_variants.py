"""The figures of the pages on grouped-query attention, the KV cache, positions
and cross-attention, computed with ``selfattention`` and drawn with ``plot_attention``.

Each figure is drawn for Material's light and dark schemes as SVG files added to the site
under ``images/attention-variants/``; pages show them with ``#only-light`` / ``#only-dark``.
``tests/test_attention_variants.py`` checks the tensor behind each figure.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from selfattention import MultiHeadAttention, apply_rope, causal_mask, plot_attention
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.generated import add_themed_svgs
from sitebuild.seeds import JOURNEY_TOKENS
from sitebuild.strings import chinese, chinese_axes
from sitebuild.svg import svg_bytes

TOKENS = JOURNEY_TOKENS


def gqa_grouping(num_heads: int = 8, num_kv_heads: int = 2) -> torch.Tensor:
    """(num_heads, num_kv_heads): 1 where query head h reads key/value head g, measured by
    changing each key/value head's weights and seeing which query heads' outputs move."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 2 * num_heads, num_heads, num_kv_heads=num_kv_heads).double()
    inputs = torch.randn(5, 4, dtype=torch.float64)
    used = torch.zeros(num_heads, num_kv_heads, dtype=torch.float64)
    with torch.no_grad():
        before = attention.steps(inputs).context  # (num_heads, 5, head_dim)
        for g in range(num_kv_heads):
            rows = slice(g * attention.head_dim, (g + 1) * attention.head_dim)
            attention.w_value.weight[rows] += 1.0
            after = attention.steps(inputs).context
            attention.w_value.weight[rows] -= 1.0
            used[:, g] = (after - before).abs().amax(dim=(-2, -1)).gt(0).double()
    return used


def cache_mask(new: int = 3) -> torch.Tensor:
    """(new, 6): which of six positions the last ``new`` tokens see, three already cached."""
    return causal_mask(new, key_len=len(TOKENS)).double()


def cache_mask_wrong(new: int = 3) -> torch.Tensor:
    """The same queries with the causal mask aligned to the first position (the trap)."""
    return torch.ones(new, len(TOKENS), dtype=torch.bool).tril().double()


def rope_scores(length: int = 8, head_dim: int = 8) -> torch.Tensor:
    """(length, length): the score of one vector at position m with itself at position n,
    after RoPE (unit length, so 1 at m = n): the same along every diagonal."""
    vector = torch.ones(length, head_dim, dtype=torch.float64) / head_dim**0.5
    rotated = apply_rope(vector)
    return rotated @ rotated.T


def cross_lookup() -> torch.Tensor:
    """(3, 6): cross-attention weights of three queries over a six-token context, with
    hand-set weights (identity projections) so that each query looks up one context token."""
    attention = MultiHeadAttention(6, 6, 1).double()
    with torch.no_grad():
        for linear in (attention.w_query, attention.w_key, attention.w_value, attention.out_proj):
            linear.weight.copy_(torch.eye(6))
        attention.out_proj.bias.zero_()
        context = torch.eye(6, dtype=torch.float64)  # one direction per token
        inputs = 10.0 * context[[4, 0, 2]]  # queries asking for "one", "Your", "starts"
        return attention.steps(inputs, context=context).weights[0]


FIGURES: dict[str, tuple[Callable[[], torch.Tensor], list[str], list[str], str]] = {
    "gqa-grouping": (gqa_grouping, ["kv 1", "kv 2"], [f"q {h}" for h in range(1, 9)], "Grouping"),
    "cache-mask": (cache_mask, TOKENS, TOKENS[3:], "3 cached, 3 new: aligned to the end"),
    "cache-mask-wrong": (cache_mask_wrong, TOKENS, TOKENS[3:], "Aligned to the start: wrong"),
    "rope-scores": (
        rope_scores,
        [str(p) for p in range(8)],
        [str(p) for p in range(8)],
        "Same vector, RoPE at each position",
    ),
    "cross-lookup": (cross_lookup, TOKENS, ["q: one", "q: Your", "q: starts"], "Queries over a context of 6"),
}


def render(name: str, theme: str, language: str = "en") -> bytes:
    compute, keys, queries, title = FIGURES[name]
    if language == "zh":
        # The sentence's tokens stay as they are (as on the Chinese pages); the labels are translated.
        queries = [query if query in TOKENS else chinese(query) for query in queries]
        with chinese_fonts():
            figure = plot_attention(
                compute(), keys, query_tokens=queries, title=chinese(title), theme=theme, **chinese_axes()
            )
            return svg_bytes(figure)
    figure = plot_attention(compute(), keys, query_tokens=queries, title=title, theme=theme)
    return svg_bytes(figure)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    language = "zh" if in_chinese(config) else "en"
    return add_themed_svgs(files, config, "attention-variants", FIGURES, render, language)
