# shellcheck shell=bash
# What the bench scripts share. Source it: . bench/lib.sh (the scripts run from the checkout's root).

# serve_cached DB OUT ERR COMMAND...: starts COMMAND (an emulator keeping its data in DB) in the
# background, its stdout to OUT and stderr to ERR, and waits for its first stdout line (the start-up
# JSON: the data is ready and the port bound); sets pid. A cached DB the emulator refuses (made by
# another generator version) is deleted and generated again, once. Exits 1 when it does not start.
serve_cached() {
  local db=$1 out=$2 err=$3 attempt
  shift 3
  for attempt in 1 2; do
    : >"$out"
    "$@" >"$out" 2>"$err" &
    pid=$!
    while [ ! -s "$out" ]; do
      if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; pid=; break; fi
      sleep 0.05
    done
    [ -n "$pid" ] && return 0
    cat "$err" >&2
    if [ "$attempt" = 2 ] || [ ! -e "$db" ]; then exit 1; fi
    echo "(discarding the cached database $db and generating it again)" >&2
    rm -f "$db"
  done
}
