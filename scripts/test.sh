#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: set-up and builds (scripts/setup.sh), then the native
# GoogleTest suite (ctest), a bounded libFuzzer run of the protocol decoder and the Playwright end-to-end
# suite in Debian's Chromium. Fails loudly: any failing step stops the run with a non-zero exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh

echo "== native tests (GoogleTest)"
ctest --test-dir build/native --output-on-failure -j"$(nproc)"

echo "== protocol decoder fuzzing (libFuzzer, 20 s)"
# A clang build with ASan/UBSan (tests/fuzz); new inputs go to a scratch corpus in the build tree, the
# committed seeds in tests/fuzz/corpus are only read. A crash or sanitizer report fails the suite; the input
# is kept as build/fuzz/crash-*.
CC=clang CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Release -DOUTPOST_FUZZ=ON -DOUTPOST_BUILD_TESTS=OFF >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target protocol_fuzz >/dev/null
mkdir -p build/fuzz/corpus
build/fuzz/tests/fuzz/protocol_fuzz -max_total_time=20 -max_len=65536 -timeout=10 -print_final_stats=1 \
  -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/corpus 2>build/fuzz/last-run.log ||
  { tail -n 60 build/fuzz/last-run.log; exit 1; }
grep -E '^(Done|stat::number_of_executed_units)' build/fuzz/last-run.log

echo "== public API types (tsc)"
npx tsc -p tests/types

echo "== end-to-end tests (Playwright, Chromium)"
npx playwright test
