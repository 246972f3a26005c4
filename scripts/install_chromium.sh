#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/serve/test_serve_web.py); idempotent.
# Never downloads a browser through playwright: the test drives /usr/bin/chromium.
# Fails soft: without chromium (no root, no apt) the browser test is skipped with a reason.
set -u
if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: apt-get not found; the browser test will be skipped" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install_chromium: not root and no sudo; the browser test will be skipped" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; then
  echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null)"
else
  echo "install_chromium: apt-get install chromium failed; the browser test will be skipped" >&2
fi
exit 0
