#!/usr/bin/env bash
# SQL benchmark: figures, and a test of the answers. At --scale SCALE (default 1,000,000 order lines):
#   0. the reference: bench/sql_reference.py reads the emulator's order lines and customers with
#      Python's urllib alone (its own $top/$skip paging, checked against $count) and answers every
#      query below in plain Python: nothing of kinetic's pager or SQL engine is on that side;
#   1. memory: `kinetic sql "SELECT * FROM OrderDtls" --format csv` streams every line to a file;
#      peak RSS must stay under 64 MiB (a target: printed only); the file must hold the reference's
#      rows (count and key set, no key twice);
#   2. five representative queries, each run by `kinetic sql --stats` (rows the server sent against
#      rows returned, requests, wall time) and answered again the way one would by hand with the
#      `kinetic get` family: `kinetic export` calls (the same reads as `kinetic get`, as CSV), with
#      filters, order and top written by hand, piped into a few lines of Python that join and
#      aggregate; both answers are compared with the reference's (same header, same rows in the
#      same order: every ORDER BY is a total order; numbers as decimals, text exactly).
# Exits 1 when a run fails or an answer differs from the reference (what differs is printed).
#
# Usage: [KINETIC_BIN=path] bash bench/sql.sh [SCALE]      Files: target/bench/ (the database is cached per scale).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-1000000}
case $scale in '' | *[!0-9]*) echo "usage: bash bench/sql.sh [SCALE]" >&2; exit 2 ;; esac
bin=${KINETIC_BIN:-${CARGO_TARGET_DIR:-target}/release/kinetic}
out=target/bench
mkdir -p "$out"
command -v python3 >/dev/null || { echo "bench/sql.sh needs python3" >&2; exit 1; }

if [ -z "${KINETIC_BIN:-}" ]; then # KINETIC_BIN=path: benchmark that binary, no build
  echo "== cargo build --release -p epicor-kinetic-cli"
  cargo build --release -q -p epicor-kinetic-cli
fi

serve_one_company "$bin" "$out" "$scale" 100 sql-emulator
conn=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["connection_strings"]["basic"])' "$out/sql-emulator.out")
export KINETIC_CONNECTION="$conn"

# Everything that went wrong; the script exits 1 at the end when this is not empty.
wrong=()

echo
echo "== 0. the reference answers (urllib and plain Python, not kinetic)"
python3 bench/sql_reference.py fetch "$out/sql-emulator.out" "$out" ||
  { echo "sql.sh: no reference answers (the reason is above): nothing to compare with" >&2; exit 1; }

# run NAME CMD...: wall seconds and peak RSS (KiB) of CMD into $out/NAME.{time,stdout,stderr}.
# A failed command is recorded in wrong (and its last messages printed).
run() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$out/$name.rss" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
  t1=$(date +%s.%N)
  echo "$(python3 -c "print(round($t1 - $t0, 3))") $(tail -n1 "$out/$name.rss") $rc" >"$out/$name.time"
  if [ $rc -ne 0 ]; then
    echo "FAILED ($rc): $*" >&2; tail -5 "$out/$name.stderr" >&2
    wrong+=("$name: exit $rc")
  fi
}

echo
echo "== 1. memory: every order line to CSV through SQL"
rm -f "$out/sql-all.csv"
run sql_all "$bin" sql "SELECT * FROM OrderDtls" --format csv -o "$out/sql-all.csv" --stats
read -r wall kib rc <"$out/sql_all.time"
lines=$(($(cat "$out/sql-all.csv" 2>/dev/null | wc -l) - 1))
echo "rows $lines, wall ${wall}s, peak $((kib / 1024)) MiB (target: under 64 MiB) $([ "$kib" -lt 65536 ] && echo OK || echo OVER)"
grep '^sql:' "$out/sql_all.stderr" || true
all=$(python3 bench/sql_reference.py all "$out/sql-all.csv" "$out/ref_keys.txt")
echo "the reference's order lines, each once: $all"
[ "$all" = yes ] || wrong+=("SELECT * FROM OrderDtls: $all")

echo
echo "== 2. five queries: kinetic sql against hand-written kinetic export calls + Python"
# Each query: its SQL, and the hand-written way (a function printing the same answer as CSV).
cat >"$out/sql-groupby.py" <<'PY'
import collections, csv, decimal, sys
n = collections.Counter(); s = collections.defaultdict(decimal.Decimal)
for r in csv.DictReader(sys.stdin):
    n[r["PartNum"]] += 1; s[r["PartNum"]] += decimal.Decimal(r["DocExtPriceDtl"])
w = csv.writer(sys.stdout)
w.writerow(["PartNum", "lines", "revenue"])
for p in sorted(n): w.writerow([p, n[p], s[p]])
PY
cat >"$out/sql-join.py" <<'PY'
import collections, csv, decimal, sys
customers, lines = sys.stdin.read().split("---\n")
name = {r["CustNum"]: r["Name"] for r in csv.DictReader(customers.splitlines())}
t = collections.defaultdict(decimal.Decimal)
for r in csv.DictReader(lines.splitlines()):
    if r["CustNum"] in name: t[name[r["CustNum"]]] += decimal.Decimal(r["DocExtPriceDtl"])
