#!/usr/bin/env bash
# Runs the wasm-bindgen-test suites of slicer-wasm against a fresh emulator:
#   wasm/tests/node.rs     with `wasm-pack test --node`
#   wasm/tests/browser.rs  with `wasm-pack test --headless --chrome`
#                          (Debian's chromium + chromedriver)
# The emulator URL is compiled into the tests (SLICER_WASM_TEST_URL); the
# browser's test page is served from a port chosen here
# (WASM_BINDGEN_TEST_ADDRESS), so the emulator can allow exactly that origin.
# Set SKIP_BUILD=1 to reuse an existing emulator build.
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd .. && pwd)

if [ "${SKIP_BUILD:-}" != 1 ]; then
  (cd "$repo" && cargo build -p slicer-emulator)
fi
emulator="$repo/target/debug/slicer-emulator"

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
page_port=$(free_port)
page_origin="http://127.0.0.1:$page_port"

work=$(mktemp -d)
# shellcheck source=../scripts/lib/emulator.sh
. "$repo/scripts/lib/emulator.sh"
start_emulator "$emulator" "$work" --no-auth --cors-origin "$page_origin"
echo "emulator at $url, browser test page at $page_origin"

export SLICER_WASM_TEST_URL="$url"
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$page_port"
export WASM_BINDGEN_TEST_TIMEOUT=120
export PATH="$PWD/js-tests/node_modules/.bin:$PATH"

status=0
echo "==> wasm-pack test --node"
wasm-pack test --node . --test node || status=1
echo "==> wasm-pack test --headless --chrome"
wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver . --test browser || status=1
exit $status
