#!/usr/bin/env bash
# Installs the WebAssembly toolchain of the npm package (wasm/), skipping
# whatever is already present at the pinned version:
#   wasm32 target, wasm-bindgen-cli 0.2.130, wasm-pack 0.15.1,
#   Debian's chromium + chromium-driver,
#   npm binaryen 132 (wasm-opt), playwright-core, miniflare, deno
#   (pinned in wasm/js-tests/package-lock.json).
# Nothing is downloaded at test time: every tool comes from a registry here.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

has_version() { # command, expected substring of its --version output
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# Must equal the `wasm-bindgen = "=0.2.130"` pin of wasm/Cargo.toml, or
# wasm-pack tries to download a matching CLI.
if ! has_version wasm-bindgen "wasm-bindgen 0.2.130"; then
  log "cargo install wasm-bindgen-cli 0.2.130"
  # --locked fails while one locked dependency is missing from the registry.
  cargo install wasm-bindgen-cli --version 0.2.130 --locked ||
    cargo install wasm-bindgen-cli --version 0.2.130
fi

if ! has_version wasm-pack "wasm-pack 0.15.1"; then
  log "cargo install wasm-pack 0.15.1"
  cargo install wasm-pack --version 0.15.1 --locked
fi

missing=()
for pkg in chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm tools, exactly as locked. Reinstalled only when a pinned version is
# not what node_modules holds.
js=wasm/js-tests
npm_ok() {
  node -e '
    const lock = require("./package-lock.json").packages;
    for (const [path, entry] of Object.entries(lock)) {
      if (!path.startsWith("node_modules/") || path.split("node_modules/").length > 2) continue;
      if (entry.optional) continue; // platform packages of other machines
      let have;
      try { have = require("./" + path + "/package.json").version; } catch { process.exit(1); }
      if (have !== entry.version) process.exit(1);
    }
  ' 2>/dev/null
}
if ! (cd "$js" && npm_ok); then
  log "npm ci in $js"
  (cd "$js" && npm ci --no-audit --no-fund)
fi

wasm_opt="$js/node_modules/.bin/wasm-opt"
if ! "$wasm_opt" --version | grep -q "version 132"; then
  echo "expected binaryen 132 at $wasm_opt, found: $("$wasm_opt" --version)" >&2
  exit 1
fi
