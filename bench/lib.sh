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

# serve_one_company BIN OUT SCALE PAGE_CAP NAME: the kinetic emulator (BIN) with one company, so
# that every one of SCALE order lines is visible to the connection (with the default two companies
# three quarters go to EPIC06 and a v1 collection only shows the default company), its data cached
# per scale in OUT/export-1co-SCALE.db (the name carries "1co": a kept database is reused as it
# is), its start-up JSON in OUT/NAME.out; sets pid and db, and stops it on exit.
serve_one_company() {
  local bin=$1 out=$2 scale=$3 page_cap=$4 name=$5
  local cfg=$out/export-1co.toml
  db=$out/export-1co-$scale.db
  printf 'page_cap = %s\n[[companies]]\nid = "EPIC06"\nname = "Epicor Education"\n' "$page_cap" >"$cfg"
  pid=
  trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi' EXIT
  if [ -e "$db" ]; then echo "== emulator: reusing $db"; else echo "== emulator: generating $scale order lines into $db (once)"; fi
  serve_cached "$db" "$out/$name.out" "$out/$name.err" \
    "$bin" emulator --port 0 --scale "$scale" --db "$db" --config "$cfg"
}
