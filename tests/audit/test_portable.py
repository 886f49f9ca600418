"""Portable: the same mkdocs.yml builds with ProperDocs, the maintained fork of MkDocs 1.x, into
the same site. Tier 3 (`make audit`): it builds the English edition twice, once with each tool.

Every file of the two builds is compared; pages may differ only in the generator tag, and the
sitemap only in its dates. (mkdocs.zh.yml builds the Chinese edition the same way, from the same
hooks and theme.) The two builds share a build cache (sitebuild/generated.py), so ProperDocs reuses the
drawings of the MkDocs build instead of drawing them again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.site.conftest import BUILD_ENV, ROOT

GENERATOR = re.compile(r'<meta name="generator" content="[^"]*">')


def build(tool: str, site: Path, cache: Path) -> None:
    """The English edition built by ``tool`` (mkdocs or properdocs) with --strict into ``site``, as
    the publishing workflow builds it (the public address and repository of tests/site/conftest.py)."""
    env = {**os.environ, **BUILD_ENV, "NO_MKDOCS_2_WARNING": "1", "SELFATTENTION_BUILD_CACHE": str(cache)}
    command = [sys.executable, "-m", tool, "build", "--strict", "-f", "mkdocs.yml", "--site-dir", str(site)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{tool} build --strict failed:\n{result.stdout}{result.stderr}"


def files_of(site: Path) -> set[str]:
    return {str(path.relative_to(site)) for path in site.rglob("*") if path.is_file()}


def first_difference(ours: Path, theirs: Path) -> str:
    """Where two built files first differ, with some context, to tell what differs."""
    a, b = (GENERATOR.sub("", path.read_text(encoding="utf-8", errors="replace")) for path in (ours, theirs))
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"MkDocs:     ...{a[max(0, at - 300) : at + 300]!r}\nProperDocs: ...{b[max(0, at - 300) : at + 300]!r}"


def same(name: str, ours: bytes, theirs: bytes) -> bool:
    """Whether two builds of a file are the same, but for the generator tag and the sitemap's dates."""
    if ours == theirs or name == "sitemap.xml.gz":  # sitemap.xml, compressed: its dates differ
        return True
    if name.endswith(".html"):
        return GENERATOR.sub("", ours.decode()) == GENERATOR.sub("", theirs.decode())
    if name == "sitemap.xml":
        return re.sub(r"<lastmod>[^<]*</lastmod>", "", ours.decode()) == re.sub(
            r"<lastmod>[^<]*</lastmod>", "", theirs.decode()
        )
    return False


def test_properdocs_builds_the_same_site(tmp_path: Path) -> None:
    mkdocs_site, properdocs_site = tmp_path / "mkdocs", tmp_path / "properdocs"
    build("mkdocs", mkdocs_site, tmp_path / "cache")
    build("properdocs", properdocs_site, tmp_path / "cache")
    assert files_of(mkdocs_site) == files_of(properdocs_site)
    differ = [
        name
        for name in sorted(files_of(mkdocs_site))
        if not same(name, (mkdocs_site / name).read_bytes(), (properdocs_site / name).read_bytes())
    ]
    assert differ == [], f"ProperDocs builds these files differently: {differ}\n" + first_difference(
        mkdocs_site / differ[0], properdocs_site / differ[0]
    )
    generators = [
        GENERATOR.findall((site / "index.html").read_text(encoding="utf-8")) for site in (mkdocs_site, properdocs_site)
    ]
    assert "mkdocs-1." in generators[0][0] and "ProperDocs 1." in generators[1][0], generators
