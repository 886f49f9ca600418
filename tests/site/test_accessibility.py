"""Accessibility: axe-core finds no violation of the gated rules on any page of either edition.

Every page of both editions (English at the site's root, Chinese under zh/, the 404 pages too) is
opened in Chromium on a desktop (1280 x 900) and on a phone (375 x 812, twice the pixels), in the
light scheme, with every collapsed block (the exercises' solutions) opened and the page scrolled
through once, as a reader does (code blocks get their copy button, and a scrollable one its place in
the keyboard's tab order, when they come into view: Material's ``content.lazy``). axe-core (pinned in
tools/axe/package-lock.json, installed there by ``npm ci``) checks the page with its default rules
and every gated rule. On the desktop the system preference then turns dark, Material's palette (whose
first option follows the system) switches to the dark scheme, and axe checks again the rules that
depend on colour.

The gate, at 0 violations:

- every axe rule of WCAG 2.0, 2.1 and 2.2 at levels A and AA (tags ``wcag2a``, ``wcag2aa``,
  ``wcag21a``, ``wcag21aa``, ``wcag22aa``), those axe leaves off by default or marks experimental
  included (``target-size``, ``td-has-header``, ``p-as-heading``...), its deprecated ones not;
- every rule Lighthouse's accessibility category runs (``LIGHTHOUSE_RULES``: the axe audits of that
  category in Lighthouse 12.8.2's default config, tools/audit), e.g. ``heading-order``,
  ``identical-links-same-purpose`` and ``skip-link``, which axe files under best practice.

axe's other default rules (best practice) are reported, not failed: their findings go to
test-artifacts/accessibility/axe-reported.txt and into a warning. One is expected on nearly every page:
``landmark-unique``, because Material gives each code block's actions an unnamed
``<nav class="md-code__nav">``, so a page with two code blocks has two navigation landmarks of the same
(empty) name. Naming them apart ("Code block 3 actions") or taking away their role would work around
Material rather than fix anything, so it is left as Material makes it. Every finding of every page is
reported at once; the gated ones go to test-artifacts/accessibility/axe-violations.txt as well.

The site is served as GitHub Pages serves a project site: under the path of its public address,
with 404.html for a missing page (the ``server`` fixture). Requests to any other host are refused
(nothing outside can be reached from the tests). Without Chromium or axe-core this test is skipped,
unless SELFATTENTION_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.site.conftest import all_pages

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = [*all_pages(), "404.html", "zh/404.html"]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "device_scale_factor": 2},
}
# The rules whose outcome depends on the colours: checked again in the dark scheme.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
ARTIFACTS = ROOT / "test-artifacts" / "accessibility"
# axe's tags of the WCAG 2.x success criteria at levels A and AA: every rule with one of them is gated.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# The axe rules of Lighthouse's accessibility category (the "accessibility/..." audits of
# tools/audit/node_modules/lighthouse/core/config/default-config.js, Lighthouse 12.8.2, less the
# manual ones): gated as well, whatever axe's tags.
LIGHTHOUSE_RULES = [
    "accesskeys", "aria-allowed-attr", "aria-allowed-role", "aria-command-name", "aria-conditional-attr",
    "aria-deprecated-role", "aria-dialog-name", "aria-hidden-body", "aria-hidden-focus", "aria-input-field-name",
    "aria-meter-name", "aria-progressbar-name", "aria-prohibited-attr", "aria-required-attr",
    "aria-required-children", "aria-required-parent", "aria-roles", "aria-text", "aria-toggle-field-name",
    "aria-tooltip-name", "aria-treeitem-name", "aria-valid-attr-value", "aria-valid-attr", "button-name", "bypass",
    "color-contrast", "definition-list", "dlitem", "document-title", "duplicate-id-aria", "empty-heading",
    "form-field-multiple-labels", "frame-title", "heading-order", "html-has-lang", "html-lang-valid",
    "html-xml-lang-mismatch", "identical-links-same-purpose", "image-alt", "image-redundant-alt",
    "input-button-name", "input-image-alt", "label-content-name-mismatch", "label", "landmark-one-main",
    "link-name", "link-in-text-block", "list", "listitem", "meta-refresh", "meta-viewport", "object-alt",
    "select-name", "skip-link", "tabindex", "table-duplicate-name", "table-fake-caption", "target-size",
    "td-has-header", "td-headers-attr", "th-has-data-cells", "valid-lang", "video-caption",
]  # fmt: skip


@pytest.fixture(scope="module")
def axe() -> Path:
    """axe-core's script. Without it the test is skipped, or fails with SELFATTENTION_REQUIRE_BROWSER=1."""
    if not AXE.exists():
        message = f"{AXE} not found: run `make tools/axe/node_modules/.installed` (npm ci in tools/axe)"
        if os.environ.get("SELFATTENTION_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE


# The scheme shown, and no palette switch under way (Material marks <body> while it switches).
LIGHT = "document.body.dataset.mdColorScheme === 'default' && !document.body.hasAttribute('data-md-color-switching')"
DARK = "document.body.dataset.mdColorScheme === 'slate' && !document.body.hasAttribute('data-md-color-switching')"


# Every code block brought into view, one after another (Material mounts each when it is seen), then
# back to the top.
SCROLL_THROUGH = """async () => {
  const frame = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  for (const block of document.querySelectorAll('.md-content pre')) {
    block.scrollIntoView({block: 'center'});
    await frame();
  }
  window.scrollTo(0, 0);
  await frame();
}"""
# axe on the whole page: its default rules plus every gated rule (WCAG 2.x A/AA, Lighthouse's), or
# only ``rules``. Each violation says whether it is gated.
RUN_AXE = """async ({rules, wcagTags, lighthouse}) => {
  const gated = new Set(lighthouse);
  for (const rule of axe.getRules()) {
    if (rule.tags.some(tag => wcagTags.includes(tag)) && !rule.tags.includes('deprecated')) gated.add(rule.ruleId);
  }
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  else options.rules = Object.fromEntries([...gated].map(id => [id, {enabled: true}]));
  const result = await axe.run(document, options);
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, gated: gated.has(v.id),
    targets: v.nodes.map(n => n.target.join(' ')),
    summary: v.nodes.length ? v.nodes[0].failureSummary : '',
  }));
}"""


def violations(page: Page, where: str, rules: list[str] | None = None) -> tuple[list[str], list[str]]:
    """axe-core's violations on ``page`` (default and gated rules, or only ``rules``), one line each:
    those of gated rules, and those of the other (best-practice) rules."""
    found = page.evaluate(RUN_AXE, {"rules": rules, "wcagTags": WCAG_TAGS, "lighthouse": LIGHTHOUSE_RULES})
    gated: list[str] = []
    reported: list[str] = []
    for rule in found:
        more = len(rule["targets"]) - 5
        shown = ", ".join(rule["targets"][:5]) + (f" and {more} more" if more > 0 else "")
        summary = " ".join(rule["summary"].split())
        line = f"{where}: {rule['id']} ({rule['impact']}): {rule['help']}; {shown}; {summary}"
        (gated if rule["gated"] else reported).append(line)
    return gated, reported


def open_page(page: Page, url: str, axe: Path) -> None:
    """Open ``url`` in the light scheme, as a first visit (no palette stored), ready for axe."""
    page.emulate_media(color_scheme="light")
    if page.url.startswith("http"):
        page.evaluate("localStorage.clear()")  # the palette Material stored on the previous page
    page.goto(url, wait_until="load")
    page.wait_for_function("window.document$ !== undefined && window.component$ !== undefined")
    page.wait_for_function(LIGHT)
    for _ in range(page.locator(".md-content details:not([open])").count()):
        page.locator(".md-content details:not([open]) > summary").first.click()
    page.evaluate(SCROLL_THROUGH)
    page.add_script_tag(path=axe)


def test_every_page_has_no_axe_violation(browser: Browser, server: str, axe: Path) -> None:
    problems: list[str] = []
    reported: list[str] = []
    for viewport, options in VIEWPORTS.items():
        context = browser.new_context(color_scheme="light", **options)
        context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort())
        page = context.new_page()
        for path in PAGES:
            open_page(page, server + path, axe)
            gated, other = violations(page, f"{path or '/'} [{viewport}, light]")
            problems += gated
            reported += other
            if viewport == "desktop":
                page.emulate_media(color_scheme="dark")
                page.wait_for_function(DARK)
                problems += violations(page, f"{path or '/'} [{viewport}, dark]", COLOUR_RULES)[0]
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-violations.txt").write_text("".join(line + "\n" for line in problems), encoding="utf-8")
    (ARTIFACTS / "axe-reported.txt").write_text("".join(line + "\n" for line in reported), encoding="utf-8")
    if reported:
        rules = sorted({line.split(": ", 2)[1].split(" ", 1)[0] for line in reported})
        warnings.warn(
            f"axe-core: {len(reported)} findings of best-practice rules, not gated ({', '.join(rules)}); "
            f"listed in {ARTIFACTS / 'axe-reported.txt'}",
            stacklevel=1,
        )
    assert not problems, f"{len(problems)} axe-core violations:\n" + "\n".join(problems)


def test_lighthouse_rules_are_those_of_the_installed_lighthouse() -> None:
    """``LIGHTHOUSE_RULES`` lists the axe audits of the accessibility category of the Lighthouse that
    tools/audit installs (skipped where it is not installed)."""
    config = ROOT / "tools" / "audit" / "node_modules" / "lighthouse" / "core" / "config" / "default-config.js"
    if not config.exists():
        pytest.skip(f"{config} not found: run `npm ci` in tools/audit")
    audits = re.findall(r"'accessibility/([a-z-]+)'", config.read_text(encoding="utf-8"))
    assert audits, f"no accessibility audit found in {config}"
    assert sorted(LIGHTHOUSE_RULES) == sorted(audits)
