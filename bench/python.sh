#!/usr/bin/env bash
# Python benchmark (prints figures; not a test): SCALE order lines (default 1,000,000) into Python
#   a. by the DB-API, cursor.fetchall()            (tuples of decimal.Decimal, datetime, ...)
#   b. by the DB-API, a cursor.fetchmany(10000) loop (streaming: memory bounded by the batch)
#   c. by Arrow, cursor.fetch_arrow_table()        (columnar, no Python object per value)
#   d. the same with Parallelism=4                 (four $skip ranges read at once)
#   e. by a plain `requests` $top/$skip loop       (what users write today: dicts of JSON values)
# each in its own process, against one emulator (its own process too), one after the other;
# rows/s, wall and peak RSS for each, and the ratios. Then the answers: every way must bring the
# emulator's $count rows with the same keys as the requests loop (paged by its own code, not the
# module's); exits 1 when a way fails or brings other rows.
#
# The module is installed in release with `pip install ./crates/kinetic-py` into
# target/bench-py-venv (the first time compiles DataFusion in release: ~25 minutes on 2 cores).
# Usage: [PY_VENV=path-with-epicor_kinetic] bash bench/python.sh [SCALE]     Files: target/bench/
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-1000000}
case $scale in '' | *[!0-9]*) echo "usage: bash bench/python.sh [SCALE]" >&2; exit 2 ;; esac
out=target/bench
mkdir -p "$out"
venv=${PY_VENV:-target/bench-py-venv}

if [ -z "${PY_VENV:-}" ]; then
  if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
  echo "== pip install ./crates/kinetic-py pyarrow requests (release build)"
  t0=$(date +%s)
  "$venv/bin/pip" install -q ./crates/kinetic-py pyarrow requests
  echo "   installed in $(( $(date +%s) - t0 )) s"
fi
py=$venv/bin/python

# One company, so that every line is visible to the connection (as bench/export.sh does).
cfg=$out/python-1co.toml
cat >"$cfg" <<TOML
page_cap = 100
db = "$(pwd)/$out/export-1co-$scale.db"
[[companies]]
id = "EPIC06"
name = "Epicor Education"
TOML
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
echo "== emulator ($scale order lines; generated once into $out/export-1co-$scale.db)"
serve_cached "$out/export-1co-$scale.db" "$out/python-emulator.out" "$out/python-emulator.err" \
  "$py" -c '
import json, signal, sys
from epicor_kinetic import emulator
e = emulator.start(int(sys.argv[1]), config=sys.argv[2])
print(json.dumps(e.info), flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
e.stop()
' "$scale" "$cfg"
conn=$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["connection_strings"]["basic"])' "$out/python-emulator.out")
base=$("$py" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(d["url"] + "/" + d["instance"] + "/api/v1/")' "$out/python-emulator.out")

count=$(curl -sS --fail -u 'manager:Epicor123!' "${base}Erp.BO.SalesOrderSvc/OrderDtls/\$count" | tr -d '\r\n\357\273\277')
case $count in '' | *[!0-9]*) echo "python.sh: the emulator's \$count of OrderDtls is not a number: '$count'" >&2; exit 1 ;; esac
wrong=()
printf '\n%-10s %10s %9s %12s %10s\n' way rows wall_s rows_per_s peak_MiB
for way in fetchall fetchmany arrow arrow_p4 requests; do
  rm -f "$out/python-$way.out"
  /usr/bin/time -f %M -o "$out/python-$way.rss" "$py" bench/python_fetch.py "$way" "$conn" "$base" >"$out/python-$way.out" 2>"$out/python-$way.err" || {
    echo "$way FAILED:"; tail -5 "$out/python-$way.err"; wrong+=("$way: the run failed"); continue; }
  read -r rows secs _ <"$out/python-$way.out"
  kib=$(tail -n1 "$out/python-$way.rss")
  printf '%-10s %10s %9s %12s %10s\n' "$way" "$rows" "$secs" "$("$py" -c "print(round($rows / $secs))")" "$((kib / 1024))"
done
echo
"$py" - "$out" <<'PY'
import sys
out = sys.argv[1]
t = {}
for way in ("fetchall", "fetchmany", "arrow", "arrow_p4", "requests"):
    try:
        rows, secs = open(f"{out}/python-{way}.out").read().split()[:2]
        t[way] = float(secs)
    except Exception:
        pass
if "requests" in t:
    for way in ("fetchall", "fetchmany", "arrow", "arrow_p4"):
        if way in t:
            print(f"{way}: {t['requests'] / t[way]:.1f}x faster than the requests loop")
PY
# The answers: $count rows each, and the requests loop's keys (their fingerprint, see python_fetch.py).
if [ -s "$out/python-requests.out" ]; then
  read -r _ _ want_fp _ <"$out/python-requests.out"
else
  want_fp=
  wrong+=("no key fingerprint from the requests loop to compare with")
fi
for way in fetchall fetchmany arrow arrow_p4 requests; do
  [ -s "$out/python-$way.out" ] || continue
  read -r rows _ fp _ <"$out/python-$way.out"
  [ "$rows" = "$count" ] || wrong+=("$way: $rows rows, the emulator's \$count is $count")
  [ -z "$want_fp" ] || [ "$fp" = "$want_fp" ] || wrong+=("$way: other keys than the requests loop's (fingerprint $fp, not $want_fp)")
done
if [ ${#wrong[@]} -gt 0 ]; then
  echo "python.sh: WRONG:"; printf '  %s\n' "${wrong[@]}"
  exit 1
fi
echo "answers: every way brought the $count rows, the requests loop's keys"
