"""The site build's own rules (sitebuild/): no edit links without a repository, the notebooks'
outputs merged per stream, every drawn English word in Chinese, the served site's 404 page, and a
figure's alt text that differs from what its code writes failing the build."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sitebuild import repository, strings
from sitebuild.serve import serve


def test_without_a_repository_there_are_no_edit_links():
    """`make build` from a fresh clone: no REPO_URL, so no edit_uri (MkDocs would warn on every page)."""
    config = {"repo_url": None, "edit_uri": "edit/main/docs/"}
    assert repository.on_config(config)["edit_uri"] is None
    config = {"repo_url": "https://github.com/example/selfattention", "edit_uri": "edit/main/docs/"}
    assert repository.on_config(config)["edit_uri"] == "edit/main/docs/"


def test_an_english_word_with_no_chinese_fails():
    assert strings.chinese("Grouping") == "分组"
    assert strings.chinese("$X$ = $W_q$") == "$X$ = $W_q$"  # no English word: drawn as it is
    with pytest.raises(ValueError, match=r"no Chinese for 'a new label': add it to sitebuild/strings\.py"):
        strings.chinese("a new label")
    title = strings.chinese_plot_title("CPU: batch 1, 4 heads, head size 64, float32")
    assert title == strings.chinese_plot_title("CPU: batch 1, 4 heads, head size 64, float32, forward + backward")[:-8]
    assert "批大小 1" in title and "4 个头" in title and "头维度 64" in title


def test_a_missing_page_gets_the_404_page(tmp_path: Path):
    """As GitHub Pages (and `make serve`, and the browser tests) serve the site."""
    (tmp_path / "index.html").write_text("home", encoding="utf-8")
    (tmp_path / "404.html").write_text("<h1>404 - Not found</h1>", encoding="utf-8")
    server, url = serve(tmp_path, "/selfattention/")
    try:
        assert urllib.request.urlopen(url).read() == b"home"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "no/such/page/")
        assert missing.value.code == 404 and missing.value.read() == b"<h1>404 - Not found</h1>"
    finally:
        server.shutdown()
        server.server_close()


def test_every_data_flow_translation_is_used():
    """A Chinese label whose English text changed would silently leave the English one."""
    from sitebuild import figures as module

    texts = set()
    for make in module.FIGURES.values():
        diagram = make()
        texts.add(diagram.title)
        for row in diagram.rows:
            texts |= {getattr(item, "name", None) or getattr(item, "text", None) for item in row}
    assert set(strings.DATA_FLOW) <= texts, set(strings.DATA_FLOW) - texts
    english_words = {t for t in texts if t and re.search(r"\b(?!softmax\b)[a-z]{3,}\b", re.sub(r"\$[^$]*\$", "", t))}
    assert english_words <= set(strings.DATA_FLOW), (
        f"figure words with no Chinese label: {english_words - set(strings.DATA_FLOW)}"
    )


def test_an_untranslated_benchmark_label_fails_the_build():
    from matplotlib.figure import Figure

    from sitebuild import benchmark_plots as module

    figure = Figure()
    figure.subplots().set_xlabel("a label with no Chinese")
    with pytest.raises(ValueError, match="no Chinese for the axis label 'a label with no Chinese'"):
        module.in_chinese_words(figure)
    figure = Figure()
    figure.suptitle("a title with no Chinese")
    with pytest.raises(ValueError, match="no Chinese for the plot title"):
        module.in_chinese_words(figure)


# The alt texts of the drawn figures (sitebuild/alt_texts.py): a page whose alt text differs from
# what the code writes fails the build. Every figure's text and number: tests/site/test_alt_texts.py.


def test_an_alt_text_that_differs_fails_the_build():
    from mkdocs.exceptions import PluginError

    from sitebuild import alt_texts, figures

    good = figures.alt_text("trainable-4-scores", "en")
    page = f"Text.\n\n![{good}](images/figures/trainable-4-scores-light.svg#only-light)\n"
    assert alt_texts.mismatches(page, "en") == []
    wrong = page.replace("(2, 4, 4)", "(2, 4, 5)")

    class Page:
        class file:
            src_uri = "trainable.md"

    with pytest.raises(PluginError, match=r"trainable\.md: line 3: the alt text of figures/trainable-4-scores"):
        alt_texts.on_page_markdown(wrong, Page, {"theme": {"language": "en"}}, None)
    with pytest.raises(ValueError, match="name must be one of the figures"):
        figures.alt_text("trainable-9", "en")
    with pytest.raises(alt_texts.AltTextError, match="'rope-scores' says the same along each diagonal"):
        alt_texts.require(False, "rope-scores", "the same along each diagonal")
    assert alt_texts.number(2, "zh") == "两" and alt_texts.number(2, "zh", ordinal=True) == "二"
    assert alt_texts.by((6, 3), "en", joiner="-by-") == "six-by-three" and alt_texts.by((8, 8), "zh") == "八乘八"
