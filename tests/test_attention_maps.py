"""The attention maps: the plotting helper, and the weights behind each map of the site."""

import re
from pathlib import Path

import matplotlib
import pytest
import torch

from selfattention import attention_weights, causal_mask, plot_attention
from sitebuild import attention_maps
from tests.seeds import JOURNEY_INPUTS, JOURNEY_TOKENS, JOURNEY_WEIGHTS

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def hook():
    return attention_maps


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
    with pytest.raises(
        ValueError, match=r"weights of shape \(6, 6\) need 6 key tokens and 6 query tokens, got 5 and 5"
    ):
        plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS[:5])
    with pytest.raises(ValueError, match=r"weights must have shape \(n_q, n_k\), got shape \(2, 6, 6\)"):
        plot_attention(torch.stack([JOURNEY_WEIGHTS] * 2), JOURNEY_TOKENS)


def test_plot_refuses_values_outside_its_colour_scale():
    scores = JOURNEY_WEIGHTS - 0.2  # negative values: with vmin=0 they would all look like 0
    with pytest.raises(
        ValueError,
        match=r"weights must lie within the colour scale from vmin=0.0 to vmax=0.\d+, got values from -0.\d+",
    ):
        plot_attention(scores, JOURNEY_TOKENS)
    with pytest.raises(ValueError, match=r"from vmin=0.0 to vmax=0.2, got values from 0.09\d+ to 0.23\d+"):
        plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, vmax=0.2)  # the largest weight is 0.238
    figure = plot_attention(scores, JOURNEY_TOKENS, vmin=float(scores.min()))
    assert figure.axes[0].images[0].norm.vmin == pytest.approx(float(scores.min()))


def test_the_sites_maps_show_the_documented_weights(hook):
    torch.testing.assert_close(hook.journey_weights(), JOURNEY_WEIGHTS, atol=5e-5, rtol=0)
    causal = hook.journey_causal_weights()
    assert torch.equal(causal, attention_weights(JOURNEY_INPUTS @ JOURNEY_INPUTS.T, attn_mask=causal_mask(6)))
    assert torch.all(causal.triu(diagonal=1) == 0) and causal[0, 0] == 1


def test_plot_takes_one_colour_scale_for_maps_that_are_compared():
    image = plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, vmin=0.0, vmax=1.0).axes[0].images[0]
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 1.0)
    own = plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS).axes[0].images[0]
    assert own.norm.vmax == pytest.approx(JOURNEY_WEIGHTS.max().item())
    with pytest.raises(ValueError, match=r"vmin must be smaller than vmax, got vmin=1\.0 and vmax=0\.5"):
        plot_attention(JOURNEY_WEIGHTS, JOURNEY_TOKENS, vmin=1.0, vmax=0.5)


def test_every_map_a_page_shows_is_generated_with_alt_text(hook):
    shown = re.findall(
        r"!\[([^\]]*)\]\(images/attention-maps/([\w-]+)-(light|dark)\.svg#only-\3\)",
        "\n".join(page.read_text(encoding="utf-8") for page in DOCS.glob("*.md")),
    )
    assert {name for _, name, _ in shown} == set(hook.MAPS)
    assert all(len(alt) > 20 for alt, _, _ in shown)
