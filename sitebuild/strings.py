"""Every word the site's drawings show, in Chinese: one table, English -> Chinese.

The Chinese edition's figures, attention maps and benchmark plots are drawn by the same code as the
English ones, and each text passes through `chinese` (the terms are docs/zh/glossary.md's). A text
with an English word and no entry here fails the Chinese build (`chinese` raises), so a changed
English label cannot silently stay English. Texts without English words (``"×"``, ``"$X$"``,
``"q 1"``, numbers) are drawn as they are.
"""

from __future__ import annotations

import re
from typing import TypedDict

__all__ = ["CHINESE", "DATA_FLOW", "MAPS", "PLOTS", "AxisLabels", "chinese", "chinese_axes", "chinese_plot_title"]

# The data-flow figures (sitebuild/figures.py). The titles of the trainable page's figures are the
# 3-input tutorial's steps, as its Chinese page names them. matplotlib draws a label with $...$ all
# in its maths fonts, which have no Chinese: those become plain text here.
DATA_FLOW = {
    "1. Prepare inputs": "第一步：准备输入",
    "2. Initialise weights": "第二步：初始化参数",
    "3. Derive keys, queries and values": "第三步：获取键、查询和值",
    "4. Scores of input 1": "第四步：输入 1 的注意力分数",
    "5. Softmax": "第五步：softmax",
    "6. Weight the values (input 1)": "第六步：用权重乘以值（输入 1）",
    "7. Sum into output 1": "第七步：相加得到输出 1",
    "8. All inputs at once": "第八步：所有输入一起计算",
    "softmax of each row ↓": "对每一行做 softmax ↓",
    "approximated, as in the article:": "按原文章的近似值：",
    "sum ↓ →": "求和 ↓ →",
    "split →": "拆分 →",
    "concat →": "拼接 →",
    "blocked scores become −∞ ↓": "被掩蔽的分数变为 −∞ ↓",
    "$A$ (approximated)": "A（近似值）",
    "$A$ (exact)": "A（精确值）",
    "$M$ (✓ = may attend)": "M（✓ = 可以关注）",
    r"masked $\Omega$": "掩蔽后的 Ω",
    "output": "输出",
}

# The attention maps and the figures of the grouped-query, KV-cache, positions and cross-attention
# pages (sitebuild/attention_maps.py, sitebuild/attention_variants.py): titles, axes, query labels.
MAPS = {
    "key (attended to)": "键（被关注方）",
    "query (attending)": "查询（关注方）",
    "Simplified self-attention": "简化的自注意力",
    "Causal: no look-ahead": "因果：不看未来",
    "Trained, layer 1: previous token": "训练后，第 1 层：前一个词元",
    "Trained, layer 2: induction": "训练后，第 2 层：归纳",
    "Untrained, layer 1: no pattern": "未训练，第 1 层：没有规律",
    "Tiny GPT, layer 2: previous character": "小型 GPT，第 2 层：前一个字符",
    "Grouping": "分组",
    "3 cached, 3 new: aligned to the end": "缓存 3 个，新来 3 个：对齐到末尾",
    "Aligned to the start: wrong": "对齐到开头：错误",
    "Same vector, RoPE at each position": "同一个向量，在每个位置施加 RoPE",
    "Queries over a context of 6": "三个查询，上下文有 6 个词元",
    "q: one": "查询：one",
    "q: Your": "查询：Your",
    "q: starts": "查询：starts",
}

# The benchmark plots (sitebuild/benchmark_plots.py), in docs/zh/performance.md's wording; their
# titles name the machine and the run's configuration (`chinese_plot_title`).
PLOTS = {
    "sequence length n": "序列长度 n",
    "median time (ms)": "时间的中位数（毫秒）",
    "median CPU time, forward + backward (ms)": "CPU 时间的中位数，前向 + 反向（毫秒）",
    "peak memory (MiB)": "峰值内存（MiB）",
    "peak memory above inputs (MiB)": "超出输入部分的峰值内存（MiB）",
    "CPU time / sdpa's": "CPU 时间与 sdpa 之比",
    "memory above inputs / sdpa's": "超出输入部分的内存与 sdpa 之比",
    # The legends: the forms' names (code, as on the page) with the page's Chinese for them.
    "naive": "naive（朴素形式）",
    "blockwise": "blockwise（分块形式）",
    "sdpa": "sdpa（融合内核）",
    "forward + backward, relative to torch's fused scaled_dot_product_attention": (
        "前向 + 反向，相对于 torch 的融合 scaled_dot_product_attention"
    ),
}

CHINESE: dict[str, str] = {**DATA_FLOW, **MAPS, **PLOTS}

# An English word: three letters or more, outside $...$ (maths), "softmax" aside (a name, as in the
# Chinese pages).
ENGLISH_WORD = re.compile(r"\b(?!softmax\b)[a-z]{3,}\b")
PLOT_TITLE = re.compile(
    r"(?P<machine>.+): batch (?P<batch>\d+), (?P<heads>\d+) heads, head size (?P<head_dim>\d+), (?P<dtype>\w+)"
    r"(?P<training>, forward \+ backward)?"
)


def chinese(text: str) -> str:
    """``text`` in Chinese: its entry in `CHINESE`, or ``text`` itself if it has no English word.

    Raises:
        ValueError: ``text`` has an English word and no entry in `CHINESE`.
    """
    if text in CHINESE:
        return CHINESE[text]
    if ENGLISH_WORD.search(re.sub(r"\$[^$]*\$", "", text)):
        raise ValueError(f"no Chinese for {text!r}: add it to sitebuild/strings.py")
    return text


def chinese_plot_title(title: str) -> str:
    """A benchmark plot's title in Chinese: a fixed title from `CHINESE`, or the machine and the
    configuration of the run (``"CPU: batch 1, 4 heads, head size 64, float32"``).

    Raises:
        ValueError: the title is neither.
    """
    if title in CHINESE:
        return CHINESE[title]
    match = PLOT_TITLE.fullmatch(title)
    if match is None:
        raise ValueError(f"no Chinese for the plot title {title!r}: add it to sitebuild/strings.py")
    machine, batch, heads, head_dim, dtype = (
        match["machine"],
        match["batch"],
        match["heads"],
        match["head_dim"],
        match["dtype"],
    )
    training = "，前向 + 反向" if match["training"] else ""
    return f"{machine}：批大小 {batch}，{heads} 个头，头维度 {head_dim}，{dtype}{training}"


class AxisLabels(TypedDict):
    """``plot_attention``'s ``key_label`` and ``query_label``."""

    key_label: str
    query_label: str


def chinese_axes() -> AxisLabels:
    """``plot_attention``'s axis labels in Chinese, as its ``key_label`` and ``query_label``."""
    return {"key_label": chinese("key (attended to)"), "query_label": chinese("query (attending)")}
