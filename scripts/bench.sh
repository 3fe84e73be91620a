#!/usr/bin/env bash
# Builds the benchmark harness and the emulator in release mode and runs
# every benchmark group, printing one markdown table of our figures next to
# their references (GNU tar, curl, the native build). Arguments go to
# slicer-bench: --quick for a smoke run at 1/8 size, --only NAME for one
# group (tar, exec, copy, requests, npm), --no-node to leave out Node.
# The npm package rows need wasm/build.sh to have run; otherwise they say
# "skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p slicer-bench -p slicer-emulator >&2

for tool in tar curl node; do
  command -v "$tool" >/dev/null || echo "note: $tool is not installed; its rows will say skipped" >&2
done

SLICER_BENCH_COMMAND="scripts/bench.sh${*:+ $*}" exec target/release/slicer-bench "$@"
