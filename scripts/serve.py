"""Serve both editions of the site, as `make serve` does: English at /, Chinese at /zh/.

`mkdocs serve` serves one config at a time, so this builds both editions into site/ (English first,
since its build empties site/, then mkdocs.zh.yml into site/zh/), serves site/ over HTTP and, when a
page, the package, a hook, the templates or a config changes, builds both again (a build takes a
while: the pages' figures are drawn and the notebook is executed). Reload the browser to see it.

    python scripts/serve.py [HOST:PORT]      (default 127.0.0.1:8000)
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
WATCHED = ["docs", "src", "hooks", "overrides", "mkdocs.yml", "mkdocs.zh.yml"]


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
    address = f"http://{host or '127.0.0.1'}:{port}/"
    build(address)
    SITE.mkdir(exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
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
