"""Lighthouse on a phone, on every page of the site: ``make audit``.

Builds the site, both editions (the Chinese one under zh/), with ``SITE_URL`` set to the loopback
address it is then served from (gzip, as any host serves it), finds every page in the built
sitemaps, and runs Lighthouse (pinned in
tools/audit/package-lock.json; its default configuration is the mobile one: a mid-range phone on
a throttled 4G connection) with Debian's Chromium, one Chrome for all pages (tools/audit/runner.mjs).
Fails if a page scores below performance 95, accessibility 100, best practices 100 or SEO 100, and
names the audits that cost the points.

Performance is timed, so it moves with the load on the machine: a page below the threshold is
run again (performance only), after every page has had its first run, up to three runs in all,
and its best performance counts. The other categories do not depend on timing and count from the
first run. Each line says how fast Lighthouse found the machine (its benchmark index, BI: the
higher the faster; a loaded machine scores lower and its pages' times grow).

    .venv/bin/python tools/audit/audit.py [--pages URL-PATH ...] [--runs 3]

Reports (JSON) and a summary go to test-artifacts/audit/.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = ROOT / "tools" / "audit" / "node_modules" / "lighthouse" / "core" / "index.js"
RUNNER = ROOT / "tools" / "audit" / "runner.mjs"
OUT = ROOT / "test-artifacts" / "audit"
THRESHOLDS = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 100}
CHROME_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
]  # fmt: skip
COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".md", ".ipynb")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Static files under ``prefix``, gzip-compressed when the client accepts it, and 404.html
    with status 404 for anything else, as GitHub Pages serves a project site."""

    prefix = "/"
    compressed: dict[tuple[Path, int], bytes] = {}  # each file is compressed once, not per request

    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "outside-the-site" / "missing")
        return super().translate_path("/" + path[len(self.prefix) :])

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()  # the redirect to the folder's URL
            path = path / "index.html"
        status = 200
        if not path.is_file():
            path, status = Path(self.directory) / "404.html", 404
        encoding = None
        if path.suffix in COMPRESSIBLE and "gzip" in self.headers.get("Accept-Encoding", ""):
            key = (path, path.stat().st_mtime_ns)
            if key not in self.compressed:
                self.compressed[key] = gzip.compress(path.read_bytes(), 6)
            body, encoding = self.compressed[key], "gzip"
        else:
            body = path.read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")
        if encoding:
            self.send_header("Content-Encoding", encoding)
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return io.BytesIO(body)


def serve(directory: Path, prefix: str = "/") -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``directory`` at ``http://127.0.0.1:PORT{prefix}`` on a thread; return the server and that URL."""
    handler = type("Handler", (GzipHandler,), {"prefix": prefix})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}{prefix}"


def build(site: Path, site_url: str) -> None:
    # No REPO_URL: with one, Material asks GitHub's API for the repository's facts, which cannot
    # be reached from here and would count as console errors; the pages are otherwise the same.
    env = {**os.environ, "SITE_URL": site_url, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("REPO_URL", None)
    # Both editions, as `make build` builds them: English, then the Chinese one into zh/.
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", "mkdocs.zh.yml", "--site-dir", str(site / "zh")]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


class Lighthouse:
    """tools/audit/runner.mjs: one Chrome, in which each run opens a fresh tab."""

    def __init__(self) -> None:
        chrome = os.environ.get("CHROME_PATH") or os.environ.get("SELFATTENTION_CHROMIUM", "/usr/bin/chromium")
        self.process = subprocess.Popen(
            ["node", str(RUNNER), json.dumps(CHROME_FLAGS)], cwd=RUNNER.parent, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "CHROME_PATH": chrome},
        )  # fmt: skip

    def run(self, url: str, report: Path, categories: list[str]) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"url": url, "report": str(report), "categories": categories}) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError(f"tools/audit/runner.mjs stopped (exit status {self.process.wait()})")
        if "error" in json.loads(reply):
            raise RuntimeError(f"Lighthouse failed on {url}: {json.loads(reply)['error']}")
        return json.loads(report.read_text(encoding="utf-8"))

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait()


def scores(result: dict) -> dict[str, int]:
    """The scores of the categories the run covered (a repeated run covers performance only)."""
    return {name: round(100 * (result["categories"][name]["score"] or 0)) for name in THRESHOLDS if name in result["categories"]}


