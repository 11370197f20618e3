#!/usr/bin/env bash
# Export benchmark (prints figures; not a test): a whole entity set, Erp.BO.SalesOrderSvc/OrderDtls,
# from the emulator to a file, by
#   a. kinetic export --format csv        (serial)
#   b. kinetic export --format ndjson     (serial)
#   c. kinetic export --format csv        with Parallelism=4 in the connection string
#   d. bench/export_requests.py           a plain Python `requests` loop, what users write today
#      bench/export_httpx.py              Python httpx with asyncio and 4 connections
#   e. curl                               the same $top/$skip pages to /dev/null, one process with
#                                         keep-alive: the transfer floor (serial, and --parallel-max 4)
# each measured for wall time and peak RSS; then ratios against the targets and a correctness check
# of the CSV files (same row count, no duplicate keys).
#
# Usage: bash bench/export.sh [SCALE]     SCALE: order lines (default 1,000,000)
#        RUNS="kinetic_csv python curl_serial" bash bench/export.sh ...   only these runs; names:
#        kinetic_csv kinetic_ndjson kinetic_csv_p4 python python_httpx4 curl_serial curl_parallel4
#        (the default: all) and curl_keyset (informative, off by default; needs python).
#        REPEAT=N: each run N times, reporting the median wall time and the largest peak (default 3).
#        KINETIC_BIN=path: that binary, no release build (the test command's short form: the debug one).
# Files: target/bench/ (the emulator database is cached there per SCALE, so generation happens once).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-1000000}
case $scale in '' | *[!0-9]*) echo "usage: bash bench/export.sh [SCALE]" >&2; exit 2 ;; esac

entity=Erp.BO.SalesOrderSvc/OrderDtls
orderby=Company,OrderNum,OrderLine # the entity's key: a stable order for $skip paging
top=100                            # the server's page cap (Epicor caps pages at about 100)
user=manager password='Epicor123!'
runs=${RUNS:-kinetic_csv kinetic_ndjson kinetic_csv_p4 python python_httpx4 curl_serial curl_parallel4}
repeat=${REPEAT:-3}
wanted() { [[ " $runs " == *" $1 "* ]]; }
bin=${KINETIC_BIN:-${CARGO_TARGET_DIR:-target}/release/kinetic}
out=target/bench
mkdir -p "$out"
for tool in python3 curl; do
  command -v $tool >/dev/null || { echo "bench/export.sh needs $tool" >&2; exit 1; }
done

# --- build -------------------------------------------------------------------------------------
# Others may be editing the crates while this runs: a failed build falls back, loudly, to the binary
# already there rather than losing the run. (cargo waits by itself if another build holds the lock.)
if [ -n "${KINETIC_BIN:-}" ]; then
  echo "== benchmarking $bin (KINETIC_BIN)"
elif echo "== cargo build --release -p epicor-kinetic-cli" && ! cargo build --release -q -p epicor-kinetic-cli; then
  [ -x "$bin" ] || { echo "build failed and there is no $bin" >&2; exit 1; }
  echo "WARNING: build failed; benchmarking the existing $bin ($(date -r "$bin" '+%F %T'))" >&2
fi

# --- emulator ----------------------------------------------------------------------------------
# page_cap is the default, written out because the benchmark depends on it.
serve_one_company "$bin" "$out" "$scale" "$top" emulator
grep -E "generated" "$out/emulator.err" || true
# python3 rather than jq: always present where the Python baseline runs.
# field KEY...: a value of the start-up line, e.g. field connection_strings basic.
field() {
  python3 -c 'import functools,json,sys; d=json.loads(open(sys.argv[1]).readline()); print(functools.reduce(lambda v,k: v[k], sys.argv[2:], d))' \
    "$out/emulator.out" "$@"
}
url=$(field url)
conn=$(field connection_strings basic)
base=$url/Kinetic/api/v1/
count=$(curl -sS --fail -u "$user:$password" "$base$entity/\$count")
[ "$count" -gt 0 ] || { echo "$entity is empty: nothing to export" >&2; exit 1; }
pages=$(( (count + top - 1) / top ))
echo "emulator: $url  pid $pid; $entity: $count rows, $pages pages of $top"
# Client and server share this machine's CPUs: parallel runs and other load move the figures.
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the OS page cache with the whole database so the first run is not penalised by cold reads.
cat "$db" >/dev/null

