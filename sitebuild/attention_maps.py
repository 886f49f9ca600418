"""Draw the site's attention maps from the package's code at build time.

Each map is computed here with ``selfattention`` and drawn with ``plot_attention`` twice, for
Material's light and dark schemes, as SVG files added to the site under
``images/attention-maps/``; pages show them with ``#only-light`` / ``#only-dark``. Nothing is
drawn by hand or committed. The maps of docs/trained.md come from the model that page trains,
trained here with the same function and seed. The map of docs/tiny-gpt.md comes from that page's own
code: its examples are run here (sitebuild/page_namespace.py) up to its previous-character scores, and
the tensors kept: a process trains the tiny GPT once (with the build cache, once in all).
``tests/test_attention_maps.py`` checks the weights behind each map (tests/site/ those of the trained models).
`alt_text` writes each map's alt text, in English and Chinese, from the same weights (sitebuild/alt_texts.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypedDict

import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files

from selfattention import attention_weights, causal_mask, plot_attention
from selfattention.toy import (
    InductionModel,
    InductionTask,
    attention_maps,
    head_scores,
    induction_batch,
    induction_model,
    induction_targets,
    previous_token_targets,
    train_induction_model,
)
from sitebuild.alt_texts import by, from_table, number, require
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.generated import ROOT, add_themed_svgs, cached_state
from sitebuild.page_namespace import page_digest, run_examples
from sitebuild.seeds import JOURNEY_INPUTS, JOURNEY_TOKENS
from sitebuild.strings import chinese, chinese_axes
from sitebuild.svg import svg_bytes

TOKENS, INPUTS = JOURNEY_TOKENS, JOURNEY_INPUTS


def journey_weights() -> torch.Tensor:
    """The first seed's attention weights: softmax(X X^T)."""
    return attention_weights(INPUTS @ INPUTS.T)


def journey_causal_weights() -> torch.Tensor:
    """The same scores with the causal mask: no token sees the tokens after it."""
    return attention_weights(INPUTS @ INPUTS.T, attn_mask=causal_mask(len(TOKENS)))


# The trained model of docs/trained.md: the same task, seed and example sequence as the page.
# Trained once per process (a build, or a `mkdocs serve` session); with the build cache
# (sitebuild/generated.py), once per test session.
TASK = InductionTask()
EXAMPLE = induction_batch(TASK, 1, torch.Generator().manual_seed(1))
HELD_OUT_SEED = 2


@functools.cache
def trained_model() -> InductionModel:
    model = untrained_model()
    trained = cached_state("trained-induction-model", lambda: train_induction_model(TASK, seed=0).state_dict())
    model.load_state_dict(trained)
    return model.eval()


def untrained_model() -> InductionModel:
    return induction_model(TASK, seed=0)


@functools.cache
def trained_heads() -> tuple[int, int]:
    """(previous-token head of layer 1, induction head of layer 2), chosen as the page does."""
    held_out = induction_batch(TASK, 2000, torch.Generator().manual_seed(HELD_OUT_SEED))
    weights = attention_maps(trained_model(), held_out.tokens)
    previous = head_scores(weights[0], previous_token_targets(held_out), held_out.first_copy)
    induction = head_scores(weights[1], induction_targets(held_out), held_out.predictable)
    return previous.index(max(previous)), induction.index(max(induction))


def trained_weights(layer: int) -> torch.Tensor:
    """(seq_len, seq_len): the page's head of ``layer`` of the trained model on the example."""
    return attention_maps(trained_model(), EXAMPLE.tokens)[layer, 0, trained_heads()[layer]]


def untrained_weights() -> torch.Tensor:
    """(seq_len, seq_len): the same layer-1 head before training, on the example."""
    return attention_maps(untrained_model(), EXAMPLE.tokens)[0, 0, trained_heads()[0]]


# The tiny GPT of docs/tiny-gpt.md: the page's examples, run up to its previous-character scores
# (`previous`, (layer, head)), give the model's weights on the held-out windows, drawn for one window
# and the head of layer 2 that the page's measure ranks first.
TINY_GPT_PAGE = ROOT / "docs" / "tiny-gpt.md"
TINY_GPT_WINDOW = 36  # "d Grindle: I told Mrs. Stroud he": two names of the story, chosen once
TINY_GPT_LAYER = 1  # layer 2, counted from 0: where the page finds a head at 60 % or more
COUNTED_FROM = 3  # the page counts the queries from position 3 on
VISIBLE = {" ": "\u2423", "\n": "\u21b5"}  # a space and a line break, drawn as ␣ and ↵


@functools.cache
def tiny_gpt() -> dict[str, torch.Tensor]:
    """The tensors of docs/tiny-gpt.md, computed by the page's code: ``weights`` (layer, window, head,
    query, key), ``inputs`` (window, position) the held-out ids, ``chars`` (vocabulary,) the
    characters' code points, ``previous`` (layer, head) the page's previous-character scores."""

    def run_page() -> dict[str, torch.Tensor]:
        page = run_examples(TINY_GPT_PAGE, "previous")
        return {
            "weights": page["weights"].clone(),
            "inputs": page["held_out_inputs"].clone(),
            "chars": torch.tensor([ord(char) for char in page["chars"]]),
            "previous": torch.tensor(page["previous"]),
        }

    return cached_state(f"tiny-gpt-maps-{page_digest(TINY_GPT_PAGE)}", run_page)


