"""Draw the data-flow figures of the step pages from the package's code at build time.

Each figure is a `sitebuild.diagrams.Diagram` built here from the tensors that the page's
examples print, computed with the same package functions, and drawn by ``draw_diagram`` twice,
for Material's light and dark schemes, as ``images/figures/NAME-light.svg`` and ``-dark.svg``;
pages show them with ``#only-light`` / ``#only-dark``. Nothing is drawn by hand or committed.
``tests/test_figures.py`` checks every figure's numbers against an independent computation.
`alt_text` writes each figure's alt text, in English and Chinese, from the same tensors
(sitebuild/alt_texts.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from selfattention import (
    AttentionSteps,
    MultiHeadAttention,
    MultiHeadSteps,
    attention_context,
    attention_steps,
    causal_mask,
    mask_scores,
    self_attention_steps,
    weighted_values,
)
from sitebuild.alt_texts import by, from_table, join, number, require, vector
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.diagrams import Diagram, Operator, Panel, draw_diagram
from sitebuild.generated import add_themed_svgs
from sitebuild.seeds import JOURNEY_INPUTS, QKV_INPUTS, ROUNDED_WEIGHTS, W_KEY, W_QUERY, W_VALUE
from sitebuild.strings import chinese
from sitebuild.svg import svg_bytes


def simplified() -> AttentionSteps:
    """The steps of docs/simplified.md: scores X X^T, softmax, context A X (no scaling)."""
    return attention_steps(JOURNEY_INPUTS, JOURNEY_INPUTS, JOURNEY_INPUTS, scale=1.0)


def trainable() -> AttentionSteps:
    """The steps of docs/trainable.md, with the tutorial's s = 1."""
    return self_attention_steps(QKV_INPUTS, W_QUERY, W_KEY, W_VALUE, scale=1.0)


@functools.cache
def multihead() -> tuple[MultiHeadAttention, torch.Tensor, MultiHeadSteps]:
    """The module and steps of docs/multihead.md (seed 123), on the batch of two sentences."""
    torch.manual_seed(123)
    attention = MultiHeadAttention(d_in=3, d_out=4, num_heads=2).eval()
    batch = torch.stack([JOURNEY_INPUTS, JOURNEY_INPUTS.flip(0)])
    with torch.no_grad():
        return attention, attention.w_query(batch), attention.steps(batch)


def _simplified_scores() -> Diagram:
    steps = simplified()
    return Diagram(
        (
            (
                Panel(JOURNEY_INPUTS, "inputs", "$X$"),
                Operator("→"),
                Panel(steps.scores, "scores", r"$\Omega = X X^\top$"),
            ),
        )
    )


def _simplified_weights() -> Diagram:
    steps = simplified()
    return Diagram(
        (
            (Panel(steps.scores, "scores", r"$\Omega$"),),
            (Operator("softmax of each row ↓"),),
            (Panel(steps.weights, "weights", r"$A$"),),
        )
    )


def _simplified_context() -> Diagram:
    steps = simplified()
    return Diagram(
        (
            (
                Panel(steps.weights, "weights", r"$A$"),
                Operator("×"),
                Panel(JOURNEY_INPUTS, "inputs", "$X$"),
                Operator("="),
                Panel(steps.context, "context", "$Z$"),
            ),
        )
    )


def _trainable_inputs() -> Diagram:
    return Diagram(((Panel(QKV_INPUTS, "inputs", "$X$", decimals=None),),), title="1. Prepare inputs")


def _trainable_weights() -> Diagram:
    return Diagram(
        (
            (
                Panel(W_KEY, "keys", "$W_k$", decimals=None),
                Panel(W_QUERY, "queries", "$W_q$", decimals=None),
                Panel(W_VALUE, "values", "$W_v$", decimals=None),
            ),
        ),
        title="2. Initialise weights",
    )


def _trainable_projections() -> Diagram:
    steps = trainable()
    rows = tuple(
        (
            Panel(QKV_INPUTS, "inputs", "$X$", decimals=None),
            Operator("×"),
            Panel(weight, role, f"$W_{letter}$", decimals=None),
            Operator("="),
            Panel(result, role, f"${letter.upper()}$", decimals=None),
        )
        for weight, role, letter, result in (
            (W_KEY, "keys", "k", steps.keys),
            (W_QUERY, "queries", "q", steps.queries),
            (W_VALUE, "values", "v", steps.values),
        )
    )
    return Diagram(rows, title="3. Derive keys, queries and values")


