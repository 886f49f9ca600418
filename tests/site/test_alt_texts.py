"""The figures' alt texts (sitebuild/alt_texts.py): written by the drawing code from the figure's
tensors, carried exactly by both editions, every number recomputed here independently.

Tier 2: the maps of docs/trained.md need the trained model (about 13 s of CPU), which tier 2 trains
once for this file and tests/site/test_trained_model.py; the build (`make build`, tier 2's site
fixture) refuses a page whose alt text differs from the code's as well.
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
    expected.update(benchmark_numbers())
    for (folder, name), english in written["en"].items():
        numbers = expected.get((folder, name), [])
        assert NUMBER.findall(english) == numbers, (folder, name, english)
        chinese = STEP.sub(lambda m: f"第 {'一二三四五六七八'.index(m[1]) + 1} 步", written["zh"][folder, name])
        assert sorted(NUMBER.findall(chinese)) == sorted(numbers), (folder, name, chinese)


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
