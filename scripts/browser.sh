#!/usr/bin/env bash
# Install the headless browser the dashboard's browser tests drive: Debian's own `chromium` package.
# Never `playwright install` (it downloads a browser build of its own, which needs a host we cannot reach):
# the tests point Playwright at /usr/bin/chromium. Needs root (or sudo) and Debian's package mirrors.
#   bash scripts/browser.sh          install chromium when /usr/bin/chromium is missing
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/browser.sh: no apt-get here; install Chromium by hand at /usr/bin/chromium (browser tests skip without it)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "scripts/browser.sh: not root and no sudo; run as root to install chromium (browser tests skip without it)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
