#!/usr/bin/env bash
# Tests the BUILT npm package (wasm/pkg-npm) from plain JavaScript in four
# runtimes against one emulator: Node (node --test), a Chromium page
# (playwright-core, through a same-origin relay), workerd (miniflare) and
# Deno. Ends with an "N passed, N failed" line.
#   wasm/run-js-tests.sh            build the package and the emulator first
#   SKIP_BUILD=1 wasm/run-js-tests.sh   use the existing builds
set -euo pipefail
cd "$(dirname "$0")"
wasm_dir=$PWD
repo=$(cd .. && pwd)

if [ "${SKIP_BUILD:-}" != 1 ]; then
  (cd "$repo" && cargo build -p slicer-emulator)
  ./build.sh
fi
emulator="$repo/target/debug/slicer-emulator"
[ -x "$emulator" ] || { echo "missing $emulator: cargo build -p slicer-emulator" >&2; exit 1; }
[ -f pkg-npm/slicer_wasm_bg.wasm ] || { echo "missing pkg-npm: run wasm/build.sh" >&2; exit 1; }

work=$(mktemp -d)
token="js-tests-$RANDOM$RANDOM"
# shellcheck source=../scripts/lib/emulator.sh
. "$repo/scripts/lib/emulator.sh"
start_emulator "$emulator" "$work" --token "$token"
echo "emulator at $url"

export PATH="$wasm_dir/js-tests/node_modules/.bin:$PATH"
passed=0
failed=0
count() { # log file, prefix: adds the "N passed, N failed" line of a harness
  local line
  line=$(grep -aE "^$2: [0-9]+ passed, [0-9]+ failed" "$1" | tail -n 1 || true)
  if [ -z "$line" ]; then
    failed=$((failed + 1))
    echo "$2: no summary (crashed?)"
    return
  fi
  passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
}

echo "==> node --test"
SLICER_URL="$url" SLICER_TOKEN="$token" node --test --test-reporter=spec js-tests/node.test.js \
  2>&1 | tee "$work/node.log" || true
node_pass=$(grep -aE '^ℹ pass [0-9]+' "$work/node.log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
node_fail=$(grep -aE '^ℹ fail [0-9]+' "$work/node.log" | tail -n 1 | grep -oE '[0-9]+' || echo 1)
passed=$((passed + node_pass))
failed=$((failed + node_fail))

echo "==> Chromium page (playwright-core, /usr/bin/chromium)"
node js-tests/browser-test.js "$url" "$token" 2>&1 | tee "$work/chromium.log" || true
count "$work/chromium.log" chromium

echo "==> workerd (miniflare)"
node js-tests/workerd-test.js "$url" "$token" 2>&1 | tee "$work/workerd.log" || true
count "$work/workerd.log" workerd

echo "==> Deno"
deno run --allow-read=. --allow-net="${url#http://}" js-tests/deno-test.js "$url" "$token" \
  2>&1 | tee "$work/deno.log" || true
count "$work/deno.log" deno

echo
echo "js: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
