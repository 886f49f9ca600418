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


# The map of docs/tiny-gpt.md is drawn from the page's own examples, run at build time
# (sitebuild/page_namespace.py). Running that page trains a model: tier 2 does it
# (tests/site/test_alt_texts.py); here the runner works on a small page of its own.
SMALL_PAGE = """# A page

Prose that quotes an example is not run:
>>> in_prose = 1

```python
>>> import torch
>>> _ = torch.manual_seed(5)
>>> x = torch.rand(2)
>>> print("printed")
printed
```

```text
>>> in_text_block = 1
```

??? success "Solution"

    ```python
    >>> def double(values):
    ...     return 2 * values
    >>> y = double(x)
    >>> torch.set_num_threads(1)
    >>> z = y + 1
    >>> raise RuntimeError("after the name: never run")
    ```
"""


def test_a_pages_examples_run_in_order_up_to_a_name(tmp_path, capsys, two_threads):
    from sitebuild.page_namespace import python_blocks, run_examples

    page = tmp_path / "page.md"
    page.write_text(SMALL_PAGE, encoding="utf-8")
    firsts = [block.splitlines()[0] for block in python_blocks(SMALL_PAGE)]
    assert firsts == [">>> import torch", ">>> def double(values):"]  # the ```text block is not python
    state = torch.random.get_rng_state()
    namespace = run_examples(page, "z")
    drawn = torch.rand(2, generator=torch.Generator().manual_seed(5))  # what torch.manual_seed(5) gives
    assert torch.equal(namespace["x"], drawn) and torch.equal(namespace["z"], 2 * drawn + 1)
    assert not {"in_prose", "in_text_block"} & set(namespace)  # only ```python blocks are run
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == two_threads
    assert capsys.readouterr().out == ""  # what the examples print is not the build's output
    with pytest.raises(RuntimeError, match="after the name"):
        run_examples(page, "never_bound")
    (tmp_path / "short.md").write_text("```python\n>>> a = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no example of .*short\.md binds 'b'"):
        run_examples(tmp_path / "short.md", "b")


def test_a_changed_page_gets_another_cache_key(tmp_path):
    from sitebuild.page_namespace import page_digest

    page = tmp_path / "page.md"
    page.write_text(SMALL_PAGE, encoding="utf-8")
    before = page_digest(page)
    page.write_text(SMALL_PAGE.replace("manual_seed(5)", "manual_seed(6)"), encoding="utf-8")
    assert page_digest(page) != before and len(before) == 16


def test_the_tiny_gpt_maps_labels_show_spaces_and_line_breaks(hook):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    assert hook.visible("a b\nc") == ["a", "\u2423", "b", "\u21b5", "c"]
    glyphs = FT2Font(font_manager.findfont("DejaVu Sans")).get_charmap()  # the maps' font, in both editions
    assert all(ord(label) in glyphs for label in hook.VISIBLE.values())


def test_the_tiny_gpt_map_shows_a_window_of_the_pages_held_out_text(hook):
    """The window the build draws, read off the story as docs/tiny-gpt.md splits it (90 % for training,
    then windows of 32 characters), without training: a window that can be quoted on one line."""
    from selfattention.data import the_verdict

    text = the_verdict()
    held_out = text[int(0.9 * len(text)) :]
    window = held_out[32 * hook.TINY_GPT_WINDOW : 32 * (hook.TINY_GPT_WINDOW + 1)]
    assert window == "d Grindle: I told Mrs. Stroud he"
    assert hook.TINY_GPT_PAGE.name == "tiny-gpt.md" and "held_out_inputs" in hook.TINY_GPT_PAGE.read_text()
