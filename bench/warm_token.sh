#!/usr/bin/env bash
# A warm `kinetic token` against MSAL for Python with a persisted SerializableTokenCache doing the
# same (prints figures; not a test): client credentials with a secret against the emulator's
# identity provider over TLS; one cold run each to fill the caches, then N warm runs, each a new
# process, timed from start to exit; the median and the requests the server saw per warm run.
# MSAL is the interop test's (tests/interop/msal: its venv is made if missing).
# Usage: bash bench/warm_token.sh [N]   (default 10); KINETIC_BIN=path: that binary, no release build.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
bin="${KINETIC_BIN:-target/release/kinetic}"
[ -n "${KINETIC_BIN:-}" ] || cargo build --release -q -p epicor-kinetic-cli
venv=target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  KINETIC_BIN="$bin" bash tests/interop/msal/run.sh >/dev/null 2>&1 || true
fi
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" emulator --port 0 --scale 200 --tls --tls-cert-out "$work/ca.pem" >"$work/out" 2>"$work/err" & pid=$!
while [ "$(wc -l <"$work/out")" -lt 1 ]; do
  kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
cat > "$work/msal_token.py" <<'PY'
import json, os, sys
import msal
info = json.loads(open(sys.argv[1]).readline())
cache_path, ca = sys.argv[2], sys.argv[3]
idp = info["idp"]
daemon = idp["apps"]["daemon"]
server = idp["apps"]["epicor_server"]
cache = msal.SerializableTokenCache()
if os.path.exists(cache_path):
    cache.deserialize(open(cache_path).read())
app = msal.ConfidentialClientApplication(
    daemon["client_id"], client_credential=daemon["client_secret"], authority=idp["authority"],
    validate_authority=False, instance_discovery=False, token_cache=cache, verify=ca)
result = app.acquire_token_for_client(scopes=[f"api://{server['client_id']}/.default"])
if cache.has_state_changed:
    with open(cache_path, "w") as f:
        f.write(cache.serialize())
if "access_token" not in result:
    sys.exit(f"msal: {result.get('error')}: {result.get('error_description')}")
print(result["access_token"][:12], result.get("token_source", "?"))
PY
cs=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["connection_strings"]["azuread_client_secret"])' "$work/out")
cs="$cs;OAuthSettingsLocation=$work/kinetic-tokens.bin;OAuthSettingsKey=0000000000000000000000000000000000000000000000000000000000000001"
admin() { curl -sS --cacert "$work/ca.pem" "$1"; }
runs=0
time_runs() { # label, command... (the median goes to $work/median-1, -2, ...)
  local label=$1; shift
  "$@" >/dev/null  # cold: fills the cache
  : >"$work/times"
  for _ in $(seq "$n"); do
    python3 - "$work/times" "$@" <<'PY'
import subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
open(sys.argv[1], "a").write(f"{(time.perf_counter() - t) * 1000}\n")
PY
  done
  python3 - "$label" "$work/times" <<'PY'
import statistics, sys
t = sorted(float(x) for x in open(sys.argv[2]))
print(f"{sys.argv[1]}: median {statistics.median(t):.1f} ms, min {t[0]:.1f}, max {t[-1]:.1f} (n={len(t)})")
PY
  runs=$((runs + 1))
  python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in open(sys.argv[1])))' "$work/times" >"$work/median-$runs"
}
time_runs "kinetic token (warm, encrypted token file)" "$bin" token -c "$cs"
time_runs "MSAL Python acquire_token_for_client (warm, SerializableTokenCache file)" \
  env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE "$venv/bin/python" "$work/msal_token.py" "$work/out" "$work/msal-cache.json" "$work/ca.pem"
python3 - "$work/median-1" "$work/median-2" <<'PY'
import sys
k, m = (float(open(p).read()) for p in sys.argv[1:3])
print(f"MSAL / kinetic: {m / k:.1f}x (target: 20x)  {'ok' if m / k >= 20 else 'MISSED'}")
PY
# What each warm run asks the server: one of each, logged at -v.
echo "kinetic token, warm, requests it sent (from its -v log):"
sent=$("$bin" -v token -c "$cs" 2>&1 >/dev/null | grep -c -- ' -> ' || true)
echo "  $sent"
