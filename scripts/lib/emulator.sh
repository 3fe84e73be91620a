# Sourced by test runners: starts slicer-emulator in the background and waits
# (bounded) for the address it announces.
#
#   start_emulator BINARY WORK_DIR [FLAGS...]
#
# Listens on a free port of 127.0.0.1; sets `emulator_pid` and `url`, and
# installs an EXIT trap that stops the emulator and removes WORK_DIR.

start_emulator() {
  local binary=$1 dir=$2
  shift 2
  "$binary" --listen 127.0.0.1:0 "$@" >"$dir/emulator.out" 2>"$dir/emulator.err" &
  emulator_pid=$!
  emulator_work=$dir
  trap stop_emulator EXIT

  url=""
  for _ in $(seq 1 100); do
    url=$(grep -ao 'http://[0-9.]*:[0-9]*' "$dir/emulator.out" | head -n 1 || true)
    [ -n "$url" ] && return 0
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$dir/emulator.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "the emulator did not report its address" >&2
  exit 1
}

stop_emulator() {
  kill "$emulator_pid" 2>/dev/null || true
  wait "$emulator_pid" 2>/dev/null || true
  rm -rf "$emulator_work"
}
