#!/usr/bin/env bash
# Installs the TypeScript compiler from npm, into a cache folder git ignores: `make lint`
# runs its `tsc --checkJs` over the page's modules in web/ (which stay plain JavaScript,
# with no build step). Idempotent: does nothing when the pinned version is present.
set -euo pipefail
version="${TYPESCRIPT_NPM_VERSION:?set by the Makefile}"
dest="${TYPESCRIPT_DIR:?set by the Makefile}"
marker="$dest/.installed-$version"
if [ -f "$marker" ] && [ -x "$dest/node_modules/.bin/tsc" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is needed to fetch TypeScript (install Node.js)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
echo '{"name": "samsold-typescript", "private": true}' > "$dest/package.json"
npm install --prefix "$dest" --no-audit --no-fund --loglevel=error "typescript@$version"
"$dest/node_modules/.bin/tsc" --version >/dev/null
touch "$marker"
echo "TypeScript (npm typescript@$version) installed in $dest" >&2
