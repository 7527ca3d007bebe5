#!/usr/bin/env bash
# The OpenAI client test's dependencies (tests/test_serve_openai.cpp, issue 18): Node.js and npm
# (Debian packages, only when no node is on the PATH), then the npm package `openai` at the exact
# version of tests/openai/package-lock.json (`npm ci`, skipped when it is already installed).
# Idempotent; run by installer/run-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-node-deps: installing nodejs npm"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

WANTED="$(node -e 'console.log(require("./tests/openai/package-lock.json").packages["node_modules/openai"].version)')"
HAVE=""
if [ -f tests/openai/node_modules/openai/package.json ]; then
  HAVE="$(node -e 'console.log(require("./tests/openai/node_modules/openai/package.json").version)')"
fi
if [ "$HAVE" = "$WANTED" ]; then
  echo "install-node-deps: openai $HAVE present"
else
  echo "install-node-deps: npm ci (openai $WANTED) in tests/openai"
  (cd tests/openai && npm ci --no-audit --no-fund --loglevel=error)
fi