w = csv.writer(sys.stdout)
w.writerow(["Name", "total"])
for k in sorted(t): w.writerow([k, t[k]])
PY
# contains() on the server may compare without case (as Epicor's SQL Server does); LIKE does not.
cat >"$out/sql-like.py" <<'PY'
import csv, sys
rd = csv.DictReader(sys.stdin); w = csv.writer(sys.stdout)
w.writerow(rd.fieldnames)
for r in rd:
    if "Electric" in r["Name"]: w.writerow([r[k] for k in rd.fieldnames])
PY
ex() { "$bin" export "$@" --format csv --no-progress; }
hand_range() { ex Erp.BO.SalesOrderSvc/OrderDtls --filter 'OrderNum ge 5000 and OrderNum le 5100' --select OrderNum,OrderLine,PartNum,DocExtPriceDtl --orderby OrderNum,OrderLine; }
hand_topn() { ex Erp.BO.SalesOrderSvc/OrderDtls --select OrderNum,OrderLine,DocExtPriceDtl --orderby 'OrderNum desc,OrderLine desc' --top 10; }
hand_groupby() { ex Erp.BO.SalesOrderSvc/OrderDtls --filter 'OrderNum lt 20000' --select PartNum,DocExtPriceDtl | python3 "$out/sql-groupby.py"; }
hand_join() { { ex Erp.BO.CustomerSvc/Customers --filter "State eq 'MN'" --select CustNum,Name; echo ---; ex Erp.BO.SalesOrderSvc/OrderDtls --select CustNum,DocExtPriceDtl; } | python3 "$out/sql-join.py"; }
hand_like() { ex Erp.BO.CustomerSvc/Customers --filter "contains(Name,'Electric') and CreditHold eq false" --select CustID,Name --orderby CustID | python3 "$out/sql-like.py"; }
export -f ex hand_range hand_topn hand_groupby hand_join hand_like
export bin out
# One company: an order line's key is (OrderNum, OrderLine), so every ORDER BY below is a total
# order (bench/sql_reference.py checks it: a tie there fails the run).
queries=(
  "range|SELECT OrderNum, OrderLine, PartNum, DocExtPriceDtl FROM OrderDtls WHERE OrderNum BETWEEN 5000 AND 5100 ORDER BY OrderNum, OrderLine"
  "topn|SELECT OrderNum, OrderLine, DocExtPriceDtl FROM OrderDtls ORDER BY OrderNum DESC, OrderLine DESC LIMIT 10"
  "groupby|SELECT PartNum, COUNT(*) AS lines, SUM(DocExtPriceDtl) AS revenue FROM OrderDtls WHERE OrderNum < 20000 GROUP BY PartNum ORDER BY PartNum"
  "join|SELECT c.Name, SUM(d.DocExtPriceDtl) AS total FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name ORDER BY c.Name"
  "like|SELECT CustID, Name FROM Customers WHERE Name LIKE '%Electric%' AND CreditHold = false ORDER BY CustID"
)
printf '%-8s %12s %12s %9s %9s %10s %10s  %s\n' query returned transferred requests sql_s export_s speedup same
for q in "${queries[@]}"; do
  name=${q%%|*} sql=${q#*|}
  run "sql_$name" "$bin" sql "$sql" --format csv --stats
  run "get_$name" bash -c "hand_$name"
  read -r swall _ _ <"$out/sql_$name.time"
  read -r gwall _ _ <"$out/get_$name.time"
  stats=$(grep '^sql:' "$out/sql_$name.stderr" || echo "sql: ? ? ?")
  # `N rows returned, M rows transferred in R requests` (singular for 1).
  returned=$(sed -n 's/^sql: \([0-9]*\) rows\? returned.*/\1/p' <<<"$stats")
  transferred=$(sed -n 's/.* \([0-9]*\) rows\? transferred.*/\1/p' <<<"$stats")
  requests=$(sed -n 's/.* in \([0-9]*\) requests\?,.*/\1/p' <<<"$stats")
  # Both answers against the reference's ("yes" or "NO"); what differs goes to $out/NAME.diff.
  sql_same=$(python3 bench/sql_reference.py compare "kinetic sql" "$out/sql_$name.stdout" "$out/ref_$name.csv" 2>"$out/$name.diff")
  hand_same=$(python3 bench/sql_reference.py compare "by hand" "$out/get_$name.stdout" "$out/ref_$name.csv" 2>>"$out/$name.diff")
  same=yes
  if [ "$sql_same" != yes ]; then same=NO; wrong+=("query $name: kinetic sql's answer is not the reference's"); fi
  if [ "$hand_same" != yes ]; then same=NO; wrong+=("query $name: the hand-written export's answer is not the reference's"); fi
  printf '%-8s %12s %12s %9s %9s %10s %10s  %s\n' "$name" "$returned" "$transferred" "$requests" "$swall" "$gwall" \
    "$(python3 -c "print(f'{$gwall / max($swall, 0.001):.2f}x')")" "$same"
  [ "$same" = yes ] || sed 's/^/    /' "$out/$name.diff"
done

echo
if [ ${#wrong[@]} -gt 0 ]; then
  echo "sql.sh: WRONG ANSWERS (the queries' SQL is in bench/sql.sh; answers in $out/sql_NAME.stdout and get_NAME.stdout, the reference's in $out/ref_NAME.csv):"
  printf '  %s\n' "${wrong[@]}"
  exit 1
fi
echo "sql.sh: every answer is the reference's"
