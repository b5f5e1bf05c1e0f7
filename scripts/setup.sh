#!/usr/bin/env bash
# Everything a fresh Debian machine needs before Outpost builds: system packages (only those missing),
# npm dependencies (npm ci), the pinned SQLite amalgamation, then the native and WASM builds.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# command-or-file → Debian package that provides it
declare -A NEED=(
  [cmake]=cmake
  [g++]=g++
  [make]=make
  [emcc]=emscripten
  [chromium]=chromium
  [sqlite3]=sqlite3
  [node]=nodejs
  [npm]=npm
  [/usr/include/gtest/gtest.h]=libgtest-dev
  [/usr/include/nlohmann/json.hpp]=nlohmann-json3-dev
  [clang++]=clang                  # the fuzz build (tests/fuzz)
  [/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a]=libclang-rt-14-dev  # libFuzzer
  [/usr/share/nodejs/acorn]=node-acorn
  [/usr/include/httplib.h]=libcpp-httplib-dev       # outpost-server's HTTP
  [/usr/include/pqxx/pqxx]=libpqxx-dev              # outpost-server's PostgreSQL store
  [/usr/include/openssl/hmac.h]=libssl-dev          # device tokens (HMAC-SHA256)
  [/usr/include/zlib.h]=zlib1g-dev                  # gzip bodies
  [pkg-config]=pkg-config
  [/usr/lib/postgresql/15/bin/initdb]=postgresql-15  # the conformance suite's throwaway cluster
)
missing=()
for what in "${!NEED[@]}"; do
  if [[ $what == /* ]]; then [ -e "$what" ] || missing+=("${NEED[$what]}")
  else command -v "$what" >/dev/null 2>&1 || missing+=("${NEED[$what]}"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== SQLite amalgamation"
bash scripts/fetch-sqlite.sh

bash scripts/build.sh
