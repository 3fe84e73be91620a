#!/usr/bin/env bash
# Runs every check and test: formatting, lints (host and wasm32), the guard
# that keeps runtimes out of slicer-core, and all test suites.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (host)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "clippy (slicer-core for wasm32)"
cargo clippy -p slicer-core --target wasm32-unknown-unknown --locked -- -D warnings

step "slicer-core dependency guard"
forbidden='^(tokio|reqwest|hyper|mio|web-sys|axum|socket2)$'
found=$(cargo tree -p slicer-core -e normal --target all --prefix none --format '{lib}' --locked |
  sort -u | grep -E "$forbidden" || true)
if [ -n "$found" ]; then
  echo "slicer-core must not depend on a runtime or a platform HTTP stack; found: $found" >&2
  exit 1
fi
echo "slicer-core depends on none of tokio, reqwest, hyper, mio, web-sys, axum"

step "rustdoc (deny warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked >/dev/null

step "cargo test"
cargo test --workspace --locked

# ---- WebAssembly package (wasm/) -------------------------------------------
step "clippy (slicer-wasm for wasm32, tests included)"
cargo clippy -p slicer-wasm --target wasm32-unknown-unknown --all-targets --locked -- -D warnings

cargo build -p slicer-emulator --locked

step "wasm-bindgen-test suites (Node and headless Chromium) against the emulator"
SKIP_BUILD=1 wasm/run-wasm-tests.sh

step "the built npm package in Node, Chromium, workerd and Deno"
wasm/build.sh
SKIP_BUILD=1 wasm/run-js-tests.sh

# ---- The web demo (web-demo/) -----------------------------------------------
step "the web demo in Chromium (playwright-core) against its embedded emulator"
web-demo/run-e2e.sh
