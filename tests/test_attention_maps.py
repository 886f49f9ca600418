"""The attention maps: the plotting helper, and the weights behind each map of the site."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest
import torch

from selfattention import MultiHeadAttention, attention_weights, causal_mask, plot_attention
from tests.seeds import JOURNEY_INPUTS, JOURNEY_TOKENS, JOURNEY_WEIGHTS

matplotlib.use("Agg")

HOOK = Path(__file__).resolve().parent.parent / "hooks" / "attention_maps.py"


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("attention_maps_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plot_is_labelled_with_tokens_and_values():
    figure = plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, title="Map")
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == JOURNEY_TOKENS
    assert [t.get_text() for t in axes.get_yticklabels()] == JOURNEY_TOKENS
    assert axes.get_title() == "Map"
    assert len(axes.texts) == 36 and axes.texts[7].get_text() == f"{JOURNEY_WEIGHTS[1, 1].item():.2f}"
    assert torch.allclose(torch.tensor(axes.images[0].get_array()), JOURNEY_WEIGHTS)


def test_themes_use_readable_text_colours():
    light = plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, theme="light").axes[0]
    dark = plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, theme="dark").axes[0]
    assert light.get_xticklabels()[0].get_color() != dark.get_xticklabels()[0].get_color()
    with pytest.raises(ValueError, match="theme must be one of"):
        plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, theme="sepia")


def test_plot_refuses_mismatched_tokens_and_shapes():
    with pytest.raises(ValueError, match=r"weights of shape \(6, 6\) need 6 key tokens and 6 query tokens, got 5 and 5"):
        plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS[:5])
    with pytest.raises(ValueError, match=r"weights must have shape \(n_q, n_k\), got shape \(2, 6, 6\)"):
        plot_attention(torch.stack([JOURNEY_WEIGHTS] * 2), JOURNEY_TOKENS)


def test_the_sites_maps_show_the_documented_weights(hook):
    torch.testing.assert_close(hook.journey_weights(), JOURNEY_WEIGHTS, atol=5e-5, rtol=0)
    causal = hook.journey_causal_weights()
    assert torch.equal(causal, attention_weights(JOURNEY_INPUTS @ JOURNEY_INPUTS.T, mask=causal_mask(6)))
    assert torch.all(causal.triu(diagonal=1) == 0) and causal[0, 0] == 1
    heads = hook.head_weights()
    assert heads.shape == (2, 6, 6)
    torch.testing.assert_close(heads.sum(-1), torch.ones(2, 6))
    assert not torch.allclose(heads[0], heads[1], atol=0.05)  # the heads differ visibly
    assert isinstance(hook.multihead_example(), MultiHeadAttention)


def test_the_hook_renders_svg_for_both_themes(hook):
    light, dark = hook.render("head-1", "light"), hook.render("head-1", "dark")
    assert light.startswith(b"<?xml") and b"<svg" in light and light != dark
    assert hook.render("head-1", "light") == light  # identical on every build