def tiny_gpt_head() -> int:
    """The head of layer 2 that most often puts its largest weight on the previous character (the page's measure)."""
    return int(tiny_gpt()["previous"][TINY_GPT_LAYER].argmax())


def tiny_gpt_weights() -> torch.Tensor:
    """(32, 32): that head's weights on the held-out window `TINY_GPT_WINDOW`."""
    return tiny_gpt()["weights"][TINY_GPT_LAYER, TINY_GPT_WINDOW, tiny_gpt_head()]


def tiny_gpt_text() -> str:
    """The 32 characters of the held-out window `TINY_GPT_WINDOW`."""
    state = tiny_gpt()
    return "".join(chr(int(state["chars"][index])) for index in state["inputs"][TINY_GPT_WINDOW].tolist())


def visible(text: str) -> list[str]:
    """One tick label per character of ``text``, a space shown as ␣ and a line break as ↵."""
    return [VISIBLE.get(char, char) for char in text]


class Options(TypedDict, total=False):
    """The ``plot_attention`` options a map sets."""

    annotate: bool
    vmin: float
    vmax: float


# name: (weights, title, plot_attention options). Maps that are compared share one scale, 0 to 1.
ON_ONE_SCALE: Options = {"annotate": False, "vmin": 0.0, "vmax": 1.0}
MAPS: dict[str, tuple[Callable[[], torch.Tensor], str, Options]] = {
    "journey": (journey_weights, "Simplified self-attention", {}),
    "journey-causal": (journey_causal_weights, "Causal: no look-ahead", {}),
    "trained-previous": (lambda: trained_weights(0), "Trained, layer 1: previous token", ON_ONE_SCALE),
    "trained-induction": (lambda: trained_weights(1), "Trained, layer 2: induction", ON_ONE_SCALE),
    "untrained-previous": (untrained_weights, "Untrained, layer 1: no pattern", ON_ONE_SCALE),
    "tiny-gpt-previous": (tiny_gpt_weights, "Tiny GPT, layer 2: previous character", ON_ONE_SCALE),
}


def tokens_for(name: str) -> list[str]:
    if name.startswith("tiny-gpt"):
        return visible(tiny_gpt_text())
    if name.startswith(("trained", "untrained")):
        return [str(token) for token in EXAMPLE.tokens[0].tolist()]
    return TOKENS


def render(name: str, theme: str, language: str = "en") -> bytes:
    compute, title, options = MAPS[name]
    if language == "zh":
        with chinese_fonts():
            return svg_bytes(
                plot_attention(
                    compute(), tokens_for(name), title=chinese(title), theme=theme, **chinese_axes(), **options
                )
            )
    return svg_bytes(plot_attention(compute(), tokens_for(name), title=title, theme=theme, **options))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    language = "zh" if in_chinese(config) else "en"
    return add_themed_svgs(files, config, "attention-maps", MAPS, render, language)


BRIGHT = 0.5  # a weight drawn bright on the maps' scale from 0 to 1


def _line(weights: torch.Tensor, offset: int) -> list[int]:
    """The queries whose largest weight, above `BRIGHT`, is ``offset`` positions before them."""
    top = weights.max(dim=-1)
    return [
        query
        for query, (key, weight) in enumerate(zip(top.indices.tolist(), top.values.tolist(), strict=True))
        if key == query - offset and weight > BRIGHT
    ]


def _consecutive(name: str, rows: list[int]) -> tuple[int, int]:
    require(bool(rows) and rows == list(range(rows[0], rows[-1] + 1)), name, "that the line is unbroken")
    return rows[0], rows[-1]


def _alt_journey(language: str) -> str:
    weights = journey_weights()
    n = len(weights)
    require(bool(weights.max() < 3 * weights.min()), "journey", "fairly even weights")
    first, second = (TOKENS[int(i)] for i in weights.sum(dim=0).topk(2).indices)
    sentence = " ".join(TOKENS)
    if language == "zh":
        return f"“{sentence}”这句话的注意力图：{by((n, n), 'zh')}的网格，权重相当均匀，“{first}”和“{second}”两列最亮。"
    return (
        f'Attention map of the sentence "{sentence}": a {by((n, n), "en")} grid of fairly even weights, brightest in '
        f'the columns of "{first}" and "{second}".'
    )


