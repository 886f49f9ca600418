"""Draw the site's attention maps from the package's code at build time.

Each map is computed here with ``selfattention`` and drawn with ``plot_attention`` twice, for
Material's light and dark schemes, as SVG files added to the site under
``images/attention-maps/``; pages show them with ``#only-light`` / ``#only-dark``. Nothing is
drawn by hand or committed. The maps of docs/trained.md come from the model that page trains,
trained here with the same function and seed. ``tests/test_attention_maps.py`` checks the weights behind each map.
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
from sitebuild.chinese import chinese_fonts, in_chinese
from sitebuild.generated import add_themed_svgs, cached_state
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
}


def tokens_for(name: str) -> list[str]:
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
