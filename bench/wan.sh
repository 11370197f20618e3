#!/usr/bin/env bash
# WAN benchmark (issue 28): a real Epicor server is far away, tens to hundreds of milliseconds a
# request. The emulator waits LATENCY ms before every answer (its latency fault); at each latency:
#   1. the flagship join (every Minnesota customer's order lines, summed per customer) with the
#      join's keys sent to the server (the default) and with JoinPushdownKeys=0 (both sides read
#      whole): rows the server sent, requests, seconds; both answers against SQLite's, to the cent;
#   2. a one-customer join, the same way (its lines against SQLite's);
#   3. an export of every order line the connection sees: kinetic export with the default and with
#      Parallelism=1, 4, 8, 16, and the Python requests loop users write today
#      (bench/export_requests.py); each file's rows against SQLite's (count and key set);
#   4. a Python Arrow fetch of the same lines (SELECT ... FROM OrderDtls through the Python module),
#      when the module is installed in PY_VENV or target/py-venv (skipped, and said, otherwise).
# The reference answers come from the emulator's own SQLite file (python3's sqlite3): nothing of
# kinetic is on that side. Exits 1 when a run fails or an answer differs.
#
# Usage: [KINETIC_BIN=path] bash bench/wan.sh [SCALE] [LATENCIES_MS]
#        default SCALE 15000, LATENCIES_MS "50 150"; files in target/bench/ (database cached).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-15000}
latencies=${2:-"50 150"}
case $scale in '' | *[!0-9]*) echo "usage: bash bench/wan.sh [SCALE] [LATENCIES_MS]" >&2; exit 2 ;; esac
bin=${KINETIC_BIN:-${CARGO_TARGET_DIR:-target}/release/kinetic}
out=target/bench
mkdir -p "$out"
command -v python3 >/dev/null || { echo "bench/wan.sh needs python3" >&2; exit 1; }
if [ -z "${KINETIC_BIN:-}" ]; then
  echo "== cargo build --release -p epicor-kinetic-cli"
  cargo build --release -q -p epicor-kinetic-cli
fi
db=$out/wan-$scale.db
wrong=()
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi' EXIT

# reference WHAT: the answer from SQLite, as CSV rows without a header (company EPIC06: the
# emulator's default company, the one a v1 connection sees).
reference() {
  python3 - "$db" "$1" <<'PY'
import sqlite3, sys
from decimal import Decimal
db, what = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
# The emulator's text columns compare as SQL Server's default collation does: case and trailing
# spaces ignored (README, "How it compares text"); SQLite must know the collation to read them.
def epicor_ci(a, b):
    a, b = a.rstrip(" ").casefold(), b.rstrip(" ").casefold()
    return (a > b) - (a < b)
c.create_collation("EPICOR_CI", epicor_ci)
if what == "flagship":
    rows = c.execute("""SELECT c.Name, d.DocExtPriceDtl FROM Customer c JOIN OrderDtl d
        ON d.Company = c.Company AND d.CustNum = c.CustNum
        WHERE c.Company = 'EPIC06' AND c.State = 'MN'""").fetchall()
    sums = {}
    for name, amount in rows:
        sums[name] = sums.get(name, Decimal(0)) + Decimal(str(amount))
    for name in sorted(sums):
        print(f"{name}|{sums[name].quantize(Decimal('0.01'))}")
elif what == "one":
    for r in sorted(c.execute("""SELECT d.OrderNum, d.OrderLine FROM OrderDtl d
        WHERE d.Company = 'EPIC06' AND d.CustNum = 3""")):
        print(f"{r[0]}|{r[1]}")
elif what == "lines":
    for r in sorted(c.execute("SELECT OrderNum, OrderLine FROM OrderDtl WHERE Company = 'EPIC06'")):
        print(f"{r[0]}|{r[1]}")
PY
}

# normalize KIND FILE: a kinetic or Python output file as the reference's rows.
normalize() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
from decimal import Decimal
kind, path = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
head, body = rows[0], rows[1:]
out = []
if kind == "flagship":
    out = [f"{r[0]}|{Decimal(r[1]).quantize(Decimal('0.01'))}" for r in body]
else:
    i, j = head.index("OrderNum"), head.index("OrderLine")
    out = [f"{int(r[i])}|{int(r[j])}" for r in body]
for line in sorted(out):
    print(line)
PY
}

# check NAME KIND FILE: the file's rows must be the reference's (count and key set, no key twice).
check() {
  local name=$1 kind=$2 file=$3
  if [ ! -s "$file" ]; then wrong+=("$name: no output"); return; fi
  if ! diff <(normalize "$kind" "$file") "$out/wan-ref-$kind.txt" >"$out/wan-$name.diff"; then
    wrong+=("$name: differs from SQLite's answer ($out/wan-$name.diff)")
  fi
}

