#!/usr/bin/env bash
# HTTPS latency of small answers (prints figures; not a test): N curl requests, each a new
# connection with a TLS handshake, to the identity provider's discovery document, with TCP_NODELAY
# (the default) and without it (KINETIC_EMULATOR_TCP_NODELAY=0). Without it, a small answer
# written in two pieces waits for the client's delayed ACK: stalls of ~40 ms on some requests.
# Usage: bash bench/latency.sh [N]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-60}
cargo build --release -q -p epicor-kinetic-cli
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
run() {
  local label=$1 nodelay=$2
  KINETIC_EMULATOR_TCP_NODELAY=$nodelay target/release/kinetic emulator --port 0 --scale 200 --tls \
    --tls-cert-out "$work/ca.pem" >"$work/out" 2>"$work/err" & pid=$!
  while [ "$(wc -l <"$work/out")" -lt 1 ]; do
    kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.05
  done
  local url tenant
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$work/out")
  tenant=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["idp"]["tenant"])' "$work/out")
  : >"$work/times"
  for _ in $(seq "$n"); do
    curl -sS -o /dev/null --cacert "$work/ca.pem" -w '%{time_total}\n' \
      "$url/$tenant/v2.0/.well-known/openid-configuration" >>"$work/times"
  done
  python3 - "$label" "$work/times" <<'PY'
import sys
t = sorted(float(x) * 1000 for x in open(sys.argv[2]))
slow = sum(1 for x in t if x > 20)
print(f"{sys.argv[1]:<22} {len(t)} requests: p50 {t[len(t)//2]:.1f} ms, p90 {t[int(len(t)*0.9)]:.1f} ms, max {t[-1]:.1f} ms, over 20 ms: {slow}")
PY
  kill $pid; wait $pid 2>/dev/null || true
}
run "TCP_NODELAY on" 1
run "TCP_NODELAY off" 0