def _trainable_scores() -> Diagram:
    steps = trainable()
    return Diagram(
        (
            (
                Panel(steps.queries[0], "queries", "$q^{(1)}$", decimals=None),
                Operator("×"),
                Panel(steps.keys.T, "keys", r"$K^\top$", decimals=None),
                Operator("="),
                Panel(steps.scores[0], "scores", r"$\omega_1$", decimals=None),
            ),
        ),
        title="4. Scores of input 1",
    )


def _trainable_softmax() -> Diagram:
    steps = trainable()
    return Diagram(
        (
            (
                Panel(steps.scores[0], "scores", r"$\omega_1$", decimals=None),
                Operator("softmax →"),
                Panel(steps.weights[0], "weights", r"$\alpha_1$", decimals=3),
            ),
            (
                Operator("approximated, as in the article:"),
                Panel(ROUNDED_WEIGHTS[0], "weights", r"$\alpha_1$", decimals=1),
            ),
        ),
        title="5. Softmax",
    )


def _trainable_weighted_values() -> Diagram:
    steps = trainable()
    return Diagram(
        (
            (
                Panel(ROUNDED_WEIGHTS[0][:, None], "weights", r"$\alpha_1^\top$", decimals=1),
                Operator("×"),
                Panel(steps.values, "values", "$V$", decimals=None),
                Operator("="),
                Panel(
                    weighted_values(ROUNDED_WEIGHTS, steps.values)[0], "values", r"$\alpha_{1j} v^{(j)}$", decimals=1
                ),
            ),
        ),
        title="6. Weight the values (input 1)",
    )


def _trainable_sum() -> Diagram:
    steps = trainable()
    weighted = weighted_values(ROUNDED_WEIGHTS, steps.values)[0]
    return Diagram(
        (
            (
                Panel(weighted, "values", r"$\alpha_{1j} v^{(j)}$", decimals=1),
                Operator("sum ↓ →"),
                Panel(weighted.sum(dim=0), "context", "$z^{(1)}$", decimals=1),
            ),
        ),
        title="7. Sum into output 1",
    )


def _trainable_all() -> Diagram:
    steps = trainable()
    return Diagram(
        (
            (
                Panel(ROUNDED_WEIGHTS, "weights", "$A$ (approximated)", decimals=1),
                Operator("×"),
                Panel(steps.values, "values", "$V$", decimals=None),
                Operator("="),
                Panel(attention_context(ROUNDED_WEIGHTS, steps.values), "context", "$Z$", decimals=1),
            ),
            (
                Panel(steps.weights, "weights", "$A$ (exact)", decimals=2),
                Operator("×"),
                Panel(steps.values, "values", "$V$", decimals=None),
                Operator("="),
                Panel(steps.context, "context", "$Z$", decimals=2),
            ),
        ),
        title="8. All inputs at once",
    )


def _causal_mask() -> Diagram:
    scores = simplified().scores
    mask = causal_mask(6)
    return Diagram(
        (
            (Panel(mask, "mask", "$M$ (✓ = may attend)"),),
            (Operator("blocked scores become −∞ ↓"),),
            (Panel(mask_scores(scores, mask), "scores", r"masked $\Omega$"),),
        )
    )


def _causal_weights() -> Diagram:
    steps = attention_steps(JOURNEY_INPUTS, JOURNEY_INPUTS, JOURNEY_INPUTS, causal_mask(6), scale=1.0)
    return Diagram(((Panel(steps.weights, "weights", r"$A = \mathrm{softmax}(\mathrm{masked}\ \Omega)$"),),))


def _multihead_split() -> Diagram:
    _, queries, steps = multihead()
    return Diagram(
        (
            (
                Panel(queries[0], "queries", "$Q$", split=(2,)),
                Operator("split →"),
                Panel(steps.queries[0, 0], "queries", "$Q_1$"),
                Panel(steps.queries[0, 1], "queries", "$Q_2$"),
            ),
        )
    )


