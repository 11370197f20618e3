#!/usr/bin/env bash
# Rows per second per core (prints figures; not a test): the client's CPU time (user + system, as
# getrusage counts it for the client process alone; the emulator runs in its own process) for every
# order line of one company, Erp.BO.SalesOrderSvc/OrderDtls, read
#   a. by `kinetic export --format csv`                     (typed records, CSV)
#   b. by `kinetic sql "SELECT * FROM OrderDtls" --format csv` (the SQL scan: Arrow batches, CSV)
#   c. by `kinetic sql "SELECT COUNT(*), SUM(...) ..."`      (the scan with nothing to write: decoding)
#   d. by the Python module, cursor.fetch_arrow_table()     (the SQL scan into pyarrow; its CPU
#                                                           time over the fetch alone, as
#                                                           bench/python_fetch.py measures it)
#   e. by curl, the same $top/$skip pages to /dev/null      (the transfer floor: no parsing at all)
# Each way runs REPEAT times (default 3) in its own process; the median CPU seconds and wall seconds
# are reported, with rows per CPU second and the ratio to `kinetic export`'s. Every way must bring the
# emulator's $count rows (the SQL count and sums are checked against a sum of the CSV export); any
# difference exits 1.
#
# Usage: bash bench/percore.sh [SCALE]    SCALE: order lines (default 200,000)
#        KINETIC_BIN=path   that binary, no release build (the short form of bench/run.sh: debug)
#        PY=path            a Python with the epicor_kinetic module (and pyarrow) for d; without
#                           it, d is skipped and says so
# Files: target/bench/percore-*.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-200000}
case $scale in '' | *[!0-9]*) echo "usage: bash bench/percore.sh [SCALE]" >&2; exit 2 ;; esac
repeat=${REPEAT:-3}
entity=Erp.BO.SalesOrderSvc/OrderDtls
top=100
out=target/bench
mkdir -p "$out"
bin=${KINETIC_BIN:-${CARGO_TARGET_DIR:-target}/release/kinetic}
if [ -z "${KINETIC_BIN:-}" ]; then
  echo "== cargo build --release -p epicor-kinetic-cli"
  cargo build --release -q -p epicor-kinetic-cli
fi
[ -x /usr/bin/time ] || { echo "bench/percore.sh needs GNU time (/usr/bin/time)" >&2; exit 1; }

serve_one_company "$bin" "$out" "$scale" "$top" percore-emulator
field() {
  python3 -c 'import functools,json,sys; d=json.loads(open(sys.argv[1]).readline()); print(functools.reduce(lambda v,k: v[k], sys.argv[2:], d))' \
    "$out/percore-emulator.out" "$@"
}
url=$(field url)
conn=$(field connection_strings basic)
base=$url/Kinetic/api/v1/
count=$(curl -sS --fail -u 'manager:Epicor123!' "$base$entity/\$count" | tr -d '\r\n\357\273\277')
case $count in '' | *[!0-9]*) echo "percore.sh: \$count is not a number: '$count'" >&2; exit 1 ;; esac
echo "emulator: $url, $entity: $count rows; machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$db" >/dev/null

# run NAME CMD...: REPEAT runs; "$out/percore-NAME.fig" gets "cpu_s wall_s" (medians).
wrong=()
run() {
  local name=$1 i cpus=() walls=() u s e
  shift
  for ((i = 1; i <= repeat; i++)); do
    if ! /usr/bin/time -f '%U %S %e' -o "$out/percore-$name.time" "$@" >"$out/percore-$name.stdout" 2>"$out/percore-$name.stderr"; then
      echo "$name FAILED:" >&2; tail -5 "$out/percore-$name.stderr" >&2; wrong+=("$name: the run failed"); return 0
    fi
    read -r u s e < <(tail -n1 "$out/percore-$name.time")
    if [ "$name" = python_arrow ]; then
      # The fetch alone, as the script measures it (process CPU, every thread): the interpreter's
      # start and pyarrow's import are no part of the module's throughput.
      read -r _ e _ cpu <"$out/percore-$name.stdout"
      cpus+=("$cpu")
    else
      cpus+=("$(python3 -c "print($u + $s)")")
    fi
    walls+=("$e")
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$(median "${cpus[@]}") $(median "${walls[@]}")" >"$out/percore-$name.fig"
}

