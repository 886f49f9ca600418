"""Portable: the same mkdocs.yml builds with ProperDocs, the maintained fork of MkDocs 1.x, into
the same site. Every file of the two builds is compared; pages may differ only in the generator
tag, and the sitemap only in its dates. (The English edition: the ``site`` fixture also holds the
Chinese edition under zh/, which mkdocs.zh.yml builds the same way.)"""

from __future__ import annotations

import re
from pathlib import Path

GENERATOR = re.compile(r'<meta name="generator" content="[^"]*">')


def files_of(site: Path) -> set[str]:
    files = {str(path.relative_to(site)) for path in site.rglob("*") if path.is_file()}
    return {name for name in files if not name.startswith("zh/")}


def first_difference(ours: Path, theirs: Path) -> str:
    """Where two built files first differ, with some context, to tell what differs."""
    a, b = (GENERATOR.sub("", path.read_text(encoding="utf-8", errors="replace")) for path in (ours, theirs))
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"MkDocs:     ...{a[max(0, at - 300) : at + 300]!r}\nProperDocs: ...{b[max(0, at - 300) : at + 300]!r}"


def test_properdocs_builds_the_same_site(site, properdocs_site):
    assert files_of(site) == files_of(properdocs_site)
    differ = []
    for name in sorted(files_of(site)):
        ours, theirs = (site / name).read_bytes(), (properdocs_site / name).read_bytes()
        if ours == theirs or name == "sitemap.xml.gz":
            continue
        if name.endswith(".html"):
            a, b = (GENERATOR.sub("", x.decode()) for x in (ours, theirs))
            if a == b:
                continue
        if name == "sitemap.xml":
            a, b = (re.sub(r"<lastmod>[^<]*</lastmod>", "", x.decode()) for x in (ours, theirs))
            if a == b:
                continue
        differ.append(name)
    assert differ == [], f"ProperDocs builds these files differently: {differ}\n" + first_difference(
        site / differ[0], properdocs_site / differ[0]
    )
    generators = [GENERATOR.findall((built / "index.html").read_text(encoding="utf-8")) for built in (site, properdocs_site)]
    assert "mkdocs-1." in generators[0][0] and "ProperDocs 1." in generators[1][0], generators