def timings(result: dict) -> str:
    """The simulated phone's metrics of a run, and how fast Lighthouse found the machine."""
    metrics = result["audits"]["metrics"].get("details", {}).get("items", [{}])[0]
    names = {"firstContentfulPaint": "FCP", "largestContentfulPaint": "LCP", "totalBlockingTime": "TBT", "speedIndex": "SI"}
    shown = " ".join(f"{short} {round(metrics[name])}" for name, short in names.items() if name in metrics)
    return f"{shown} ms, BI {round(result['environment']['benchmarkIndex'])}"


def failing_audits(result: dict, category: str) -> list[str]:
    """The audits of a category that cost points, with their score."""
    failing = []
    for ref in result["categories"][category]["auditRefs"]:
        audit = result["audits"][ref["id"]]
        if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
            value = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            failing.append(f"{ref['id']} {audit['score']:.2f}{value}")
    return failing


def main() -> int:
    # Stopped (SIGTERM, as CI does on time-out): unwind, so that Lighthouse and Chrome are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="*", help="URL paths to audit (default: every page in both editions' sitemaps)")
    parser.add_argument("--runs", type=int, default=3, help="at most this many runs per page for performance")
    args = parser.parse_args()
    if not LIGHTHOUSE.is_file():
        sys.exit(f"{LIGHTHOUSE} is missing: run `make audit` (npm ci in tools/audit)")
    started = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="selfattention-audit-") as temporary:
        site = Path(temporary) / "site"
        site.mkdir()
        httpd, base = serve(site)
        lighthouse = None
        try:
            build(site, base)
            built = time.monotonic()
            sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
            sitemap += (site / "zh" / "sitemap.xml").read_text(encoding="utf-8")  # the Chinese pages
            pages = args.pages if args.pages is not None else [u.removeprefix(base) for u in re.findall(r"<loc>(.*?)</loc>", sitemap)]
            assert pages, "the sitemap lists no page"
            lighthouse = Lighthouse()
            runs: dict[str, list[dict]] = {page: [] for page in pages}

            def name(page: str) -> str:
                return page.strip("/").replace("/", "-") or "home"

            def below(page: str) -> bool:
                return max(scores(result)["performance"] for result in runs[page]) < THRESHOLDS["performance"]

            # First every page, all categories; then, for the pages below the threshold, performance
            # again (a run later, under whatever load the machine has then), up to --runs runs.
            for page in pages:
                result = lighthouse.run(base + page, OUT / f"{name(page)}-1.json", list(THRESHOLDS))
                runs[page].append(result)
                print(f"{page or '/':32} {scores(result)}  ({timings(result)})", flush=True)
            for attempt in range(2, args.runs + 1):
                for page in [page for page in pages if below(page)]:
                    result = lighthouse.run(base + page, OUT / f"{name(page)}-{attempt}.json", ["performance"])
                    runs[page].append(result)
                    print(f"{page or '/':32} performance {scores(result)['performance']} again  ({timings(result)})", flush=True)
        finally:
            if lighthouse is not None:
                lighthouse.close()
            httpd.shutdown()
            httpd.server_close()
    summary, failed = [], []
    for page in pages:
        best = max(runs[page], key=lambda result: scores(result)["performance"])
        score = {**scores(runs[page][0]), "performance": scores(best)["performance"]}
        line = f"{page or '/':32} " + "  ".join(f"{k} {v:3}" for k, v in score.items())
        line += f"   (performance runs: {[scores(result)['performance'] for result in runs[page]]}; best: {timings(best)})"
        summary.append(line)
        for category, threshold in THRESHOLDS.items():
            if score[category] < threshold:
                source = best if category == "performance" else runs[page][0]
                failed.append(f"{page or '/'}: {category} {score[category]} < {threshold}: "
                              + "; ".join(failing_audits(source, category)))  # fmt: skip
    finished = time.monotonic()
    timing = f"{len(pages)} pages, {sum(map(len, runs.values()))} Lighthouse runs; build {built - started:.0f} s, Lighthouse {finished - built:.0f} s, in all {finished - started:.0f} s"
    (OUT / "summary.txt").write_text("\n".join(summary + failed + [timing]) + "\n", encoding="utf-8")
    print("\n" + "\n".join(summary) + "\n" + timing)
    if failed:
        print("\nBelow the thresholds:\n" + "\n".join(failed), file=sys.stderr)
        return 1
    print(f"\nAll {len(summary)} pages at or above {THRESHOLDS}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
