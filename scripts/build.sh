#!/usr/bin/env bash
# Builds the C++ core twice: natively (build/native: GoogleTest) and with Emscripten (build/wasm →
# js/engine/outpost-engine.{js,wasm}). Assumes scripts/setup.sh ran once.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)

echo "== native build"
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/native -j"$jobs"

echo "== wasm build"
# Debian's emscripten optimizer needs Debian's acorn on the module path.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/wasm -j"$jobs"

echo "== worker bundle"
node scripts/bundle-worker.mjs
ls -l js/engine/

echo "== demo app and service worker"
node scripts/build-sw.mjs
