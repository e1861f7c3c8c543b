#!/usr/bin/env bash
# Runs the pinned Deno: the one on PATH when it is this version, else the npm package `deno`.
set -euo pipefail
DENO_VERSION=2.9.6
if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | head -1 | grep -q " ${DENO_VERSION} "; then
  exec deno "$@"
fi
exec npx --yes "deno@${DENO_VERSION}" "$@"
