"""Drawn files added to the site, and the build cache they are kept in.

`add_themed_svgs` adds, for every figure name, ``images/FOLDER/NAME-light.svg`` and
``NAME-dark.svg``, drawn by a module's ``render(name, theme, language)``: one loop for the figures,
the maps and the plots. A drawing with a character that no font has fails the build
(`every_glyph_drawn`): matplotlib would draw it as an empty box and only warn.

A build cache, off unless ``SELFATTENTION_BUILD_CACHE`` names a folder. The test suite uses
``.cache/build/`` (git ignores it), where the site is built three times per run (English, Chinese,
and English again by ProperDocs): each drawing is made once and reused by the later builds, and by
later runs until the code it is made from changes. An entry's key is its name and a digest of
everything a drawing is made from: the source of the package, of the site build and of the
benchmark plots (benchmarks/), the benchmark results in docs/benchmarks/, and the versions of
PyTorch and matplotlib. So a build never reuses a drawing made from other code or data (and the
folders of other digests are removed); without the variable nothing is kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import matplotlib
import torch
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
CACHE_VARIABLE = "SELFATTENTION_BUILD_CACHE"


@functools.cache
def inputs_digest() -> str:
    """A digest of the files and versions every drawing depends on."""
    digest = hashlib.sha256(f"torch {torch.__version__} matplotlib {matplotlib.__version__}".encode())
    sources = [
        *sorted((ROOT / "src" / "selfattention").rglob("*.py")),
        *sorted((ROOT / "sitebuild").rglob("*.py")),
        *sorted((ROOT / "benchmarks").rglob("*.py")),
        *sorted((ROOT / "docs" / "benchmarks").rglob("*.json")),
    ]
    for path in sources:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def cache_folder() -> Path | None:
    """This build's folder in the build cache (None without one). Folders of other digests, made
    from older code or data, are removed: they can never be used again."""
    folder = os.environ.get(CACHE_VARIABLE)
    if not folder:
        return None
    for stale in Path(folder).glob("*"):
        if stale.is_dir() and stale.name != inputs_digest():
            shutil.rmtree(stale, ignore_errors=True)
    return Path(folder) / inputs_digest()


def cached(key: str, make: Callable[[], bytes]) -> bytes:
    """``make()``, kept under ``key`` in the build cache when there is one (see the module's docstring)."""
    folder = cache_folder()
    if folder is None:
        return make()
    path = folder / key
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    content = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(content)
    partial.replace(path)  # atomic: a build running beside this one reads a whole file or none
    return content


def cached_state(key: str, make: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A model's ``state_dict`` from ``make()``, kept like `cached` (e.g. trained weights)."""

    def save() -> bytes:
        buffer = io.BytesIO()
        torch.save(make(), buffer)
        return buffer.getvalue()

    state: dict[str, torch.Tensor] = torch.load(io.BytesIO(cached(f"{key}.pt", save)), weights_only=True)
    return state


# What matplotlib says when a character is in no font it draws with: a warning for text, a log
# record for maths (mathtext).
MISSING_GLYPH = ("missing from font", "does not have a glyph")


@contextlib.contextmanager
def every_glyph_drawn(what: str) -> Iterator[None]:
    """Raise ValueError, naming ``what``, if matplotlib draws a character as an empty box inside
    the block (it only warns or logs, and goes on). Other warnings pass through."""
    missing: list[str] = []

    class Glyphs(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if any(words in record.getMessage() for words in MISSING_GLYPH):
                missing.append(record.getMessage())

    handler = Glyphs(logging.WARNING)
    logging.getLogger("matplotlib").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logging.getLogger("matplotlib").removeHandler(handler)
    for warning in caught:
        if any(words in str(warning.message) for words in MISSING_GLYPH):
            missing.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if missing:
        raise ValueError(f"{what}: characters that no font has, drawn as empty boxes: {missing[:3]}")


def add_themed_svgs(
    files: Files,
    config: MkDocsConfig,
    folder: str,
    names: Iterable[str],
    render: Callable[[str, str, str], bytes],
    language: str,
) -> Files:
    """Add ``images/{folder}/{name}-{theme}.svg`` for each name and theme (light, dark), drawn by
    ``render(name, theme, language)`` or taken from the build cache (drawn there by the same code,
    its key says so). Raises ValueError if a drawing has a character no font has."""

    def draw(name: str, theme: str, uri: str) -> bytes:
        with every_glyph_drawn(f"{uri} ({language})"):
            return render(name, theme, language)

    for name in names:
        for theme in ("light", "dark"):
            uri = f"images/{folder}/{name}-{theme}.svg"
            content = cached(f"{language}/{folder}/{name}-{theme}.svg", functools.partial(draw, name, theme, uri))
            files.append(File.generated(config, uri, content=content))
    return files