def _alt_journey_causal(language: str) -> str:
    weights = journey_causal_weights()
    require(bool(weights.triu(diagonal=1).eq(0).all()), "journey-causal", "that the upper triangle is zero")
    require(weights[0, 0].item() == 1.0, "journey-causal", "that the first row puts all its weight on one token")
    if language == "zh":
        return (
            f"同一句话的因果注意力图：上三角为零；第一行把全部权重给了“{TOKENS[0]}”，"
            "后面各行把权重分给自己及之前的词元。"
        )
    return (
        "Causal attention map of the same sentence: the upper triangle is zero; the first row puts all its weight on "
        f'"{TOKENS[0]}", later rows spread their weight over the tokens up to themselves.'
    )


def _alt_trained_previous(language: str) -> str:
    weights, layer = trained_weights(0), 1
    first, last = _consecutive("trained-previous", _line(weights, 1))
    rest = len(weights) - 1 - last
    require(first == 1 and 0 < rest <= 12, "trained-previous", "a line from position 1 that stops a few rows early")
    if language == "zh":
        return (
            f"示例序列上第 {layer} 层前一词元头的注意力图：紧贴对角线下方有一条亮线，从 {first} 到 {last} "
            f"的每个位置都关注它前面的那个位置；最后{number(rest, 'zh')}行没有这条线。"
        )
    return (
        f"Attention map of the previous-token head of layer {layer} on the example sequence: a bright line just below "
        f"the diagonal, each position from {first} to {last} attending to the one before it; the last "
        f"{number(rest, 'en')} rows have no line."
    )


def _alt_trained_induction(language: str) -> str:
    weights, layer = trained_weights(1), 2
    offset = int(EXAMPLE.offsets[0]) - 1  # the token after the earlier copy of the current one
    first, last = _consecutive("trained-induction", _line(weights, offset))
    if language == "zh":
        return (
            f"示例序列上第 {layer} 层一个归纳头的注意力图：从查询 {first} 到 {last} 有一条与对角线平行、"
            f"位于其左侧{number(offset, 'zh')}列处的亮线，另有几个亮格出现在填充词元重复的地方。"
        )
    return (
        f"Attention map of an induction head of layer {layer} on the example sequence: from query {first} to {last} "
        f"a bright line parallel to the diagonal, {number(offset, 'en')} columns to its left, and a few bright cells "
        "where a filler token repeats."
    )


def _alt_untrained_previous(language: str) -> str:
    weights, layer = untrained_weights(), 1
    bright = [query for query, weight in enumerate(weights.max(dim=-1).values.tolist()) if weight > BRIGHT]
    first_rows = bright == list(range(len(bright))) and len(bright) <= 4
    require(first_rows, "untrained-previous", "bright cells only in the first rows")
    if language == "zh":
        return (
            f"训练前第 {layer} 层同一个头的注意力图：权重分散在之前的各个位置上，没有亮线；"
            "只有最前面几行因为可分配权重的键很少，才有较亮的格子。"
        )
    return (
        f"Attention map of the same layer-{layer} head before training: weights spread over the earlier positions with "
        "no line; only the first rows, which have few keys to share their weight, have brighter cells."
    )


def _alt_tiny_gpt_previous(language: str) -> str:
    weights, text, layer = tiny_gpt_weights(), tiny_gpt_text(), TINY_GPT_LAYER + 1
    # How far back each counted query's largest weight lies: 1 is the previous character.
    back = [query - int(weights[query].argmax()) for query in range(COUNTED_FROM, len(text))]
    on_previous = back.count(1)
    others = len(back) - on_previous
    name = "tiny-gpt-previous"
    require(set(back) <= {0, 1, 2}, name, "that the other queries look at the current character or the one two back")
    require('"' not in text and "\n" not in text, name, "the window's text between quotes, on one line")
    if language == "zh":
        return (
            f"第 {layer} 层中最常关注前一个字符的那个头在留出窗口“{text}”上的注意力图：从位置 {COUNTED_FROM} "
            f"起的 {len(back)} 个查询中，有 {on_previous} 个把最大权重放在前一个字符上，即紧贴对角线下方的格子；"
            f"其余{number(others, 'zh')}个放在当前字符或它前面第二个字符上。"
        )
    return (
        f"Attention map of the layer-{layer} head that most often attends to the previous character, on the "
        f'held-out window "{text}": of the {len(back)} queries from position {COUNTED_FROM} on, {on_previous} put '
        "their largest weight on the previous character, just below the diagonal, and the other "
        f"{number(others, 'en')} on the current character or the one two before it."
    )


ALT_TEXTS: dict[str, Callable[[str], str]] = {
    "journey": _alt_journey,
    "journey-causal": _alt_journey_causal,
    "trained-previous": _alt_trained_previous,
    "trained-induction": _alt_trained_induction,
    "untrained-previous": _alt_untrained_previous,
    "tiny-gpt-previous": _alt_tiny_gpt_previous,
}


def alt_text(name: str, language: str) -> str:
    """The alt text of map ``name`` in ``language`` (``"en"``, ``"zh"``), written from the weights it
    is drawn from (see sitebuild/alt_texts.py).

    Raises:
        ValueError: no map ``name``.
    """
    return from_table(ALT_TEXTS, name, language, kind="maps")