def _multihead_heads() -> Diagram:
    _, _, steps = multihead()
    return Diagram(
        tuple(
            (
                Panel(steps.weights[0, h], "weights", f"$A_{h + 1}$"),
                Operator("×"),
                Panel(steps.values[0, h], "values", f"$V_{h + 1}$"),
                Operator("="),
                Panel(steps.context[0, h], "context", f"$Z_{h + 1}$"),
            )
            for h in range(2)
        )
    )


def _multihead_concat() -> Diagram:
    _, _, steps = multihead()
    return Diagram(
        (
            (
                Panel(steps.context[0, 0], "context", "$Z_1$"),
                Panel(steps.context[0, 1], "context", "$Z_2$"),
                Operator("concat →"),
                Panel(steps.concatenated[0], "context", "$[Z_1, Z_2]$", split=(2,)),
            ),
            (Operator(r"× $W_o$ + $b_o$ ="), Panel(steps.output[0], "output", "output")),
        )
    )


FIGURES: dict[str, Callable[[], Diagram]] = {
    "simplified-scores": _simplified_scores,
    "simplified-weights": _simplified_weights,
    "simplified-context": _simplified_context,
    "trainable-1-inputs": _trainable_inputs,
    "trainable-2-weights": _trainable_weights,
    "trainable-3-projections": _trainable_projections,
    "trainable-4-scores": _trainable_scores,
    "trainable-5-softmax": _trainable_softmax,
    "trainable-6-weighted-values": _trainable_weighted_values,
    "trainable-7-sum": _trainable_sum,
    "trainable-8-all": _trainable_all,
    "causal-mask": _causal_mask,
    "causal-weights": _causal_weights,
    "multihead-split": _multihead_split,
    "multihead-heads": _multihead_heads,
    "multihead-concat": _multihead_concat,
}


def in_chinese_words(diagram: Diagram) -> Diagram:
    """The diagram with its words in Chinese (sitebuild/strings.py): title, operators and panel names."""

    def item(it: Panel | Operator) -> Panel | Operator:
        if isinstance(it, Panel):
            return dataclasses.replace(it, name=chinese(it.name))
        return Operator(chinese(it.text))

    rows = tuple(tuple(item(it) for it in row) for row in diagram.rows)
    return Diagram(rows, title=chinese(diagram.title) if diagram.title else None)


def render(name: str, theme: str, language: str = "en") -> bytes:
    if language == "zh":
        with chinese_fonts():
            return svg_bytes(draw_diagram(in_chinese_words(FIGURES[name]()), theme=theme))
    return svg_bytes(draw_diagram(FIGURES[name](), theme=theme))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    language = "zh" if in_chinese(config) else "en"
    return add_themed_svgs(files, config, "figures", FIGURES, render, language)


def _step(name: str) -> int:
    """The tutorial step a trainable figure shows, from its title (``"4. Scores of input 1"``)."""
    title = FIGURES[name]().title or ""
    return int(title.split(".", 1)[0])


def _alt_simplified_scores(language: str) -> str:
    steps = simplified()
    (rows, columns), (n, _) = JOURNEY_INPUTS.shape, steps.scores.shape
    if language == "zh":
        return (
            f"灰色的输入矩阵 X（{number(rows, 'zh')}行，每行{number(columns, 'zh')}个数）和紫色的{by((n, n), 'zh')}"
            "分数矩阵 Omega = X 乘以 X 的转置，上方标出了各项的数字。"
        )
    return (
        f"The input matrix X, {number(rows, 'en')} rows of {number(columns, 'en')} numbers in grey, and the "
        f"{by((n, n), 'en', joiner='-by-')} score matrix Omega = X X-transpose in purple, "
        "with the numbers printed above."
    )


def _alt_simplified_weights(language: str) -> str:
    weights = simplified().weights
    sums = weights.sum(dim=-1)
    require(bool((weights > 0).all()), "simplified-weights", "that every weight is positive")
    require(torch.allclose(sums, torch.ones_like(sums)), "simplified-weights", "that each row sums to 1")
    total = f"{sums[0].item():.0f}"
    if language == "zh":
        return (
            f"紫色的分数矩阵 Omega 经过逐行 softmax，变成朱红色的权重矩阵 A：{number(len(weights), 'zh')}行正的权重，"
            f"每行之和为 {total}。"
        )
    return (
        "The score matrix Omega in purple becomes, by a softmax of each row, the weight matrix A in vermillion: "
        f"{number(len(weights), 'en')} rows of positive weights, each row summing to {total}."
    )


