#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: set-up and builds (scripts/setup.sh), then the native
# GoogleTest suite (ctest) and the Playwright end-to-end suite in Debian's Chromium. Fails loudly: any
# failing step stops the run with a non-zero exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh

echo "== native tests (GoogleTest)"
ctest --test-dir build/native --output-on-failure -j"$(nproc)"

echo "== public API types (tsc)"
npx tsc -p tests/types

echo "== end-to-end tests (Playwright, Chromium)"
npx playwright test