# --- measuring -----------------------------------------------------------------------------------
# measure NAME TITLE CMD...: unless NAME is left out of RUNS, runs CMD with stdout/stderr to
# $out/NAME.{stdout,stderr}; writes "wall_s peak_kib exit_code" to $out/NAME.time. Wall time is taken here (ns resolution; GNU time's
# %e has only 10 ms), peak RSS by GNU time (%M, KiB) or, without it, by a Python wrapper reading
# getrusage(RUSAGE_CHILDREN).ru_maxrss (KiB on Linux). Never fails: the exit code is recorded.
# Caveat of the fallback: Linux carries the RSS high-water mark of the (v)forked wrapper across exec,
# so it reports at least the wrapper's own ~10 MiB; figures above that are the command's.
if [ -x /usr/bin/time ] && /usr/bin/time -f %M true 2>/dev/null; then
  timer=gnu
else
  timer=python
fi
measure() {
  local name=$1 title=$2; shift 2
  wanted "$name" || return 0
  echo "== $title"
  local i walls=() peak=0 line w k r=0
  for ((i = 1; i <= repeat; i++)); do
    measure_once "$name" "$@"
    read -r w k r <"$out/$name.time"
    walls+=("$w")
    [ "${k:-0}" -gt "$peak" ] 2>/dev/null && peak=$k
    [ "$r" -ne 0 ] && break
  done
  # The median wall time of the runs, the largest peak; "runs" keeps each wall for the report.
  line=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$line $peak $r" >"$out/$name.time"
  printf '%s\n' "${walls[@]}" | paste -sd' ' >"$out/$name.runs"
}
measure_once() {
  local name=$1; shift
  local t0 t1 rc=0 kib
  t0=$(date +%s%N)
  if [ $timer = gnu ]; then
    /usr/bin/time -f %M -o "$out/$name.rss" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
    kib=$(tail -n1 "$out/$name.rss") # "Command exited with non-zero status N" comes first on failure
  else
    python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$out/$name.rss" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
    kib=$(tail -n1 "$out/$name.rss" 2>/dev/null || echo 0)
  fi
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 )) $kib $rc" | awk '{printf "%.3f %s %s\n", $1/1e6, $2, $3}' >"$out/$name.time"
  if [ "$rc" -ne 0 ]; then
    echo "  $name FAILED (exit $rc); last lines of $out/$name.stderr:" >&2
    tail -n 5 "$out/$name.stderr" | sed 's/^/    /' >&2
  fi
}
# result NAME ROWS [NOTE]: one line of the table, from $out/NAME.time.
: >"$out/results.tsv"
rm -f "$out"/*.time "$out"/*.runs "$out"/*.stdout "$out"/*.stderr "$out"/*.rss
result() {
  local name=$1 rows=$2 note=${3:-}
  [ -e "$out/$name.time" ] || { skipped "$name" "not run (RUNS)"; return; }
  read -r wall kib rc <"$out/$name.time"
  [ "$rc" -eq 0 ] || { rows=-; note="FAILED (exit $rc) $note"; }
  [ -e "$out/$name.runs" ] && [ "$repeat" -gt 1 ] && note="runs: $(cat "$out/$name.runs") $note"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rows" "$wall" "$kib" "$note" >>"$out/results.tsv"
}
skipped() { printf '%s\t-\t-\t-\t%s\n' "$1" "$2" >>"$out/results.tsv"; }
# Rows in an output file ("-" when there is none): CSV records but the header, NDJSON lines.
ndjson_rows() { if [ -e "$1" ]; then wc -l <"$1"; else echo -; fi; }
csv_rows() { [ -e "$1" ] || { echo -; return; }; python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8"))) - 1)' "$1"; }

# --- a, b, c: kinetic export ---------------------------------------------------------------------
# No progress flag is passed: the progress bar is off by itself when stderr is not a terminal.
rm -f "$out"/kinetic*.csv "$out"/kinetic*.ndjson "$out"/python.csv "$out"/python-httpx.csv
if "$bin" export --help >/dev/null 2>&1; then
  measure kinetic_csv "a. kinetic export csv (serial)" "$bin" export "$entity" -c "$conn" --format csv -o "$out/kinetic.csv"
  result kinetic_csv "$(csv_rows "$out/kinetic.csv" 2>/dev/null || echo -)"
  measure kinetic_ndjson "b. kinetic export ndjson (serial)" "$bin" export "$entity" -c "$conn" --format ndjson -o "$out/kinetic.ndjson"
  result kinetic_ndjson "$(ndjson_rows "$out/kinetic.ndjson")"
  measure kinetic_csv_p4 "c. kinetic export csv, Parallelism=4" "$bin" export "$entity" -c "$conn;Parallelism=4" --format csv -o "$out/kinetic-p4.csv"
  result kinetic_csv_p4 "$(csv_rows "$out/kinetic-p4.csv" 2>/dev/null || echo -)"
else
  echo "== a, b, c: kinetic export not available ($bin export --help fails): skipped"
  # (a failure when the runs were asked for: the correctness check below counts it)
  for n in kinetic_csv kinetic_ndjson kinetic_csv_p4; do
    if wanted $n; then skipped $n "kinetic export not available"; else skipped $n "not run (RUNS)"; fi
  done
fi

# --- d: the Python requests loop -----------------------------------------------------------------
py=python3
if { wanted python || wanted python_httpx4; } && ! python3 -c 'import requests, httpx' 2>/dev/null; then
  venv=target/bench-venv
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import requests, httpx' 2>/dev/null; then
    echo "(installing requests and httpx into $venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check requests httpx
  fi
  py=$venv/bin/python
fi
pyv=$(wanted python && $py -c 'import requests,sys; print("requests", requests.__version__, "python", sys.version.split()[0])' || true)
measure python "d. python requests loop ($pyv)" "$py" bench/export_requests.py "$base" "$entity" "$out/python.csv" --user "$user" --password "$password" --top $top --orderby $orderby
result python "$(csv_rows "$out/python.csv" 2>/dev/null || echo -)"
pyx=$(wanted python_httpx4 && $py -c 'import httpx; print("httpx", httpx.__version__)' || true)
measure python_httpx4 "d. python httpx asyncio, 4 connections ($pyx)" "$py" bench/export_httpx.py "$base" "$entity" "$out/python-httpx.csv" --user "$user" --password "$password" --top $top --orderby $orderby --connections 4
result python_httpx4 "$(csv_rows "$out/python-httpx.csv" 2>/dev/null || echo -)"

# --- e: the curl floor ---------------------------------------------------------------------------
# One curl process, one config file listing every page URL with its output: curl reuses the
# connection (keep-alive) from one URL to the next, so this is the cost of the HTTP transfers alone,
# with no parsing or writing. -w records per page: status, time to first byte, total time, bytes.
{
  for ((skip = 0; skip < count; skip += top)); do
    printf 'url = "%s%s?$top=%d&$skip=%d&$orderby=%s"\noutput = "/dev/null"\n' "$base" "$entity" $top $skip $orderby
  done
} >"$out/curl.config"
curlw='%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n'
curl_rows() { # rows fetched: the $count, when every page answered 200
  if [ -e "$out/$1.stdout" ] && [ "$(grep -c '^200 ' "$out/$1.stdout")" -eq "$pages" ]; then echo "$count"; else echo -; fi
}
measure curl_serial "e. curl floor, serial ($pages pages, one connection)" curl -sS --fail -u "$user:$password" -w "$curlw" --config "$out/curl.config"
result curl_serial "$(curl_rows curl_serial)" "rows = \$count; pages to /dev/null"
# --parallel came with curl 7.66.0.
# (The help text is captured first: grep -q closing the pipe early would fail the pipeline.)
curl_help=$(curl --help all 2>/dev/null || true)
if [[ $curl_help == *--parallel-max* ]]; then
  # (curl 7.88 draws its parallel progress meter despite -s; --no-progress-meter silences it.)
  quiet=; [[ $curl_help == *--no-progress-meter* ]] && quiet=--no-progress-meter
  measure curl_parallel4 "e. curl floor, --parallel --parallel-max 4" curl -sS $quiet --fail --parallel --parallel-max 4 -u "$user:$password" -w "$curlw" --config "$out/curl.config"
  result curl_parallel4 "$(curl_rows curl_parallel4)" "rows = \$count; pages to /dev/null"
else
  skipped curl_parallel4 "curl $(curl --version | head -n1 | cut -d' ' -f2) has no --parallel-max"
fi

# For information (no target, off by default): the same pages fetched by key instead of by position,
# "after the last key of the previous page". A server that answers $skip with SQL OFFSET scans every
# skipped row, so a $skip export costs O(rows^2); keyset pages can cost the same at any depth. Whether
# a server does better is visible in the per-page times printed at the end (first vs last tenth).
# The page boundaries come from the Python CSV (its every 100th key), so this run needs it complete.
# The filter pins Company with "eq" (v1 collections hold one company anyway): a top-level
# "Company gt ... or (...)" defeats the key index even in plain SQLite.
if ! wanted curl_keyset; then
  :
elif [ "$(csv_rows "$out/python.csv" 2>/dev/null || echo 0)" = "$count" ]; then
  python3 - "$out/python.csv" "$base$entity" $top $orderby "$count" >"$out/curl-keyset.config" <<'PY'
import csv, sys, urllib.parse
path, url, top, orderby, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def page(flt):
    q = f"$top={top}" + (f"&$filter={urllib.parse.quote(flt)}" if flt else "") + f"&$orderby={orderby}"
    print(f'url = "{url}?{q}"\noutput = "/dev/null"')
page(None)
with open(path, newline="", encoding="utf-8") as f:
    for i, row in enumerate(csv.DictReader(f), 1):
        if i % top == 0 and i < count:  # the last key of a page: the next page starts after it
            c, n, l = row["Company"].replace("'", "''"), row["OrderNum"], row["OrderLine"]
            page(f"Company eq '{c}' and (OrderNum gt {n} or (OrderNum eq {n} and OrderLine gt {l}))")
PY
  kpages=$(grep -c '^url' "$out/curl-keyset.config")
  measure curl_keyset "e. curl keyset pages, serial, for information ($kpages pages)" curl -sS --fail -u "$user:$password" -w "$curlw" --config "$out/curl-keyset.config"
  [ "$(grep -c '^200 ' "$out/curl_keyset.stdout")" -eq "$kpages" ] && krows=$count || krows=-
  result curl_keyset "$krows" "info: \$filter on the key instead of \$skip"
else
  skipped curl_keyset "needs a complete python.csv for the page boundaries"
fi

# --- report --------------------------------------------------------------------------------------
echo
report_rc=0
REPEAT=$repeat python3 - "$out" "$count" "$pages" "$scale" <<'EOF' || report_rc=$?
import csv, os, statistics, sys

out, count, pages, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = {}
for line in open(os.path.join(out, "results.tsv"), encoding="utf-8"):
    name, n, wall, kib, note = line.rstrip("\n").split("\t")
    rows[name] = dict(
        rows=None if n == "-" else int(n),
        wall=None if wall == "-" else float(wall),
        mib=None if kib == "-" else int(kib) / 1024,
        note=note,
    )

labels = {
    "kinetic_csv": "a. kinetic csv",
    "kinetic_ndjson": "b. kinetic ndjson",
    "kinetic_csv_p4": "c. kinetic csv P=4",
    "python": "d. python requests",
    "python_httpx4": "d. python httpx 4",
    "curl_serial": "e. curl serial",
    "curl_parallel4": "e. curl parallel 4",
    "curl_keyset": "e. curl keyset (info)",
}
print(f"OrderDtls export, scale {scale}: {count} rows in {pages} pages; "
      f"{os.cpu_count()} CPUs (client and server share them); median of {os.environ.get('REPEAT', '3')} runs each")
print(f"{'run':<22} {'rows':>9} {'wall s':>8} {'rows/s':>10} {'peak MiB':>9}  note")
for name, label in labels.items():
    r = rows.get(name)
    if r is None:
        continue
    ok = r["wall"] is not None and r["note"].find("FAILED") < 0
    fmt = lambda v, f: "-" if v is None else format(v, f)
    rps = r["rows"] / r["wall"] if ok and r["rows"] is not None and r["wall"] else None
    print(f"{label:<22} {fmt(r['rows'], 'd'):>9} {fmt(r['wall'], '.2f'):>8} {fmt(rps, ',.0f'):>10} "
          f"{fmt(r['mib'], '.1f'):>9}  {r['note']}")

def wall(name):
    r = rows.get(name)
    if r is None or r["wall"] is None or "FAILED" in r["note"]:
        return None
    return r["wall"]

def target(label, value, good, shown):
    if value is None:
        print(f"  {label:<46} {'n/a':>8}  (run missing or failed)")
    else:
        print(f"  {label:<46} {shown(value):>8}  {'ok' if good(value) else 'MISSED'}")

print("\ntargets")
k, p4, py, px, cs, cp = (wall(n) for n in ("kinetic_csv", "kinetic_csv_p4", "python", "python_httpx4", "curl_serial", "curl_parallel4"))
target("speedup kinetic csv vs python requests (>= 5x)", py / k if k and py else None, lambda v: v >= 5, lambda v: f"{v:.2f}x")
target("speedup kinetic P=4 vs python requests", py / p4 if p4 and py else None, lambda v: True, lambda v: f"{v:.2f}x")
target("speedup kinetic P=4 vs python httpx 4 conns", px / p4 if p4 and px else None, lambda v: v >= 1, lambda v: f"{v:.2f}x")
target("kinetic csv wall / curl serial wall (<= 1)", k / cs if k and cs else None, lambda v: v <= 1, lambda v: f"{v:.2f}")
cores = os.cpu_count() or 1
target(f"kinetic serial / P=4 wall (>= 1.5 on 4+ cores; {cores} here)", k / p4 if k and p4 else None,
       lambda v: v >= 1.5 or cores < 4, lambda v: f"{v:.2f}x")
for n in ("kinetic_csv", "kinetic_ndjson", "kinetic_csv_p4"):
    r = rows.get(n)
    mib = r["mib"] if r and wall(n) is not None else None
    target(f"peak memory {labels[n][3:]} (< 64 MiB)", mib, lambda v: v < 64, lambda v: f"{v:.1f}")
if p4 and cp:
    print(f"  (for comparison: kinetic P=4 wall / curl parallel 4 wall = {p4 / cp:.2f})")

# Per-page timings from curl's -w: the server's cost per page, and how it grows with $skip.
def page_stats(name):
    path = os.path.join(out, name + ".stdout")
    if not os.path.exists(path):
        return
    t = [line.split() for line in open(path) if line.startswith("200 ")]
    if not t:
        return
    total = [float(x[2]) * 1000 for x in t]
    ttfb = [float(x[1]) * 1000 for x in t]
    size = statistics.mean(int(x[3]) for x in t[:-1] or t)
    tenth = max(1, len(t) // 10)
    print(f"  {name}: {len(t)} pages, {size / 1024:.1f} KiB each; per page median {statistics.median(total):.2f} ms "
          f"(time to first byte {statistics.median(ttfb):.2f} ms); "
          f"first tenth of pages {statistics.mean(total[:tenth]):.2f} ms, last tenth {statistics.mean(total[-tenth:]):.2f} ms")
print("\nserver time per page (curl -w)")
page_stats("curl_serial")
page_stats("curl_keyset")

# Correctness: every run that ran exited 0; each output file holds $count rows, no key twice, and
# the same key set as the Python requests loop's file (paged by its own code, not kinetic's); the
# curl floors got every page with 200. Any miss makes the script exit 1.
print("\ncorrectness")
KEY = ("Company", "OrderNum", "OrderLine")
missed = []
def verdict(label, good, why):
    if not good:
        missed.append(f"{label}: {why}")
    return "ok" if good else "MISSED"
def ran(name):  # the run was asked for (RUNS) and could be run
    r = rows.get(name)
    return r is not None and not r["note"].startswith(("not run", "kinetic export not available", "curl ", "needs "))
for name, r in rows.items():
    if "FAILED" in r["note"]:
        print(f"  {labels.get(name, name):<16} the run failed  {verdict(labels.get(name, name), False, 'the run failed (see its .stderr)')}")
    elif r["note"].startswith("kinetic export not available"):
        print(f"  {labels.get(name, name):<16} not run: kinetic export not available  "
              f"{verdict(labels.get(name, name), False, 'asked for, but `kinetic export --help` fails (leave it out of RUNS to measure a binary without export)')}")
def scan(path, key_of):
    """Rows, duplicate keys and an order-independent fingerprint of the key set (hash() is the same
    within this process, so fingerprints of different files can be compared)."""
    seen, dups, n, digest = set(), 0, 0, 0
    for key in key_of(path):
        n += 1
        if key in seen:
            dups += 1
        else:
            seen.add(key)
            digest = (digest + hash(key)) & (2**64 - 1)
    return dict(n=n, dups=dups, digest=digest)
def csv_keys(path):
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        header = next(rd, [])
        if not all(k in header for k in KEY):
            raise ValueError(f"no key columns in header {header[:6]}")
        idx = [header.index(k) for k in KEY]
        for rec in rd:
            yield "\x1f".join(rec[i] for i in idx)
def ndjson_keys(path):
    import json
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                yield "\x1f".join(str(d[k]) for k in KEY)
scans = {}
files = (("kinetic_csv", "kinetic csv", "kinetic.csv", csv_keys), ("kinetic_ndjson", "kinetic ndjson", "kinetic.ndjson", ndjson_keys),
         ("kinetic_csv_p4", "kinetic csv P=4", "kinetic-p4.csv", csv_keys), ("python", "python", "python.csv", csv_keys),
         ("python_httpx4", "python httpx", "python-httpx.csv", csv_keys))
for run, name, file, key_of in files:
    if not ran(run):
        continue
    path = os.path.join(out, file)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        print(f"  {name:<16} no file  {verdict(name, False, f'no output file {path}')}")
        continue
    try:
        s = scans[name] = scan(path, key_of)
    except (ValueError, KeyError) as e:
        print(f"  {name:<16} unreadable: {e}  {verdict(name, False, f'cannot read its keys: {e}')}")
        continue
    good = s["dups"] == 0 and s["n"] == count
    why = "%d rows (expected %d), %d duplicate keys" % (s["n"], count, s["dups"])
    print(f"  {name:<16} {s['n']} data rows (expected {count}), {s['dups']} duplicate keys  {verdict(name, good, why)}")
py_s = scans.get("python")
if py_s is None and any(name in scans for name in ("kinetic csv", "kinetic ndjson", "kinetic csv P=4", "python httpx")):
    print("  (no Python requests file: the key sets are not compared; RUNS must include python for that)")
for name in ("kinetic csv", "kinetic ndjson", "kinetic csv P=4", "python httpx"):
    s = scans.get(name)
    if s and py_s:
        same_n = s["n"] == py_s["n"]
        same_keys = s["digest"] == py_s["digest"] and s["dups"] == py_s["dups"]
        print(f"  {name} vs python: same row count {'yes' if same_n else 'NO'}, same key set {'yes' if same_keys else 'NO'}"
              f"  {verdict(name + ' vs python', same_n and same_keys, 'another row count or key set than the Python loop')}")
for name in ("curl_serial", "curl_parallel4", "curl_keyset"):
    r = rows.get(name)
    if ran(name) and "FAILED" not in r["note"]:
        print(f"  {labels[name]:<16} every page answered 200  "
              f"{verdict(labels[name], r['rows'] is not None, 'not every page answered 200 (see its .stdout)')}")
if missed:
    print("\nexport.sh: WRONG: " + "; ".join(missed))
    sys.exit(1)
EOF
echo
echo "files: $out/ (*.stderr: each run's messages; emulator.err: the server's)"
exit "$report_rc"
