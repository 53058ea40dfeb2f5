#!/usr/bin/env bash
# The browser tests drive Debian's headless Chromium with Playwright for Python (the
# `test` extra). Install Debian's `chromium` when it is missing and we are root; never
# `playwright install`, which downloads a browser build of its own.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found at $CHROMIUM; installing Debian's chromium" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    [ -x "$CHROMIUM" ] && exit 0
fi
cat >&2 <<MSG
The browser tests (tests/browser) need Chromium at $CHROMIUM (found none).
Install it, for example on Debian:  sudo apt-get install chromium
or set CHROMIUM=/path/to/chromium. Without it those tests are skipped.
MSG
exit 0  # a warning, not a failure: `make run` needs no browser; tests/browser skip without one