def _alt_simplified_context(language: str) -> str:
    steps = simplified()
    a, x, z = (tuple(t.shape) for t in (steps.weights, JOURNEY_INPUTS, steps.context))
    if language == "zh":
        return (
            f"朱红色的权重 A（{by(a, 'zh')}）乘以灰色的输入 X（{by(x, 'zh')}），得到天蓝色的上下文向量 Z"
            f"（{by(z, 'zh')}），上方标出了各项的数字。"
        )
    return (
        f"The weights A ({by(a, 'en')}, vermillion) times the inputs X ({by(x, 'en')}, grey) give the context "
        f"vectors Z ({by(z, 'en')}, sky blue), with the numbers printed above."
    )


def _tutorial(name: str, language: str) -> str:
    """``"Step 4 of the tutorial: "`` or ``"原教程第四步："``."""
    step = _step(name)
    return f"原教程第{number(step, 'zh', ordinal=True)}步：" if language == "zh" else f"Step {step} of the tutorial: "


def _alt_trainable_inputs(language: str) -> str:
    rows, columns = QKV_INPUTS.shape
    if language == "zh":
        return (
            f"{_tutorial('trainable-1-inputs', 'zh')}输入矩阵 X，{number(rows, 'zh')}行，"
            f"每行{number(columns, 'zh')}个数，灰色。"
        )
    return (
        f"{_tutorial('trainable-1-inputs', 'en')}the input matrix X, {number(rows, 'en')} rows of "
        f"{number(columns, 'en')} numbers, in grey."
    )


def _alt_trainable_weights(language: str) -> str:
    matrices = (W_KEY, W_QUERY, W_VALUE)
    shapes = {tuple(w.shape) for w in matrices}
    require(len(shapes) == 1, "trainable-2-weights", "that the three weight matrices have one shape")
    ((rows, columns),) = shapes
    if language == "zh":
        return (
            f"{_tutorial('trainable-2-weights', 'zh')}{number(len(matrices), 'zh')}个权重矩阵 "
            "W_k（橙色）、W_q（蓝色）和 W_v（绿色），"
            f"每个都是{number(rows, 'zh')}行{number(columns, 'zh')}列。"
        )
    return (
        f"{_tutorial('trainable-2-weights', 'en')}the {number(len(matrices), 'en')} weight matrices "
        f"W_k (orange), W_q (blue) and W_v (green), {number(rows, 'en')} rows by {number(columns, 'en')} columns each."
    )


def _alt_trainable_projections(language: str) -> str:
    steps = trainable()
    shapes = {tuple(t.shape) for t in (steps.keys, steps.queries, steps.values)}
    require(len(shapes) == 1, "trainable-3-projections", "that K, Q and V have one shape")
    ((rows, columns),) = shapes
    if language == "zh":
        return (
            f"{_tutorial('trainable-3-projections', 'zh')}X 乘以 W_k 得到键 K（橙色），X 乘以 W_q 得到查询 Q（蓝色），"
            f"X 乘以 W_v 得到值 V（绿色），每个都是{number(rows, 'zh')}行{number(columns, 'zh')}列。"
        )
    return (
        f"{_tutorial('trainable-3-projections', 'en')}X times W_k gives the keys K (orange), X times W_q the queries "
        f"Q (blue), X times W_v the values V (green), {by((rows, columns), 'en')} each."
    )


INPUT = 0  # the input the tutorial follows through steps 4 to 7: input 1


def _alt_trainable_scores(language: str) -> str:
    steps = trainable()
    query, scores = vector(steps.queries[INPUT].tolist()), vector(steps.scores[INPUT].tolist())
    if language == "zh":
        return (
            f"{_tutorial('trainable-4-scores', 'zh')}输入 {INPUT + 1} 的查询 {query} 乘以转置后的键，"
            f"得到输入 {INPUT + 1} 的注意力分数 {scores}。"
        )
    return (
        f"{_tutorial('trainable-4-scores', 'en')}the query of input {INPUT + 1}, {query}, times the transposed keys "
        f"gives the scores of input {INPUT + 1}, {scores}."
    )


