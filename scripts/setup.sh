#!/usr/bin/env bash
# Installs what the build and the tests need, skipping whatever is already
# present at the right version, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

if ! command -v cargo >/dev/null; then
  echo "cargo is required: install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    log "rustup component add $component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The emulator confines guest commands with bubblewrap.
command -v bwrap >/dev/null || apt_install bubblewrap

# ---- WebAssembly package (wasm/) -------------------------------------------
# wasm-bindgen-cli, wasm-pack, chromium + chromedriver and the pinned npm tools
# (binaryen, playwright-core, miniflare, deno); skips what is present.
"$(dirname "$0")/setup-wasm.sh"
