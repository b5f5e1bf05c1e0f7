#!/usr/bin/env bash
# Fetches the pinned SQLite amalgamation reproducibly and checks its hash.
# sqlite.org is not reachable from our machines; the npm registry is, and better-sqlite3 ships the official
# amalgamation unmodified in deps/sqlite3/. We take only those files, never its native addon.
set -euo pipefail
PKG=better-sqlite3@13.2.0            # ships SQLite 3.54.1
SQLITE_VERSION=3.54.1
SHA256_C=75a4760a7b9727a4c4c877aec92eacf39e52a8f2921ce00bd33be6d3a8e8e254
SHA256_H=d6c84557261893439b341d2e6c35187ae3ea24fbfd843ad94616f72d89242b8c

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/third_party/sqlite"
if [ -f "$out/sqlite3.c" ] && echo "$SHA256_C  $out/sqlite3.c" | sha256sum -c --status; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$tmp"/better-sqlite3-*.tgz -C "$tmp" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
echo "$SHA256_C  $tmp/package/deps/sqlite3/sqlite3.c" | sha256sum -c --quiet || { echo "sqlite3.c hash mismatch" >&2; exit 1; }
echo "$SHA256_H  $tmp/package/deps/sqlite3/sqlite3.h" | sha256sum -c --quiet || { echo "sqlite3.h hash mismatch" >&2; exit 1; }
mkdir -p "$out"
cp "$tmp"/package/deps/sqlite3/sqlite3.[ch] "$out/"
echo "$SQLITE_VERSION" > "$out/VERSION"
echo "SQLite $SQLITE_VERSION amalgamation in $out"
