"""The figures of the pages on grouped-query attention, the KV cache, positions
and cross-attention, computed with ``selfattention`` and drawn with ``plot_attention``.

Each figure is drawn for Material's light and dark schemes as SVG files added to the site
under ``images/attention-variants/``; pages show them with ``#only-light`` / ``#only-dark``.
``tests/test_attention_variants.py`` checks the tensor behind each figure. `alt_text` writes each
figure's alt text, in English and Chinese, from the same tensor (sitebuild/alt_texts.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from selfattention import MultiHeadAttention, apply_rope, causal_mask, plot_attention
from sitebuild.alt_texts import from_table, number, require
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


def _prefix(row: torch.Tensor) -> int:
    """How many positions a mask row sees, all of them at the start (-1 if they are not a prefix)."""
    seen = int(row.sum().item())
    return seen if bool(row[:seen].eq(1).all()) else -1


def _alt_gqa_grouping(language: str) -> str:
    used = gqa_grouping()
    num_heads, num_kv_heads = used.shape
    require(bool(used.sum(dim=1).eq(1).all()), "gqa-grouping", "that each query head reads one key/value head")
    groups = []
    for g in range(num_kv_heads):
        heads = used[:, g].nonzero().flatten().tolist()
        require(heads == list(range(heads[0], heads[-1] + 1)), "gqa-grouping", "that groups are consecutive heads")
        groups.append((heads[0] + 1, heads[-1] + 1, g + 1))
    if language == "zh":
        reads = "，".join(f"查询头 {first} 到 {last} 读取键/值头 {g}" for first, last, g in groups)
        return f"{number(num_heads, 'zh')}个查询头乘{number(num_kv_heads, 'zh')}个键/值头的网格：{reads}。"
    reads = ", ".join(f"query heads {first} to {last} read key/value head {g}" for first, last, g in groups)
    return f"A grid of {number(num_heads, 'en')} query heads by {number(num_kv_heads, 'en')} key/value heads: {reads}."


def _alt_cache_mask(language: str) -> str:
    mask = cache_mask()
    new, total = mask.shape
    seen = [_prefix(row) for row in mask]
    all_before = seen == list(range(total - new + 1, total + 1))
    require(all_before, "cache-mask", "that each new token sees itself and all before it")
    queries = TOKENS[total - new :]
    sentence = " ".join(TOKENS)
    if language == "zh":
        parts = [
            f"“{token}”能看到{'全部' if count == total else '前'}{number(count, 'zh')}个{'词元' if i == 0 else ''}"
            for i, (token, count) in enumerate(zip(queries, seen, strict=True))
        ]
        return (
            f"以“{sentence}”的{number(total, 'zh')}个词元为例，{number(total - new, 'zh')}个已缓存词元之后"
            f"{number(new, 'zh')}个新词元的掩码：{'，'.join(parts)}。"
        )
    parts = [
        f'"{token}"{" sees" if i == 0 else ""} {"all" if count == total else "the first"} {number(count, "en")}'
        + (" tokens" if i == 0 else "")
        for i, (token, count) in enumerate(zip(queries, seen, strict=True))
    ]
    return (
        f"The mask of {number(new, 'en')} new tokens after {number(total - new, 'en')} cached ones, over the "
        f'{number(total, "en")} tokens of "{sentence}": {", ".join(parts)}.'
    )


def _alt_cache_mask_wrong(language: str) -> str:
    mask = cache_mask_wrong()
    new, total = mask.shape
    seen = [_prefix(row) for row in mask]
    require(seen == list(range(1, new + 1)), "cache-mask-wrong", "that the i-th new token sees the first i tokens")
    queries = TOKENS[total - new :]
    require(min(total - new + i for i in range(new)) >= max(seen), "cache-mask-wrong", "that they all come after")
    if language == "zh":
        parts = [f"“{queries[0]}”只能看到“{TOKENS[0]}”"] + [
            f"“{token}”只能看到前{number(count, 'zh')}个{'词元' if i == 1 else ''}"
            for i, (token, count) in enumerate(zip(queries, seen, strict=True))
            if i > 0
        ]
        return (
            f"同样{number(new, 'zh')}个查询，掩码与第一个位置对齐：{'，'.join(parts)}，"
            f"尽管这{number(new, 'zh')}个查询都位于它们之后。"
        )
    parts = [f'"{queries[0]}" sees only "{TOKENS[0]}"'] + [
        f'"{token}" the first {number(count, "en")}' + (" tokens" if i == 1 else "")
        for i, (token, count) in enumerate(zip(queries, seen, strict=True))
        if i > 0
    ]
    return (
        f"The same {number(new, 'en')} queries with the mask aligned to the first position: {', '.join(parts)}, "
        f"although all {number(new, 'en')} come after them."
    )


def _alt_rope_scores(language: str) -> str:
    scores = rope_scores()
    n = len(scores)
    for offset in range(-(n - 1), n):
        diagonal = scores.diagonal(offset)
        same = torch.allclose(diagonal, diagonal[0].expand_as(diagonal))
        require(same, "rope-scores", "the same along each diagonal")
    first, *others = (f"{scores[0, k].item():.2f}" for k in range(n))
    if language == "zh":
        return (
            f"位置 0 到 {n - 1} 上的{number(n, 'zh')}乘{number(n, 'zh')}分数网格：对角线上为 {first}，偏离一步为 "
            f"{others[0]}，接着是 {'、'.join(others[1:])}，每条对角线上的值都相同。"
        )
    return (
        f"An {number(n, 'en')} by {number(n, 'en')} grid of scores over positions 0 to {n - 1}: {first} on the "
        f"diagonal, {others[0]} one step off it, then {', '.join(others[1:])}, the same along each diagonal."
    )


def _alt_cross_lookup(language: str) -> str:
    weights = cross_lookup()
    labels = FIGURES["cross-lookup"][2]
    asked = [label.removeprefix("q: ") for label in labels]
    found = [TOKENS[int(i)] for i in weights.argmax(dim=-1)]
    require(found == asked, "cross-lookup", "that each query puts its largest weight on the token it asks for")
    top = {f"{w:.2f}" for w in weights.max(dim=-1).values.tolist()}
    rest = {f"{w:.2f}" for w in weights.flatten().tolist()} - top
    require(len(top) == 1 and len(rest) == 1, "cross-lookup", "one weight on the token asked for and one elsewhere")
    ((high,), (low,)) = (top, rest)
    n_queries, n_keys = weights.shape
    if language == "zh":
        parts = [
            f"对应“{token}”的查询在“{token}”上{'的权重' if i == 0 else ''}为 {high}" for i, token in enumerate(asked)
        ]
        return (
            f"{number(n_queries, 'zh')}个查询在{number(n_keys, 'zh')}个上下文词元上的权重：{'，'.join(parts)}；"
            f"其余每个权重都约为 {low}。"
        )
    parts = [f'the query for "{token}"{" puts" if i == 0 else ""} {high} on "{token}"' for i, token in enumerate(asked)]
    return (
        f"{number(n_queries, 'en').capitalize()} queries over the {number(n_keys, 'en')} context tokens: "
        f"{', '.join(parts)}; every other weight is about {low}."
    )


ALT_TEXTS: dict[str, Callable[[str], str]] = {
    "gqa-grouping": _alt_gqa_grouping,
    "cache-mask": _alt_cache_mask,
    "cache-mask-wrong": _alt_cache_mask_wrong,
    "rope-scores": _alt_rope_scores,
    "cross-lookup": _alt_cross_lookup,
}


def alt_text(name: str, language: str) -> str:
    """The alt text of figure ``name`` in ``language`` (``"en"``, ``"zh"``), written from the tensor
    it is drawn from (see sitebuild/alt_texts.py).

    Raises:
        ValueError: no figure ``name``.
    """
    return from_table(ALT_TEXTS, name, language)
