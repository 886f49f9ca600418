"""Draw the data-flow figures of the step pages from the package's code at build time.

Each figure is a `sitebuild.diagrams.Diagram` built here from the tensors that the page's
examples print, computed with the same package functions, and drawn by ``draw_diagram`` twice,
for Material's light and dark schemes, as ``images/figures/NAME-light.svg`` and ``-dark.svg``;
pages show them with ``#only-light`` / ``#only-dark``. Nothing is drawn by hand or committed.
``tests/test_figures.py`` checks every figure's numbers against an independent computation.
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
            (Operator("rounded, as in the tutorial:"), Panel(ROUNDED_WEIGHTS[0], "weights", r"$\alpha_1$", decimals=1)),
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
                Panel(ROUNDED_WEIGHTS, "weights", "$A$ (rounded)", decimals=1),
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
