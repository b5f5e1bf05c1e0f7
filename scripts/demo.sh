#!/usr/bin/env bash
# Sets up and builds everything (scripts/setup.sh), then serves the demo app on http://localhost:${PORT:-8080}/demo-app/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/setup.sh
port=${PORT:-8080}
echo "== Outpost demo: open http://localhost:${port}/demo-app/ (Ctrl-C to stop)"
exec node e2e/static-server.mjs . "$port"
