"""The Chinese edition's own words in the site's machinery, and its search dictionary (tier 1: no build).

- Search: mkdocs.zh.yml gives jieba a user dictionary, sitebuild/jieba_userdict.txt (Material's
  search plugin, ``jieba_dict_user``), so that every term of docs/zh/glossary.md is one word of the
  search index. It holds every multi-character Chinese term of the glossary's first table, and only
  words the glossary page writes (the accepted synonyms of its second table, 旋转式位置编码 and
  键值缓存, too); jieba, given it, cuts each term as one word. The browser side is tested in
  tests/site/test_zh_search.py.
- Material's and mkdocs-jupyter's English strings: the headings' permanent-link title
  (sitebuild/chinese.py), the notebook's copy buttons (sitebuild/notebooks.py), the benchmark
  plots' legends (sitebuild/benchmark_plots.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.test_glossary import GLOSSARY, terms

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / "sitebuild" / "jieba_userdict.txt"
HAN_WORD = re.compile(r"[\u4e00-\u9fff]{2,}")


def glossary_words() -> list[str]:
    """The glossary's Chinese terms that are Chinese characters only, two or more: 「头 / 注意力头」 gives
    注意力头, 「暂退法（dropout）」 gives 暂退法, 「KV 缓存」 none (缓存 is one of jieba's own words)."""
    words = []
    for row in terms():
        for term in row["chinese"].split("/"):
            term = re.sub(r"（[^）]*）", "", term).strip()
            if HAN_WORD.fullmatch(term) and term not in words:
                words.append(term)
    return words


def dictionary_words() -> list[str]:
    """The dictionary's words: one a line (jieba's format, here without frequency or tag)."""
    lines = DICTIONARY.read_text(encoding="utf-8").splitlines()
    assert all(HAN_WORD.fullmatch(line) for line in lines), "one word of Chinese characters a line, nothing else"
    return lines


def test_the_dictionary_holds_every_glossary_term_and_only_the_glossarys_words() -> None:
    words = dictionary_words()
    missing = [word for word in glossary_words() if word not in words]
    assert missing == [], f"add the glossary's terms {missing} to {DICTIONARY.relative_to(ROOT)}"
    glossary = GLOSSARY.read_text(encoding="utf-8")
    assert [word for word in words if word not in glossary] == []
    assert len(set(words)) == len(words)
    assert {"旋转式位置编码", "键值缓存"} <= set(words)  # the glossary's accepted synonyms


def test_the_chinese_config_gives_jieba_the_dictionary() -> None:
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!ENV", lambda loader, node: None)
    config = yaml.load((ROOT / "mkdocs.zh.yml").read_text(encoding="utf-8"), Loader=loader)
    assert config["plugins"]["search"]["jieba_dict_user"] == DICTIONARY.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def jieba_with_the_dictionary():
    jieba = pytest.importorskip("jieba")
    jieba.setLogLevel(60)  # no "Building prefix dict" lines
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(DICTIONARY))
    return tokenizer


def test_jieba_cuts_every_term_as_one_word(jieba_with_the_dictionary) -> None:
    cut = {word: list(jieba_with_the_dictionary.cut(word)) for word in dictionary_words()}
    assert {word: parts for word, parts in cut.items() if parts != [word]} == {}
    # ... in a sentence, too (the glossary's definition of the context vector)
    sentence = "用注意力权重对值向量加权求和的结果就是上下文向量，因果掩码只允许关注之前的位置。"
    words = list(jieba_with_the_dictionary.cut(sentence))
    assert {"注意力权重", "上下文向量", "因果掩码"} <= set(words), words


def test_headings_permanent_links_have_a_chinese_title() -> None:
    from mkdocs.config.defaults import MkDocsConfig

    from sitebuild import chinese

    for language, title in (("zh", chinese.PERMALINK_TITLE), ("en", None)):
        config = MkDocsConfig()
        config.load_dict({"site_name": "x", "theme": {"name": "material", "language": language}})
        config.load_dict({"markdown_extensions": [{"toc": {"permalink": True}}]})
        errors, _ = config.validate()
        assert errors == []
        config = chinese.on_config(config)
        assert config["mdx_configs"]["toc"].get("permalink_title") == title
    assert re.fullmatch(r"[\u4e00-\u9fff]+", chinese.PERMALINK_TITLE)


NOTEBOOK_CELL = """<clipboard-copy for="cell-1", aria-label="Copy to Clipboard">
<div><span class="notice" hidden="">Copied!</span><svg aria-hidden="true"></svg></div></clipboard-copy>"""


def test_the_notebooks_copy_buttons_speak_chinese() -> None:
    from sitebuild import notebooks

    chinese = notebooks.in_chinese_words(NOTEBOOK_CELL)
    assert 'aria-label="复制到剪贴板"' in chinese and ">已复制</span>" in chinese
    assert not re.search(r"Copy|Copied", chinese)
    with pytest.raises(ValueError, match="output has no 'aria-label=\"Copy to Clipboard\"' to write in Chinese"):
        notebooks.in_chinese_words("<p>a page without the button</p>")


def test_an_untranslated_legend_entry_fails_the_build() -> None:
    from matplotlib.figure import Figure

    from sitebuild import benchmark_plots

    figure = Figure()
    axes = figure.subplots()
    axes.plot([1, 2], [1, 2], label="naive")
    axes.legend()
    benchmark_plots.in_chinese_words(figure)
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["naive（朴素形式）"]
    figure = Figure()
    axes = figure.subplots()
    axes.plot([1, 2], [1, 2], label="a form with no Chinese")
    axes.legend()
    with pytest.raises(ValueError, match="no Chinese for the legend entry 'a form with no Chinese'"):
        benchmark_plots.in_chinese_words(figure)