# timed NAME CMD...: runs CMD, stdout to $out/wan-NAME.out, stderr to .err; prints the seconds.
timed() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$@" >"$out/wan-$name.out" 2>"$out/wan-$name.err" || rc=$?
  t1=$(date +%s%N)
  if [ $rc -ne 0 ]; then
    wrong+=("$name: exit $rc ($(tail -n1 "$out/wan-$name.err"))")
  fi
  awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.2f", ns / 1e9}'
}

# The Python module, for the Arrow fetch.
py=${PY_VENV:-target/py-venv}/bin/python
have_module=false
if [ -x "$py" ] && "$py" -c 'import epicor_kinetic, pyarrow' 2>/dev/null; then have_module=true; fi
# requests, for the loop users write.
rpy=python3
if ! python3 -c 'import requests' 2>/dev/null; then
  venv=target/bench-venv
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import requests' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check requests httpx
  fi
  rpy=$venv/bin/python
fi

printf '\n%-8s %-44s %8s %9s %8s\n' latency run rows_sent requests seconds | tee "$out/wan.txt"
for ms in $latencies; do
  [ -e "$db" ] || echo "== emulator: generating $scale order lines into $db (once)"
  serve_cached "$db" "$out/wan-emulator.out" "$out/wan-emulator.err" \
    "$bin" emulator --port 0 --scale "$scale" --db "$db" --faults "latency:1:${ms}ms"
  conn=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["connection_strings"]["basic"])' "$out/wan-emulator.out")
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$out/wan-emulator.out")
  for kind in flagship one lines; do reference $kind >"$out/wan-ref-$kind.txt"; done

  # 1 and 2: joins, with the keys sent and without.
  for q in flagship one; do
    if [ $q = flagship ]; then
      sql="SELECT c.Name, SUM(d.DocExtPriceDtl) AS total FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name"
    else
      sql="SELECT d.OrderNum, d.OrderLine FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.CustNum = 3"
    fi
    for keys in default 0; do
      extra=; [ $keys = 0 ] && extra=";JoinPushdownKeys=0"
      name=$q-keys-$keys
      s=$(timed "$name" "$bin" sql -c "$conn$extra" --stats --format csv -o "$out/wan-$name.csv" "$sql")
      stats=$(grep -o 'sql: .*' "$out/wan-$name.err" | tail -n1)
      sent=$(sed -E 's/.* ([0-9]+) rows? transferred.*/\1/' <<<"$stats")
      reqs=$(sed -E 's/.* in ([0-9]+) requests?.*/\1/' <<<"$stats")
      printf '%-8s %-44s %8s %9s %8s\n' "${ms}ms" "$q join, JoinPushdownKeys=$keys" "$sent" "$reqs" "$s" | tee -a "$out/wan.txt"
      check "$name" "$q" "$out/wan-$name.csv"
    done
  done

  # 3: exports.
  for p in default 1 4 8 16; do
    extra=; [ $p != default ] && extra=";Parallelism=$p"
    name=export-p$p
    s=$(timed "$name" "$bin" export Erp.BO.SalesOrderSvc/OrderDtls -c "$conn$extra" --format csv -o "$out/wan-$name.csv")
    printf '%-8s %-44s %8s %9s %8s\n' "${ms}ms" "kinetic export, Parallelism=$p" - - "$s" | tee -a "$out/wan.txt"
    check "$name" lines "$out/wan-$name.csv"
  done
  s=$(timed export-python "$rpy" bench/export_requests.py "$url/Kinetic/api/v1/" Erp.BO.SalesOrderSvc/OrderDtls "$out/wan-export-python.csv")
  printf '%-8s %-44s %8s %9s %8s\n' "${ms}ms" "Python requests loop" - - "$s" | tee -a "$out/wan.txt"
  check export-python lines "$out/wan-export-python.csv"

  # 4: the Python Arrow fetch.
  if $have_module; then
    s=$(timed arrow "$py" -c '
import csv, sys, epicor_kinetic
with epicor_kinetic.connect(sys.argv[1]) as conn:
    cur = conn.cursor()
    cur.execute("SELECT OrderNum, OrderLine FROM OrderDtls")
    t = cur.fetch_arrow_table()
w = csv.writer(open(sys.argv[2], "w", newline=""))
w.writerow(["OrderNum", "OrderLine"])
w.writerows(zip(t.column("OrderNum").to_pylist(), t.column("OrderLine").to_pylist()))
' "$conn" "$out/wan-arrow.csv")
    printf '%-8s %-44s %8s %9s %8s\n' "${ms}ms" "Python Arrow fetch (fetch_arrow_table)" - - "$s" | tee -a "$out/wan.txt"
    check arrow lines "$out/wan-arrow.csv"
  else
    printf '%-8s %-44s %8s %9s %8s\n' "${ms}ms" "Python Arrow fetch: no module in $py" - - - | tee -a "$out/wan.txt"
  fi

  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
done

if [ ${#wrong[@]} -gt 0 ]; then
  echo "wan.sh: WRONG:" >&2
  printf '  %s\n' "${wrong[@]}" >&2
  exit 1
fi
echo "wan.sh: every answer is SQLite's"
