#!/usr/bin/env bash
# Refresh the copy of KaTeX that renders the site's maths at build time (sitebuild/maths.py)
# and whose stylesheet and fonts the site serves itself.
# Usage: scripts/vendor-katex.sh [VERSION]   (needs npm; writes docs/assets/katex/)
set -euo pipefail
version=${1:-0.16.22}
dest=$(cd "$(dirname "$0")/.." && pwd)/docs/assets/katex
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "katex@$version" >/dev/null && tar xzf katex-*.tgz)
rm -rf "$dest" && mkdir -p "$dest/fonts"
cp "$tmp/package/dist/katex.min.js" "$tmp/package/dist/katex.min.css" "$tmp/package/LICENSE" "$dest/"
# Browsers take the first font format they support: woff2, listed first in katex.min.css.
cp "$tmp/package/dist/fonts/"*.woff2 "$dest/fonts/"
echo "$version" > "$dest/VERSION"
echo "KaTeX $version -> $dest"
