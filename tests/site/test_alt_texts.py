"""The figures' alt texts (sitebuild/alt_texts.py): written by the drawing code from the figure's
tensors, carried exactly by both editions, every number recomputed here independently.

Tier 2: the maps of docs/trained.md need the trained model (about 13 s of CPU), which tier 2 trains
once for this file and tests/site/test_trained_model.py, and the map of docs/tiny-gpt.md runs that
page's examples (about 10 s: it trains the tiny GPT), once for this file; the build (`make build`,
tier 2's site fixture) refuses a page whose alt text differs from the code's as well.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

# The alt texts of the drawn figures (sitebuild/alt_texts.py): each page carries the text that the
# figure's code writes from its tensors, and every number of those texts is recomputed here.

DOCS = Path(__file__).resolve().parents[2] / "docs"
NUMBER = re.compile(r"\d+(?:\.\d+)?")
STEP = re.compile("第([一二三四五六七八])步")  # the tutorial's steps, as the Chinese pages name them


@pytest.fixture(scope="module")
def trained_maps(trained_induction_model):
    """The maps of docs/trained.md, from the model the tests train (trained as the build trains it)."""
    from sitebuild import attention_maps

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attention_maps, "trained_model", lambda: trained_induction_model.eval())
        yield attention_maps


def every_alt_text(language):
    """{(folder, name): alt text} of every figure the drawing code makes, in ``language``."""
    from sitebuild import alt_texts, attention_maps, attention_variants, figures

    names = {
        "figures": figures.FIGURES,
        "attention-variants": attention_variants.FIGURES,
        "attention-maps": attention_maps.MAPS,
        "benchmarks": [
            f"{path.stem}{suffix}"
            for path in sorted((DOCS / "benchmarks").glob("*.json"))
            for suffix in ("", *(["-ratios"] if '"backward": true' in path.read_text(encoding="utf-8") else []))
        ],
    }
    assert set(names) == set(alt_texts.FOLDERS)
    return {(folder, name): alt_texts.alt_text(folder, name, language) for folder in names for name in names[folder]}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_figure_of_both_editions_has_the_alt_text_its_code_writes(language, trained_maps):
    """A number changed on a page, or in the tensors a figure is drawn from, fails here (and the build)."""
    from sitebuild import alt_texts

    folder = DOCS if language == "en" else DOCS / "zh"
    shown = set()
    for page in sorted(folder.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        assert alt_texts.mismatches(text, language) == [], page.name
        shown |= {(figure.folder, figure.name, figure.theme) for figure in alt_texts.shown_figures(text)}
    written = every_alt_text(language)
    assert {(f, n) for f, n, _ in shown} == set(written)  # every figure is shown, in both themes
    assert all((f, n, theme) in shown for f, n in written for theme in ("light", "dark"))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def independent_numbers():
    """The numbers of each alt text, in the English text's order, computed here from the pages'
    inputs with numpy (and, for the trained maps and the benchmarks, from the weights and the
    results files), not with the code that writes the texts."""
    from tests.seeds import QKV_INPUTS, QKV_ROUNDED_WEIGHTS, W_KEY, W_QUERY, W_VALUE

    x = QKV_INPUTS.double().numpy()
    q, k, v = x @ W_QUERY.double().numpy(), x @ W_KEY.double().numpy(), x @ W_VALUE.double().numpy()
    scores = q @ k.T
    article = QKV_ROUNDED_WEIGHTS.double().numpy()

    def g(values):
        return [f"{value:g}" for value in values]

    numbers = {
        ("figures", "simplified-weights"): ["1"],
        ("figures", "trainable-1-inputs"): ["1"],
        ("figures", "trainable-2-weights"): ["2"],
        ("figures", "trainable-3-projections"): ["3"],
        ("figures", "trainable-4-scores"): ["4", "1", *g(q[0]), "1", *g(scores[0])],
        ("figures", "trainable-5-softmax"): [
            "5",
            *g(scores[0]),
            *[f"{w:.3f}" for w in softmax(scores[0])],
            *[f"{w:.1f}" for w in article[0]],
        ],
        ("figures", "trainable-6-weighted-values"): [
            "6",
            "1",
            *[f"{w:.1f}" for w in article[0]],
            *[n for row in article[0][:, None] * v for n in g(row)],
        ],
        ("figures", "trainable-7-sum"): ["7", "1", "1", *[f"{s:.1f}" for s in article[0] @ v]],
        ("figures", "trainable-8-all"): ["8"],
        ("figures", "causal-weights"): ["1.00"],  # the first query sees only itself
        ("figures", "multihead-split"): ["2", "3", "1", "2"],  # d_out 4 in 2 heads of 2 columns
        ("figures", "multihead-concat"): ["1", "2"],
    }
    # Grouped-query attention: 8 query heads share 2 key/value heads, 4 consecutive heads each.
    numbers["attention-variants", "gqa-grouping"] = ["1", "4", "1", "5", "8", "2"]
    # RoPE (base 10000, head size 8) of one unit vector: the score at distance d is the mean over the
    # 4 pairs of cos(d * theta_i), theta_i = 10000^(-i/4).
    theta = 10000.0 ** (-np.arange(4) / 4)
    numbers["attention-variants", "rope-scores"] = ["0", "7"] + [f"{np.cos(d * theta).mean():.2f}" for d in range(8)]
    # Cross-attention: a query 10 e_j over the six unit keys, scaled by 1/sqrt(6).
    lookup = softmax(10 * np.eye(6)[[4, 0, 2]] / np.sqrt(6))
    numbers["attention-variants", "cross-lookup"] = [f"{lookup[0, 4]:.2f}"] * 3 + [f"{lookup[0, 0]:.2f}"]
    return numbers


def test_every_number_of_every_alt_text_is_recomputed(trained_maps):
    written = {language: every_alt_text(language) for language in ("en", "zh")}
    expected = independent_numbers()
    # The trained maps: the lines are read off the weights with numpy; the induction head's line is
    # the second copy of the example's segment, each query looking at the key after its first copy.
    example = trained_maps.EXAMPLE
    previous = trained_maps.trained_weights(0).numpy()
    line = [i for i in range(1, len(previous)) if previous[i].argmax() == i - 1]
    assert line == list(range(1, line[-1] + 1))
    expected["attention-maps", "trained-previous"] = ["1", "1", str(line[-1])]
    second = int(example.starts[0] + example.offsets[0])
    expected["attention-maps", "trained-induction"] = ["2", str(second), str(second + int(example.lengths[0]) - 1)]
    expected["attention-maps", "untrained-previous"] = ["1"]
    expected["attention-maps", "tiny-gpt-previous"] = tiny_gpt_numbers(trained_maps)
    expected.update(benchmark_numbers())
    for (folder, name), english in written["en"].items():
        numbers = expected.get((folder, name), [])
        assert NUMBER.findall(english) == numbers, (folder, name, english)
        chinese = STEP.sub(lambda m: f"第 {'一二三四五六七八'.index(m[1]) + 1} 步", written["zh"][folder, name])
        assert sorted(NUMBER.findall(chinese)) == sorted(numbers), (folder, name, chinese)


def previous_character_scores(weights):
    """(layer, head): the fraction of the queries from position 3 on, over every window, whose largest
    weight is on the key just before them; ``weights`` (layer, window, head, query, key) in numpy."""
    positions = np.arange(weights.shape[-1])
    on_previous = weights.argmax(axis=-1) == positions - 1  # (layer, window, head, query)
    return on_previous[..., 3:].mean(axis=(1, 3))


def tiny_gpt_numbers(hook):
    """The numbers of the tiny GPT map's alt text, read off the page's weights with numpy: the layer,
    the counted queries (3 to 31), the first counted position, and how many look one back."""
    weights = hook.tiny_gpt()["weights"].numpy()
    head = previous_character_scores(weights)[1].argmax()
    window = weights[1, hook.TINY_GPT_WINDOW, head]
    looks_back = np.arange(32) - window.argmax(axis=-1)
    return ["2", "29", "3", str(int((looks_back[3:] == 1).sum()))]


def test_the_tiny_gpt_map_is_the_pages_most_local_head_of_layer_2():
    """The map of docs/tiny-gpt.md: the weights the page computes (its `weights`, run by the build),
    of the layer-2 head whose previous-character score the page prints as at least 0.6, on the
    window of the held-out text that the labels spell, on one scale 0..1."""
    from selfattention.data import the_verdict
    from sitebuild import attention_maps as hook

    state = hook.tiny_gpt()
    weights = state["weights"].numpy()
    assert weights.shape == (2, 63, 2, 32, 32)
    scores = previous_character_scores(weights)
    np.testing.assert_allclose(state["previous"].numpy(), scores, atol=1e-6)  # the page's head_scores
    head = hook.tiny_gpt_head()
    assert scores[1, head] == scores[1].max() >= 0.6  # the page prints max(previous[1]) >= 0.6
    drawn = hook.tiny_gpt_weights().numpy()
    np.testing.assert_array_equal(drawn, weights[1, hook.TINY_GPT_WINDOW, head])
    assert np.all(np.triu(drawn, k=1) == 0)  # causal: no query sees a later character
    np.testing.assert_allclose(drawn.sum(axis=-1), np.ones(32), atol=1e-5)
    text = the_verdict()
    held_out = text[int(0.9 * len(text)) :]
    window = held_out[32 * hook.TINY_GPT_WINDOW : 32 * (hook.TINY_GPT_WINDOW + 1)]
    assert hook.tokens_for("tiny-gpt-previous") == [{" ": "\u2423", "\n": "\u21b5"}.get(c, c) for c in window]
    _, _, options = hook.MAPS["tiny-gpt-previous"]
    assert options == {"annotate": False, "vmin": 0.0, "vmax": 1.0}
    # The alt text counts argmaxes: each counted query's largest weight stands clear of its
    # runner-up, so another CPU's rounding of the training cannot change the count.
    top_two = np.sort(drawn, axis=-1)[:, -2:]
    assert (top_two[3:, 1] - top_two[3:, 0]).min() >= 0.2


def benchmark_numbers():
    """The numbers of the benchmark plots' alt texts, read from the results files with json."""
    import json
    import math

    numbers = {}
    for path in sorted((DOCS / "benchmarks").glob("*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        training = bool(results["config"].get("backward"))
        cases = {}
        for case in results["cases"]:
            if case.get("error"):
                continue
            seconds = case["cpu_median_s"] if training and case.get("cpu_median_s") is not None else case["median_s"]
            memory = case["peak_memory_bytes"] - (case["inputs_memory_bytes"] if training else 0)
            cases[case["form"], case["seq_len"]] = (seconds, memory)
        naive = {n: m for (form, n), (_, m) in cases.items() if form == "naive"}
        small = [(n, m) for (form, n), (_, m) in cases.items() if form != "naive"]
        below = str(math.ceil(max(m for _, m in small) / 2**20 / 100) * 100)
        over = str(math.floor(max(naive.values()) / 2**30))
        if not training:
            numbers["benchmarks", path.stem] = [over, below]
            continue
        largest = max(naive, key=naive.get)
        numbers["benchmarks", path.stem] = [over, str(largest), below, str(max(n for n, _ in small))]
        ratio = {
            (form, n): (s / cases["sdpa", n][0], m / cases["sdpa", n][1])
            for (form, n), (s, m) in cases.items()
            if form != "sdpa" and ("sdpa", n) in cases
        }
        lengths = sorted(n for form, n in ratio if form == "blockwise")
        slower = [str(n) for (form, n), (t, _) in sorted(ratio.items()) if form == "naive" and t <= 2]
        most = max(m for (form, _), (_, m) in ratio.items() if form == "naive")
        first_below = min(n for n in lengths if ratio["blockwise", n][1] < 1)
        numbers["benchmarks", f"{path.stem}-ratios"] = [
            *slower,
            str(math.floor(most / 10) * 10),
            str(lengths[0]),
            str(first_below),
        ]
    return numbers
