#!/usr/bin/env bash
# Builds what the web demo's browser tests need and runs them:
#   - the web-demo binary (cargo build -p web-demo);
#   - the npm package (wasm/build.sh), when its sources changed since the
#     last build;
#   - Debian's chromium, when /usr/bin/chromium is missing;
#   - the suite's npm dependencies (npm ci), when node_modules is missing or
#     older than package-lock.json;
# then runs web-demo/e2e with node --test. Screenshots land in
# web-demo/e2e/artifacts/. A second run skips whatever is up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

for tool in cargo node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "run-e2e.sh needs $tool on PATH" >&2
    exit 1
  fi
done

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  log "apt-get install chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

log "cargo build -p web-demo"
cargo build -p web-demo
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')"
binary="$target_dir/debug/web-demo"

# The npm package: rebuilt when any input is newer than its last build.
pkg="$root/wasm/pkg-npm"
stamp="$pkg/package.json"
stale=yes
if [ -f "$stamp" ]; then
  newer="$(find wasm/src wasm/npm wasm/js wasm/Cargo.toml wasm/build.sh core/src core/Cargo.toml \
    -newer "$stamp" -type f -print -quit 2>/dev/null || true)"
  [ -z "$newer" ] && stale=no
fi
if [ "$stale" = yes ]; then
  if [ -x scripts/setup-wasm.sh ]; then
    log "scripts/setup-wasm.sh"
    scripts/setup-wasm.sh
  fi
  log "wasm/build.sh"
  wasm/build.sh
else
  log "npm package in wasm/pkg-npm is up to date"
fi

# The suite's dependencies: npm ci when missing or when the lock file moved.
cd "$here/e2e"
if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.installed-lock.json; then
  log "npm ci (web-demo/e2e)"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.installed-lock.json
fi

log "node --test (web-demo/e2e)"
WEB_DEMO_BIN="$binary" WEB_DEMO_PKG_DIR="$pkg" CHROMIUM="$chromium" \
  node --test --test-concurrency=1 demo.test.mjs
