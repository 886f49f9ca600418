"""The data-flow figures: each one's numbers against an independent computation and the numbers
the pages print, one colour per role, and every figure a page shows is generated with alt text."""

import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from sitebuild import figures
from sitebuild.diagrams import ROLE_COLOURS, Diagram, Operator, Panel, draw_diagram
from tests.seeds import (
    JOURNEY_CONTEXT,
    JOURNEY_INPUTS,
    JOURNEY_SCORES,
    JOURNEY_WEIGHTS,
    QKV_EXACT_OUTPUTS,
    QKV_EXACT_WEIGHTS,
    QKV_INPUTS,
    QKV_KEYS,
    QKV_QUERIES,
    QKV_ROUNDED_OUTPUTS,
    QKV_ROUNDED_WEIGHTED_VALUES,
    QKV_ROUNDED_WEIGHTS,
    QKV_SCORES,
    QKV_VALUES,
    W_KEY,
    W_QUERY,
    W_VALUE,
)

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
FOUR = {"atol": 5e-5, "rtol": 0}  # the pages print four decimals


@pytest.fixture(scope="module")
def hook():
    return figures


def panels(hook, name):
    return {panel.name: panel for panel in hook.FIGURES[name]().panels}


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_simplified_figures_show_the_pages_tensors(hook):
    x = JOURNEY_INPUTS.double().numpy()
    scores = panels(hook, "simplified-scores")
    assert torch.equal(scores["$X$"].values, JOURNEY_INPUTS)
    np.testing.assert_allclose(scores[r"$\Omega = X X^\top$"].values, x @ x.T, atol=1e-6)
    torch.testing.assert_close(scores[r"$\Omega = X X^\top$"].values, JOURNEY_SCORES, **FOUR)
    weights = panels(hook, "simplified-weights")["$A$"].values
    np.testing.assert_allclose(weights, softmax(x @ x.T), atol=1e-6)
    torch.testing.assert_close(weights, JOURNEY_WEIGHTS, **FOUR)
    context = panels(hook, "simplified-context")["$Z$"].values
    np.testing.assert_allclose(context, softmax(x @ x.T) @ x, atol=1e-6)
    torch.testing.assert_close(context, JOURNEY_CONTEXT, **FOUR)


def test_the_eight_steps_of_the_three_input_tutorial(hook):
    steps = [name for name in hook.FIGURES if name.startswith("trainable-")]
    assert [int(name.split("-")[1]) for name in steps] == list(range(1, 9))  # one figure per step
    assert torch.equal(panels(hook, "trainable-1-inputs")["$X$"].values, QKV_INPUTS)
    two = panels(hook, "trainable-2-weights")
    assert torch.equal(two["$W_k$"].values, W_KEY) and torch.equal(two["$W_q$"].values, W_QUERY)
    assert torch.equal(two["$W_v$"].values, W_VALUE)
    diagram = hook.FIGURES["trainable-3-projections"]()
    x = QKV_INPUTS.numpy()
    for row, (weight, expected) in zip(
        diagram.rows, [(W_KEY, QKV_KEYS), (W_QUERY, QKV_QUERIES), (W_VALUE, QKV_VALUES)], strict=True
    ):
        result = row[-1].values
        np.testing.assert_array_equal(result, x @ weight.numpy())
        assert torch.equal(result, expected) and torch.equal(row[0].values, QKV_INPUTS)
    four = panels(hook, "trainable-4-scores")
    assert torch.equal(four["$q^{(1)}$"].values, QKV_QUERIES[0]) and torch.equal(four[r"$K^\top$"].values, QKV_KEYS.T)
    assert torch.equal(four[r"$\omega_1$"].values, QKV_SCORES[0])
    five = hook.FIGURES["trainable-5-softmax"]().panels
    np.testing.assert_allclose(five[1].values, softmax(np.array([2.0, 4.0, 4.0])), atol=1e-6)
    torch.testing.assert_close(five[1].values, QKV_EXACT_WEIGHTS[0], **FOUR)
    assert torch.equal(five[2].values, QKV_ROUNDED_WEIGHTS[0])
    six = hook.FIGURES["trainable-6-weighted-values"]().panels
    torch.testing.assert_close(six[-1].values, QKV_ROUNDED_WEIGHTED_VALUES[:, 0])
    seven = hook.FIGURES["trainable-7-sum"]().panels
    torch.testing.assert_close(seven[-1].values, QKV_ROUNDED_OUTPUTS[0])
    rounded, exact = hook.FIGURES["trainable-8-all"]().rows
    torch.testing.assert_close(rounded[-1].values, QKV_ROUNDED_OUTPUTS)
    torch.testing.assert_close(exact[0].values, QKV_EXACT_WEIGHTS, **FOUR)
    torch.testing.assert_close(exact[-1].values, QKV_EXACT_OUTPUTS, **FOUR)
    np.testing.assert_allclose(
        exact[-1].values, softmax(QKV_SCORES.numpy().astype(float)) @ QKV_VALUES.numpy(), atol=1e-5
    )