def _alt_trainable_softmax(language: str) -> str:
    steps = trainable()
    scores = vector(steps.scores[INPUT].tolist())
    exact, article = vector(steps.weights[INPUT].tolist(), 3), vector(ROUNDED_WEIGHTS[INPUT].tolist(), 1)
    if language == "zh":
        return (
            f"{_tutorial('trainable-5-softmax', 'zh')}softmax 把分数 {scores} 变成权重 {exact}；"
            f"原教程把它们近似写成 {article}。"
        )
    return (
        f"{_tutorial('trainable-5-softmax', 'en')}the softmax turns the scores {scores} into the weights {exact}; "
        f"the tutorial writes them as {article}."
    )


def _alt_trainable_weighted_values(language: str) -> str:
    weighted = weighted_values(ROUNDED_WEIGHTS, trainable().values)[INPUT]
    weights = [f"{w:.1f}" for w in ROUNDED_WEIGHTS[INPUT].tolist()]
    rows = [vector(row) for row in weighted.tolist()]
    if language == "zh":
        return (
            f"{_tutorial('trainable-6-weighted-values', 'zh')}文章给输入 {INPUT + 1} 的权重 {join(weights, 'zh')} "
            f"分别乘以值 V 的各行，得到加权的值 {join(rows, 'zh')}。"
        )
    return (
        f"{_tutorial('trainable-6-weighted-values', 'en')}the article's weights of input {INPUT + 1}, "
        f"{join(weights, 'en')}, times the rows of the values V give the weighted values {join(rows, 'en')}."
    )


def _alt_trainable_sum(language: str) -> str:
    weighted = weighted_values(ROUNDED_WEIGHTS, trainable().values)[INPUT]
    output = vector(weighted.sum(dim=0).tolist(), 1)
    if language == "zh":
        return (
            f"{_tutorial('trainable-7-sum', 'zh')}输入 {INPUT + 1} 的{number(len(weighted), 'zh')}个加权的值按列相加，"
            f"得到输出 {INPUT + 1}，即 {output}。"
        )
    return (
        f"{_tutorial('trainable-7-sum', 'en')}the {number(len(weighted), 'en')} weighted values of input {INPUT + 1} "
        f"summed column by column give output {INPUT + 1}, {output}."
    )


def _alt_trainable_all(language: str) -> str:
    if language == "zh":
        return (
            f"{_tutorial('trainable-8-all', 'zh')}所有输入一次算完，注意力权重 A 乘以值 V 得到输出 Z，"
            "先用文章中的权重，再用精确权重。"
        )
    return (
        f"{_tutorial('trainable-8-all', 'en')}for all inputs at once, the weights A times the values V give the "
        "outputs Z, first with the article's weights, then with the exact ones."
    )


def _alt_causal_mask(language: str) -> str:
    mask, masked = (panel.values for panel in _causal_mask().panels)
    n = len(mask)
    require(torch.equal(mask, torch.ones(n, n, dtype=torch.bool).tril()), "causal-mask", "a lower-triangular mask")
    require(bool(masked.triu(diagonal=1).eq(-torch.inf)[~mask].all()), "causal-mask", "minus infinity above it")
    if language == "zh":
        return (
            f"因果掩码 M：一个{by((n, n), 'zh')}的网格，对角线上及其下方打了勾；下面是掩蔽后的分数，"
            "对角线上及其下方等于原来的分数，对角线上方为负无穷。"
        )
    return (
        f"The causal mask M, a {by((n, n), 'en', joiner='-by-')} grid with check marks on and below the diagonal; "
        "below it the masked scores, equal to the scores on and below the diagonal and minus infinity above it."
    )


def _alt_causal_weights(language: str) -> str:
    (panel,) = _causal_weights().panels
    weights, n = panel.values, len(panel.values)
    require(bool(weights.triu(diagonal=1).eq(0).all()), "causal-weights", "zero above the diagonal")
    first = panel.labels[0][0]
    if language == "zh":
        return f"因果注意力权重：一个对角线上方全为零的{by((n, n), 'zh')}矩阵，第一行第一格是 {first}。"
    return (
        f"The causal attention weights: a {by((n, n), 'en', joiner='-by-')} matrix that is zero above the diagonal, "
        f"with {first} in the first row's first cell."
    )


