"""The alt texts of the drawn figures: written by the code that draws them, checked on every page.

Each drawing module (`sitebuild.figures`, `sitebuild.attention_variants`, `sitebuild.attention_maps`,
`sitebuild.benchmark_plots`) has ``alt_text(name, language)``: the figure's alt text in English
(``"en"``) or Chinese (``"zh"``), with every number in it (values, positions, shapes, lengths)
formatted from the same tensors or results the figure is drawn from, as the figure or the page
prints them. A sentence that states a fact about those numbers ("the same along each diagonal",
"sdpa is fastest at every length") is checked there too: if the numbers stop supporting it,
``alt_text`` raises `AltTextError` and the text has to be rewritten.

A page shows a figure as ``![ALT](images/FOLDER/NAME-light.svg#only-light)`` and its dark twin;
``ALT`` must equal the drawing module's ``alt_text(NAME, language)`` exactly. `on_page_markdown` fails the build on a
page whose alt text differs (the error gives the text to use), and ``tests/test_sitebuild.py``
checks both editions without a build and recomputes every number of every alt text on its own.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

__all__ = [
    "FIGURE_IMAGE",
    "AltTextError",
    "Shown",
    "alt_text",
    "by",
    "join",
    "mismatches",
    "number",
    "on_page_markdown",
    "require",
    "shown_figures",
    "vector",
]

LANGUAGES = ("en", "zh")
# An image of a drawn figure on a page: its alt text, folder, name and theme.
FIGURE_IMAGE = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\(images/(?P<folder>figures|attention-variants|attention-maps|benchmarks)/"
    r"(?P<name>[\w-]+)-(?P<theme>light|dark)\.svg#only-(?P=theme)\)"
)

_ENGLISH = "zero one two three four five six seven eight nine ten eleven twelve".split()
_CHINESE = "零一二三四五六七八九十"


class AltTextError(ValueError):
    """An alt text's sentence no longer holds for the numbers it is written from."""


def require(condition: bool, figure: str, what: str) -> None:
    """Raise `AltTextError` unless ``condition``: the alt text of ``figure`` says ``what``.

    Raises:
        AltTextError: ``condition`` is false.
    """
    if not condition:
        raise AltTextError(f"the alt text of {figure!r} says {what}, which no longer holds: rewrite it")


def number(value: int, language: str, *, ordinal: bool = False) -> str:
    """``value`` (0 to 12) in words: ``"six"``, ``"六"``; a Chinese count of 2 is ``"两"`` (两行),
    an ordinal ``"二"`` (第二步).

    Raises:
        ValueError: ``value`` is outside 0 to 12, or ``language`` is not ``"en"`` or ``"zh"``.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    if not 0 <= value <= 12:
        raise ValueError(f"value must be from 0 to 12 to be written in words, got {value}")
    if language == "en":
        return _ENGLISH[value]
    if value == 2 and not ordinal:
        return "两"
    return _CHINESE[value] if value <= 10 else "十" + _CHINESE[value - 10]


def by(shape: Sequence[int], language: str, *, joiner: str = " by ") -> str:
    """A shape ``(rows, columns)`` in words: ``"six by three"`` (``joiner="-by-"``: ``"six-by-three"``),
    ``"六乘三"``."""
    rows, columns = shape
    if language == "zh":
        return f"{number(rows, 'zh')}乘{number(columns, 'zh')}"
    return f"{number(rows, 'en')}{joiner}{number(columns, 'en')}"


def join(items: Sequence[str], language: str) -> str:
    """``"a, b and c"`` or ``"a、b 和 c"``."""
    items = list(items)
    if len(items) == 1:
        return items[0]
    if language == "zh":
        return "、".join(items[:-1]) + f" 和 {items[-1]}"
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def vector(values: Sequence[float], decimals: int | None = None) -> str:
    """``"(2, 4, 4)"``: each value with ``decimals`` digits, or (``None``) as short as it is exact."""
    return "(" + ", ".join(f"{value:g}" if decimals is None else f"{value:.{decimals}f}" for value in values) + ")"


def from_table(table: Mapping[str, Callable[[str], str]], name: str, language: str, *, kind: str = "figures") -> str:
    """The alt text that ``table[name]`` writes in ``language``: the ``alt_text`` of a drawing module
    whose texts are one function per figure.

    Raises:
        ValueError: no ``name`` in ``table`` (``kind`` names what the table holds, for the message).
    """
    if name not in table:
        raise ValueError(f"name must be one of the {kind} {sorted(table)}, got {name!r}")
    return table[name](language)


FOLDERS = ("figures", "attention-variants", "attention-maps", "benchmarks")


def _writer(folder: str) -> Callable[[str, str], str]:
    """The ``alt_text(name, language)`` of the module that draws the figures of ``folder``."""
    module = {
        "figures": "figures",
        "attention-variants": "attention_variants",
        "attention-maps": "attention_maps",
        "benchmarks": "benchmark_plots",
    }[folder]
    writer: Callable[[str, str], str] = importlib.import_module(f"sitebuild.{module}").alt_text
    return writer


def alt_text(folder: str, name: str, language: str) -> str:
    """The alt text of ``images/{folder}/{name}-*.svg`` in ``language``.

    Raises:
        ValueError: no such folder or figure, or an unknown language.
        AltTextError: a sentence of the text no longer holds.
    """
    if folder not in FOLDERS:
        raise ValueError(f"folder must be one of {FOLDERS}, got {folder!r}")
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return _writer(folder)(name, language)


@dataclass(frozen=True)
class Shown:
    """One image of a drawn figure on a page."""

    alt: str
    folder: str
    name: str
    theme: str
    line: int


def shown_figures(markdown: str) -> Iterator[Shown]:
    """Every image of a drawn figure in ``markdown``, with its line number (from 1)."""
    for match in FIGURE_IMAGE.finditer(markdown):
        line = markdown.count("\n", 0, match.start()) + 1
        yield Shown(match["alt"], match["folder"], match["name"], match["theme"], line)


def mismatches(markdown: str, language: str) -> list[str]:
    """One message per image of ``markdown`` whose alt text is not the one its figure's code writes."""
    problems = []
    for shown in shown_figures(markdown):
        expected = alt_text(shown.folder, shown.name, language)
        if shown.alt != expected:
            problems.append(
                f"line {shown.line}: the alt text of {shown.folder}/{shown.name}-{shown.theme}.svg is\n"
                f"    {shown.alt}\n  and must be, as its drawing code writes it,\n    {expected}"
            )
    return problems


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Stop the build if an alt text of a drawn figure differs from the one its code writes."""
    language = "zh" if config["theme"]["language"] == "zh" else "en"
    problems = mismatches(markdown, language)
    if problems:
        raise PluginError(f"{page.file.src_uri}: " + "\n".join(problems))
    return markdown