def test_causal_figures_show_the_mask_and_the_masked_weights(hook):
    mask, masked = hook.FIGURES["causal-mask"]().panels
    expected_mask = np.tril(np.ones((6, 6), dtype=bool))
    np.testing.assert_array_equal(mask.values, expected_mask)
    scores = JOURNEY_INPUTS.double().numpy() @ JOURNEY_INPUTS.double().numpy().T
    np.testing.assert_allclose(masked.values, np.where(expected_mask, scores, -np.inf), atol=1e-6)
    assert mask.labels[0][:2] == ["\u2713", "\u00b7"] and masked.labels[0][1] == "\u2212\u221e"
    (weights,) = hook.FIGURES["causal-weights"]().panels
    np.testing.assert_allclose(weights.values, softmax(np.where(expected_mask, scores, -np.inf)), atol=1e-6)


def test_multihead_figures_split_and_concatenate_the_pages_heads(hook):
    torch.manual_seed(123)
    module = torch.nn.Linear(3, 4, bias=False)  # the first draw of the page's module is w_query
    torch.manual_seed(123)
    from selfattention import MultiHeadAttention

    attention = MultiHeadAttention(d_in=3, d_out=4, num_heads=2).eval()
    assert torch.equal(attention.w_query.weight, module.weight)
    x = JOURNEY_INPUTS.double().numpy()
    q = x @ attention.w_query.weight.detach().double().numpy().T
    k = x @ attention.w_key.weight.detach().double().numpy().T
    v = x @ attention.w_value.weight.detach().double().numpy().T
    full, q1, q2 = hook.FIGURES["multihead-split"]().panels
    np.testing.assert_allclose(full.values, q, atol=1e-6)
    np.testing.assert_allclose(q1.values, q[:, :2], atol=1e-6)
    np.testing.assert_allclose(q2.values, q[:, 2:], atol=1e-6)
    assert full.split == (2,)
    contexts = []
    for h, row in enumerate(hook.FIGURES["multihead-heads"]().rows):
        cols = slice(2 * h, 2 * h + 2)
        weights = softmax(q[:, cols] @ k[:, cols].T / np.sqrt(2))
        np.testing.assert_allclose(row[0].values, weights, atol=1e-6)
        np.testing.assert_allclose(row[2].values, v[:, cols], atol=1e-6)
        np.testing.assert_allclose(row[4].values, weights @ v[:, cols], atol=1e-6)
        contexts.append(weights @ v[:, cols])
    _z1, _z2, concatenated, output = hook.FIGURES["multihead-concat"]().panels
    np.testing.assert_allclose(concatenated.values, np.concatenate(contexts, axis=1), atol=1e-6)
    w_o, b_o = attention.out_proj.weight.detach().double().numpy(), attention.out_proj.bias.detach().double().numpy()
    np.testing.assert_allclose(output.values, np.concatenate(contexts, axis=1) @ w_o.T + b_o, atol=1e-6)
    # The page prints this output (docs/multihead.md, sentence 1):
    assert output.labels[0] == ["\u22120.01", "0.30", "\u22120.07", "\u22120.35"]


def test_one_colour_per_role_on_every_figure(hook):
    roles = {"$X$": "inputs", "$Q$": "queries", "$K$": "keys", "$V$": "values", "$Z$": "context", "$A$": "weights"}
    for name in hook.FIGURES:
        for panel in hook.FIGURES[name]().panels:
            if panel.name in roles:
                assert panel.role == roles[panel.name], (name, panel.name)
    figure = draw_diagram(
        Diagram(((Panel(torch.eye(2), "keys", "$K$"), Operator("="), Panel(torch.eye(2), "values", "$V$")),))
    )
    edges = [patch.get_edgecolor() for patch in figure.axes[0].patches if not patch.get_fill()]
    assert [matplotlib.colors.to_hex(edge) for edge in edges] == [
        ROLE_COLOURS["keys"].lower(),
        ROLE_COLOURS["values"].lower(),
    ]
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("1.00") == 4 and texts.count("0.00") == 4 and texts.count("(2, 2)") == 2
    with pytest.raises(ValueError, match="role must be one of"):
        Panel(torch.eye(2), "queris", "Q")
    with pytest.raises(ValueError, match="theme must be one of"):
        draw_diagram(Diagram(((Panel(torch.eye(2), "keys", "K"),),)), theme="sepia")


def test_every_figure_a_page_shows_is_generated_with_alt_text(hook):
    shown = {}
    for page in (ROOT / "docs").glob("*.md"):
        for alt, name, theme in re.findall(
            r"!\[([^\]]*)\]\(images/figures/([\w-]+)-(light|dark)\.svg#only-\3\)", page.read_text(encoding="utf-8")
        ):
            assert len(alt) > 30, (page.name, name)
            shown.setdefault(name, set()).add(theme)
    assert set(shown) == set(hook.FIGURES) and all(themes == {"light", "dark"} for themes in shown.values())
    for page, prefix in [
        ("simplified", "simplified-"),
        ("trainable", "trainable-"),
        ("causal", "causal-"),
        ("multihead", "multihead-"),
    ]:
        text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
        assert all(f"images/figures/{name}-light.svg" in text for name in hook.FIGURES if name.startswith(prefix))
