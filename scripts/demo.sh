#!/usr/bin/env bash
# The main job: builds the npm package and the web demo, then serves the
# demo on http://127.0.0.1:8080 (override with LISTEN=ADDR). With SLICER_URL
# set (and SLICER_TOKEN or SLICER_TOKEN_FILE) the page drives that Slicer
# daemon; otherwise it drives the emulator embedded in the demo server.
# Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
wasm/build.sh >&2
cargo build --release -p web-demo >&2

listen="${LISTEN:-127.0.0.1:8080}"
if [ -n "${SLICER_URL:-}" ]; then
  echo "Relaying to the Slicer daemon at $SLICER_URL" >&2
else
  echo "No SLICER_URL set: the demo starts its own emulator" >&2
fi
exec ./target/release/web-demo --listen "$listen" --pkg-dir wasm/pkg-npm
