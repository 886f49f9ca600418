"""A short public-domain text to train a language model on.

``the-verdict.txt`` is Edith Wharton's short story "The Verdict" (first published in
*Scribner's Magazine*, 1908; in the public domain), as transcribed on Wikisource
(https://en.wikisource.org/wiki/The_Verdict). The file is the copy that Sebastian Raschka's
*Build a Large Language Model (From Scratch)* uses in chapter 2
(github.com/rasbt/LLMs-from-scratch, ``ch02/01_main-chapter-code/the-verdict.txt``), byte for
byte: 20,479 ASCII characters. It ships inside the package, so `selfattention.data.the_verdict` works wherever
``selfattention`` is installed. Used on the page "A tiny GPT".
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["the_verdict"]


def the_verdict() -> str:
    """The full text of Edith Wharton's "The Verdict" (1908), as one string.

    Returns:
        20,479 characters of plain ASCII text, paragraphs separated by blank lines.

    Examples:
        >>> from selfattention.data import the_verdict
        >>> text = the_verdict()
        >>> len(text)
        20479
        >>> text[:29]
        'I HAD always thought Jack Gis'
    """
    return files(__name__).joinpath("the-verdict.txt").read_text(encoding="utf-8")
