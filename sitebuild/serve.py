"""Serve the built site as GitHub Pages serves a project site, and, as ``make serve``, build it.

`SiteHandler` serves the files under a path (``prefix``), gzip-compressed when the client accepts
it, and ``404.html`` with status 404 for anything else; `serve` runs it on a thread. The browser
tests serve the built site with it, and so does ``make serve``:

    python -m sitebuild.serve [HOST:PORT]      (default 127.0.0.1:8000)

builds both editions into site/ (English first, since its build empties site/, then mkdocs.zh.yml
into site/zh/), serves site/ at / and, when a page, the package, the site build, the benchmarks,
the templates or a config changes, builds both again (a build takes a while: the pages' figures are
drawn and the notebook is executed). Reload the browser to see it.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
WATCHED = ["docs", "src", "sitebuild", "benchmarks", "overrides", "mkdocs.yml", "mkdocs.zh.yml", "mkdocs_hooks.py"]
COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".md", ".ipynb")


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files under ``prefix``, gzip-compressed when the client accepts it, and 404.html
    with status 404 for anything else, as GitHub Pages serves a project site."""

    prefix = "/"
    # As a host caches a site's files; `make serve` asks the browser to check each time, since it rebuilds.
    cache_control = "max-age=600"
    compressed: ClassVar[dict[tuple[Path, int], bytes]] = {}  # each file is compressed once, not per request

    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "outside-the-site" / "missing")
        return super().translate_path("/" + path[len(self.prefix) :])

    def send_head(self) -> io.BytesIO | None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()  # type: ignore[return-value]  # the redirect to the folder's URL
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
        self.send_header("Cache-Control", self.cache_control)
        if encoding:
            self.send_header("Content-Encoding", encoding)
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return io.BytesIO(body)


def serve(
    directory: Path, prefix: str = "/", host: str = "127.0.0.1", port: int = 0, cache_control: str = "max-age=600"
) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``directory`` at ``http://HOST:PORT{prefix}`` on a thread (``port`` 0: a free one);
    return the server and that URL."""
    handler = type("Handler", (SiteHandler,), {"prefix": prefix, "cache_control": cache_control})
    httpd = http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://{host}:{httpd.server_address[1]}{prefix}"


def build(address: str) -> bool:
    """Both editions, as `make build` builds them (not --strict: a warning should not stop the preview),
    for the address they are served at: the pages name the editions by absolute address (hreflang),
    and Material reads the editions' sitemaps from there."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SITE_URL": address}
    for config, site_dir in (("mkdocs.yml", SITE), ("mkdocs.zh.yml", SITE / "zh")):
        command = [sys.executable, "-m", "mkdocs", "build", "-q", "-f", config, "--site-dir", str(site_dir)]
        if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
            print(f"serve: building {config} failed; waiting for the next change", flush=True)
            return False
    return True


def snapshot() -> dict[Path, float]:
    times = {}
    for name in WATCHED:
        path = ROOT / name
        for file in [path] if path.is_file() else path.rglob("*"):
            if file.is_file() and "/." not in file.as_posix() and "__pycache__" not in file.parts:
                times[file] = file.stat().st_mtime
    return times


def main() -> None:
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8000").rpartition(":")
    host = host or "127.0.0.1"
    address = f"http://{host}:{port}/"
    build(address)
    SITE.mkdir(exist_ok=True)
    server, _ = serve(SITE, "/", host, int(port), cache_control="no-cache")
    print(f"serve: {address} (English) and {address}zh/ (中文)", flush=True)
    seen = snapshot()
    try:
        while True:
            time.sleep(1)
            now = snapshot()
            if now != seen:
                print("serve: a source changed; building both editions again", flush=True)
                build(address)
                seen = snapshot()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