def _alt_multihead_split(language: str) -> str:
    full, *heads = _multihead_split().panels
    rows, columns = full.values.shape
    (cut,) = full.split
    head_rows, head_columns = heads[0].values.shape
    names = [f"Q_{h + 1}" for h in range(len(heads))]
    if language == "zh":
        return (
            f"第一个句子的查询 Q 有{number(rows, 'zh')}行，每行{number(columns, 'zh')}个数，"
            f"在第 {cut} 列和第 {cut + 1} 列之间被切开，得到 {join(names, 'zh')}，"
            f"各为{number(head_rows, 'zh')}行{number(head_columns, 'zh')}列，每个头一份。"
        )
    return (
        f"The queries Q of the first sentence, {number(rows, 'en')} rows of {number(columns, 'en')} numbers, are cut "
        f"between columns {cut} and {cut + 1} into {join(names, 'en')}, {by((head_rows, head_columns), 'en')} each, "
        "one per head."
    )


def _alt_multihead_heads(language: str) -> str:
    diagram = _multihead_heads()
    a, v, z = (tuple(panel.values.shape) for panel in diagram.rows[0] if isinstance(panel, Panel))
    heads = len(diagram.rows)
    if language == "zh":
        return (
            f"{number(heads, 'zh')}个头各自用注意力权重 A_h（{number(a[0], 'zh')}行{number(a[1], 'zh')}列）乘以值 V_h"
            f"（{number(v[0], 'zh')}行{number(v[1], 'zh')}列），得到自己的上下文 Z_h"
            f"（{number(z[0], 'zh')}行{number(z[1], 'zh')}列）。"
        )
    return (
        f"For each of the {number(heads, 'en')} heads, its weights A_h ({by(a, 'en')}) times its values V_h "
        f"({by(v, 'en')}) give its context Z_h ({by(z, 'en')})."
    )


def _alt_multihead_concat(language: str) -> str:
    *contexts, concatenated, output = _multihead_concat().panels
    names = [f"Z_{h + 1}" for h in range(len(contexts))]
    (rows, columns), (out_rows, out_columns) = concatenated.values.shape, output.values.shape
    if language == "zh":
        return (
            f"{number(len(contexts), 'zh')}个头的上下文 {join(names, 'zh')} 并排拼成一个{number(rows, 'zh')}行"
            f"{number(columns, 'zh')}列的矩阵，输出投影再把它变成{number(out_rows, 'zh')}行{number(out_columns, 'zh')}"
            "列的输出。"
        )
    return (
        f"The {number(len(contexts), 'en')} heads' contexts {join(names, 'en')} placed side by side give a "
        f"{by((rows, columns), 'en', joiner='-by-')} matrix, which the output projection turns into the "
        f"{by((out_rows, out_columns), 'en', joiner='-by-')} output."
    )


ALT_TEXTS: dict[str, Callable[[str], str]] = {
    "simplified-scores": _alt_simplified_scores,
    "simplified-weights": _alt_simplified_weights,
    "simplified-context": _alt_simplified_context,
    "trainable-1-inputs": _alt_trainable_inputs,
    "trainable-2-weights": _alt_trainable_weights,
    "trainable-3-projections": _alt_trainable_projections,
    "trainable-4-scores": _alt_trainable_scores,
    "trainable-5-softmax": _alt_trainable_softmax,
    "trainable-6-weighted-values": _alt_trainable_weighted_values,
    "trainable-7-sum": _alt_trainable_sum,
    "trainable-8-all": _alt_trainable_all,
    "causal-mask": _alt_causal_mask,
    "causal-weights": _alt_causal_weights,
    "multihead-split": _alt_multihead_split,
    "multihead-heads": _alt_multihead_heads,
    "multihead-concat": _alt_multihead_concat,
}


def alt_text(name: str, language: str) -> str:
    """The alt text of figure ``name`` in ``language`` (``"en"``, ``"zh"``), written from the tensors
    it is drawn from (see sitebuild/alt_texts.py).

    Raises:
        ValueError: no figure ``name``.
    """
    return from_table(ALT_TEXTS, name, language)
