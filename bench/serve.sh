#!/usr/bin/env bash
# kinetic serve under load and its memory (prints figures; not a test): SESSIONS PostgreSQL sessions
# (tokio-postgres, the serve_load example) run a mix of queries for SECONDS against `kinetic serve`
# in front of the emulator: statements/s, p50/p99 and errors (must be 0; every answer's row count is
# checked), beside the same queries through the SQL layer in process (as `kinetic sql` runs them);
# then the gateway's memory: its RSS before any client, with SESSIONS idle sessions signed in (per
# session), and its peak while psql streams every order line (SCALE of them) through it (bounded:
# the rows stream batch by batch, never gathered).
# Usage: [KINETIC_BIN=path] bash bench/serve.sh [SCALE] [SESSIONS] [SECONDS]
#   defaults 1,000,000 order lines, 50 sessions, 60 s (the short form: bench/run.sh --short).
# Needs psql (scripts/system-packages.sh installs postgresql-client) and the serve_load example
# (built by `cargo build --workspace --all-targets`, or here).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
scale=${1:-1000000}
sessions=${2:-50}
seconds=${3:-60}
for n in "$scale" "$sessions" "$seconds"; do
  case $n in '' | *[!0-9]*) echo "usage: bash bench/serve.sh [SCALE] [SESSIONS] [SECONDS]" >&2; exit 2 ;; esac
done
bin=${KINETIC_BIN:-${CARGO_TARGET_DIR:-target}/release/kinetic}
profile=release
[ -n "${KINETIC_BIN:-}" ] && case $KINETIC_BIN in *debug*) profile=debug ;; esac
load=${CARGO_TARGET_DIR:-target}/$profile/examples/serve_load
out=target/bench
mkdir -p "$out"
command -v psql >/dev/null || { echo "bench/serve.sh needs psql (bash scripts/system-packages.sh)" >&2; exit 1; }
if [ -z "${KINETIC_BIN:-}" ]; then
  echo "== cargo build --release -p epicor-kinetic-cli"
  cargo build --release -q -p epicor-kinetic-cli
fi
if [ ! -x "$load" ]; then
  echo "== building the serve_load example ($profile)"
  if [ "$profile" = release ]; then cargo build --release -q -p epicor-kinetic-serve --example serve_load
  else cargo build -q -p epicor-kinetic-serve --example serve_load; fi
fi

serve_one_company "$bin" "$out" "$scale" 1000 serve-emulator
emulator_pid=$pid
url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$out/serve-emulator.out")
conn=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["connection_strings"]["basic"])' "$out/serve-emulator.out")

: >"$out/serve.out"
"$bin" serve --listen 127.0.0.1:0 --max-sessions $((sessions + 8)) \
  -c "URL=$url;ERPInstance=Kinetic;Company=EPIC06" >"$out/serve.out" 2>"$out/serve.err" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true; kill $emulator_pid 2>/dev/null || true' EXIT
while [ ! -s "$out/serve.out" ]; do
  kill -0 $serve_pid 2>/dev/null || { cat "$out/serve.err" >&2; exit 1; }
  sleep 0.05
done
port=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listen"].rsplit(":",1)[1])' "$out/serve.out")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$serve_pid/status"; }

wrong=()
echo
echo "== 1. $sessions sessions, mixed queries, ${seconds} s"
rss_before=$(rss)
"$load" "$port" manager 'Epicor123!' "$sessions" "$seconds" "$conn" | tee "$out/serve-load.txt" ||
  wrong+=("the load run had errors (above)")

echo
echo "== 2. memory: idle sessions, and one result of $scale rows streamed through psql"
# SESSIONS idle psql sessions, each signed in and waiting.
idle=()
for _ in $(seq "$sessions"); do
  PGPASSWORD='Epicor123!' psql "host=127.0.0.1 port=$port dbname=kinetic user=manager" \
    -c 'SELECT 1' -f /dev/stdin >/dev/null 2>&1 < <(sleep 30) &
  idle+=($!)
done
sleep 3
rss_idle=$(rss)
for p in "${idle[@]}"; do kill "$p" 2>/dev/null || true; done
wait "${idle[@]}" 2>/dev/null || true
# The peak from here on: the streamed result's (Linux resets VmHWM on writing 5 to clear_refs).
echo 5 >"/proc/$serve_pid/clear_refs" 2>/dev/null || echo "(the peak below includes the load run: clear_refs refused)"
lines=$(PGPASSWORD='Epicor123!' psql "host=127.0.0.1 port=$port dbname=kinetic user=manager" \
  --no-align --tuples-only -c 'SELECT OrderNum, OrderLine, PartNum, OrderQty, UnitPrice FROM OrderDtls' | wc -l) ||
  wrong+=("psql could not stream the order lines")
peak=$(hwm)
[ "$lines" -eq "$scale" ] || wrong+=("psql received $lines order lines, not $scale")
python3 - "$rss_before" "$rss_idle" "$sessions" "$peak" "$lines" <<'PY'
import sys
before, idle, n, peak, lines = (int(x) for x in sys.argv[1:])
print(f"serve: RSS before any client {before / 1024:.1f} MiB")
print(f"serve: {n} idle sessions: RSS {idle / 1024:.1f} MiB, {(idle - before) / max(n, 1):,.0f} KiB per session")
print(f"serve: peak RSS while psql read {lines:,} rows through it: {peak / 1024:.1f} MiB")
PY
if [ ${#wrong[@]} -gt 0 ]; then
  printf 'serve.sh: %s\n' "${wrong[@]}" >&2
  exit 1
fi
