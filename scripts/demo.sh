#!/usr/bin/env bash
# The main job: runs the quick-start example against a real Slicer daemon
# when SLICER_URL is set, and otherwise against the emulator started here.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release -p slicer-emulator -p slicer --examples --bins >&2

if [ -n "${SLICER_URL:-}" ]; then
  echo "Using the Slicer daemon at $SLICER_URL" >&2
  exec ./target/release/examples/quickstart
fi

workdir=$(mktemp -d)
out="$workdir/emulator.out"
./target/release/slicer-emulator --listen 127.0.0.1:0 --data-dir "$workdir/data" >"$out" &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true; rm -rf "$workdir"' EXIT

for _ in $(seq 1 100); do
  grep -q '^listening on ' "$out" 2>/dev/null && break
  kill -0 "$emulator" 2>/dev/null || { echo "the emulator exited early" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$out" | head -n1)
[ -n "$url" ] || { echo "the emulator did not report its address" >&2; exit 1; }
echo "Started the emulator at $url" >&2

SLICER_URL="$url" SLICER_TOKEN_FILE="$workdir/data/token" ./target/release/examples/quickstart
