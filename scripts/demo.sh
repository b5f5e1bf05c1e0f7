#!/usr/bin/env bash
# Sets up and builds everything (scripts/setup.sh), then runs the reference sync server, which serves the
# demo PWA and the sync API on one port: http://localhost:${PORT:-8080}/. The demo's data stays in build/demo
# (the server's SQLite store, its token secret and its request log). Development set-up: the demo fetches its
# device token from the server's /dev/token endpoint (--dev-tokens); see docs/server.md for real tokens.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/setup.sh
port=${PORT:-8080}
state=build/demo
mkdir -p "$state"
[ -f "$state/server.secret" ] || build/native/server/outpost-server secret "$state/server.secret"
echo "== Outpost demo: open http://localhost:${port}/ (Ctrl-C to stop)"
exec build/native/server/outpost-server serve --store "sqlite:$state/demo.db" --schema server/demo-schema.json \
  --secret-file "$state/server.secret" --port "$port" --static demo-app --dev-tokens --log "$state/requests.log"
