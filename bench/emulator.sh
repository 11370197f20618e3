#!/usr/bin/env bash
# Emulator benchmark (prints figures; not a test):
#  1. generation time and database size at --scale (default 1,000,000 order lines);
#  2. requests/s and latency of GET .../Customers?$top=100&$filter=... under wrk, 32 connections, 20 s.
# Usage: bash bench/emulator.sh [SCALE] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
duration=${2:-20s}
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -q -p epicor-kinetic-cli
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== generation: --scale $scale"
start=$(date +%s.%N)
target/release/kinetic emulator --port 0 --scale "$scale" --db "$work/erp.db" >"$work/out" 2>"$work/err" & pid=$!
while [ ! -s "$work/out" ]; do
  kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
ready=$(date +%s.%N)
grep generated "$work/err" || true
printf 'start-up to first line: %.1f s; database: %s\n' "$(echo "$ready - $start" | bc)" "$(du -h "$work/erp.db" | cut -f1)"

url=$(python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(d["url"]+"/"+d["instance"])' "$work/out")
auth=$(python3 -c 'import json,sys,base64; d=json.loads(open(sys.argv[1]).readline()); u=d["users"][0]; print(base64.b64encode((u["user"]+":"+u["password"]).encode()).decode())' "$work/out")
key=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["api_key"])' "$work/out")
path="/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers?\$top=100&\$filter=State%20eq%20'MN'%20and%20CreditLimit%20ge%201000"
echo "== wrk: 32 connections, $duration, GET ${path}"
curl -sS -o /dev/null -H "Authorization: Basic $auth" -H "x-api-key: $key" \
  -w 'one request: HTTP %{http_code}, %{size_download} bytes, %{time_total} s\n' "$url$path"
wrk -t2 -c32 -d"$duration" --latency -H "Authorization: Basic $auth" -H "x-api-key: $key" "$url$path" | tee "$work/wrk"
non2xx=$(grep -E "Non-2xx|Socket errors" "$work/wrk" || true)
echo "errors: ${non2xx:-none}"
