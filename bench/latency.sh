#!/usr/bin/env bash
# HTTPS latency of small answers (prints figures; not a test): N curl requests, each a new
# connection with a TLS handshake, to the identity provider's discovery document, with TCP_NODELAY
# (the default) and without it (KINETIC_EMULATOR_TCP_NODELAY=0). Without it, a small answer
# written in two pieces waits for the client's delayed ACK: stalls of ~40 ms on some requests.
# Exits 1 unless every request answered 200 with the discovery document (its issuer); the
# latencies themselves are printed, not judged.
# Usage: bash bench/latency.sh [N]   (default 60); KINETIC_BIN=path: that binary, no release build.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-60}
case $n in '' | *[!0-9]* | 0) echo "usage: bash bench/latency.sh [N] (N >= 1)" >&2; exit 2 ;; esac
bin=${KINETIC_BIN:-target/release/kinetic}
[ -n "${KINETIC_BIN:-}" ] || cargo build --release -q -p epicor-kinetic-cli
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
run() {
  local label=$1 nodelay=$2
  : >"$work/out" # (not the previous run's start-up line)
  KINETIC_EMULATOR_TCP_NODELAY=$nodelay "$bin" emulator --port 0 --scale 200 --tls \
    --tls-cert-out "$work/ca.pem" >"$work/out" 2>"$work/err" & pid=$!
  while [ "$(cat "$work/out" 2>/dev/null | wc -l)" -lt 1 ]; do # (the file may not exist yet)
    kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.05
  done
  local url tenant
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$work/out")
  tenant=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["idp"]["tenant"])' "$work/out")
  : >"$work/times"
  local i
  rm -f "$work"/doc-*.json
  for i in $(seq "$n"); do
    curl -sS -o "$work/doc-$i.json" --cacert "$work/ca.pem" -w '%{http_code} %{time_total}\n' \
      "$url/$tenant/v2.0/.well-known/openid-configuration" >>"$work/times" ||
      { echo "latency.sh ($label): request $i failed" >&2; exit 1; }
  done
  python3 - "$label" "$work/times" "$n" "$work" "$url/$tenant/" <<'PY'
import json, sys
label, n, work, issuer = sys.argv[1], int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = [l.split() for l in open(sys.argv[2])]
bad = [l for l in lines if l[0] != "200"]
if bad or len(lines) != n:
    sys.exit(f"latency.sh ({label}): {len(lines)} answers of {n}, {len(bad)} not 200 (first: {bad[:1]})")
for i in range(1, n + 1):
    try:
        ok = json.load(open(f"{work}/doc-{i}.json")).get("issuer", "").startswith(issuer)
    except ValueError:
        ok = False
    if not ok:
        sys.exit(f"latency.sh ({label}): answer {i} is not the discovery document (no issuer under {issuer})")
t = sorted(float(x[1]) * 1000 for x in lines)
slow = sum(1 for x in t if x > 20)
print(f"{sys.argv[1]:<22} {len(t)} requests: p50 {t[len(t)//2]:.1f} ms, p90 {t[int(len(t)*0.9)]:.1f} ms, max {t[-1]:.1f} ms, over 20 ms: {slow}")
PY
  kill $pid; wait $pid 2>/dev/null || true
}
run "TCP_NODELAY on" 1
run "TCP_NODELAY off" 0