run export "$bin" export "$entity" -c "$conn" --format csv -o "$out/percore-export.csv"
run sql_csv "$bin" sql -c "$conn" "SELECT * FROM OrderDtls" --format csv -o "$out/percore-sql.csv"
run sql_sum "$bin" sql -c "$conn" "SELECT COUNT(*) AS n, SUM(OrderQty) AS qty, SUM(DocExtPriceDtl) AS price FROM OrderDtls" --format csv
py=${PY:-}
if [ -n "$py" ]; then
  run python_arrow "$py" bench/python_fetch.py arrow "$conn" "$base"
else
  echo "(d. the Python module: skipped, PY is not set)"
fi
{
  for ((skip = 0; skip < count; skip += top)); do
    printf 'url = "%s%s?$top=%d&$skip=%d&$orderby=Company,OrderNum,OrderLine"\noutput = "/dev/null"\n' "$base" "$entity" $top $skip
  done
} >"$out/percore-curl.config"
run curl curl -sS --fail -u 'manager:Epicor123!' --config "$out/percore-curl.config"

# The answers.
python3 - "$out" "$count" "$([ -n "$py" ] && echo yes || echo no)" <<'PY' || wrong+=("the answers differ (above)")
import csv, sys
from decimal import Decimal
out, count, python = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "yes"
bad = []
def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
export = rows(f"{out}/percore-export.csv")
sql = rows(f"{out}/percore-sql.csv")
for name, r in (("export", export), ("sql_csv", sql)):
    if len(r) != count:
        bad.append(f"{name}: {len(r)} rows, the server counts {count}")
    keys = {(x["OrderNum"], x["OrderLine"]) for x in r}
    if len(keys) != len(r):
        bad.append(f"{name}: {len(r) - len(keys)} keys twice")
if {(x["OrderNum"], x["OrderLine"]) for x in export} != {(x["OrderNum"], x["OrderLine"]) for x in sql}:
    bad.append("export and sql_csv hold different keys")
summed = rows(f"{out}/percore-sql_sum.stdout")[0]
qty = sum(Decimal(x["OrderQty"]) for x in export)
price = sum(Decimal(x["DocExtPriceDtl"]) for x in export)
if int(summed["n"]) != count or Decimal(summed["qty"]) != qty or Decimal(summed["price"]) != price:
    bad.append(f"sql_sum {summed} != count {count}, qty {qty}, price {price} (summed from the export)")
if python:
    got = open(f"{out}/percore-python_arrow.stdout").read().split()
    if int(got[0]) != count:
        bad.append(f"python_arrow: {got[0]} rows, the server counts {count}")
for b in bad:
    print("WRONG:", b)
sys.exit(1 if bad else 0)
PY

echo
printf '%-13s %9s %8s %14s %12s\n' way cpu_s wall_s rows_per_cpu_s vs_export
read -r ecpu _ <"$out/percore-export.fig"
for name in export sql_csv sql_sum python_arrow curl; do
  [ -e "$out/percore-$name.fig" ] || continue
  read -r cpu wall <"$out/percore-$name.fig"
  python3 -c "
cpu, wall, e, n = $cpu, $wall, $ecpu, $count
rate = n / max(cpu, 1e-3)
print('%-13s %9.2f %8.2f %14.0f %11.2fx' % ('$name', cpu, wall, rate, rate / (n / max(e, 1e-3))))"
done
rm -f "$out"/percore-*.fig
if [ ${#wrong[@]} -gt 0 ]; then
  printf 'WRONG: %s\n' "${wrong[@]}" >&2
  exit 1
fi
