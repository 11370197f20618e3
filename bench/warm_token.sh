#!/usr/bin/env bash
# A warm `kinetic token` against MSAL for Python with a persisted SerializableTokenCache doing the
# same (prints figures; not a test): client credentials with a secret against the emulator's
# identity provider over TLS; one cold run each to fill the caches, then N warm runs, each a new
# process, timed from start to exit; the median and the requests the server saw per warm run.
# MSAL is the interop test's (tests/interop/msal: its venv is made if missing).
# Exits 1 when a warm `kinetic token` sends any request: counted in its -v log (which must show
# the cold run's requests, so the count is known to work), by the identity provider's token count
# (GET /{tenant}/admin/stats: one token for kinetic's cold run, none for its warm runs, one for
# MSAL's cold run), and by one more warm run with the server stopped, which must still print the
# token. The speed ratio is a target: printed only.
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
while [ "$(cat "$work/out" 2>/dev/null | wc -l)" -lt 1 ]; do # (the file may not exist yet)
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
# Tokens the identity provider has issued by client credentials since it started (admin route,
# the demo administrator's Basic credentials).
tokens_issued() {
  python3 - "$work/out" "$work/ca.pem" <<'PY'
import base64, json, ssl, sys, urllib.request
info = json.loads(open(sys.argv[1]).readline())
u = info["users"][0]
req = urllib.request.Request(f"{info['url']}/{info['idp']['tenant']}/admin/stats", headers={
    "Authorization": "Basic " + base64.b64encode(f"{u['user']}:{u['password']}".encode()).decode()})
stats = json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sys.argv[2]), timeout=10))
print(stats["tokens_by_grant"].get("client_credentials", 0))
PY
}
wrong=()
# requests_in LOG: the HTTP calls a -v log shows ("METHOD URL -> STATUS in N ms").
requests_in() { grep -cE 'epicor_kinetic::http: [A-Z]+ [^ ]+ -> ' "$1" || true; }
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
# kinetic's cold run, logged: the count below must see its requests (discovery and the token).
"$bin" -v token -c "$cs" >/dev/null 2>"$work/cold.log" || { cat "$work/cold.log" >&2; echo "warm_token.sh: the cold kinetic token run failed" >&2; exit 1; }
cold=$(requests_in "$work/cold.log")
[ "$cold" -ge 2 ] || wrong+=("the cold run's -v log shows $cold requests, not the discovery and token requests: the count of the warm run's requests cannot be trusted")
[ "$(tokens_issued)" = 1 ] || wrong+=("after kinetic's cold run the identity provider has issued $(tokens_issued) tokens, not 1")
time_runs "kinetic token (warm, encrypted token file)" "$bin" token -c "$cs"
before_msal=$(tokens_issued)
[ "$before_msal" = 1 ] || wrong+=("kinetic's $n warm runs (and the untimed one before them) made the identity provider issue $((before_msal - 1)) tokens, not 0")
time_runs "MSAL Python acquire_token_for_client (warm, SerializableTokenCache file)" \
  env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE "$venv/bin/python" "$work/msal_token.py" "$work/out" "$work/msal-cache.json" "$work/ca.pem"
msal=$(( $(tokens_issued) - before_msal ))
[ "$msal" = 1 ] || wrong+=("MSAL's cold run and $((n + 1)) warm runs made the identity provider issue $msal tokens, not 1: its runs were not all warm")
python3 - "$work/median-1" "$work/median-2" <<'PY'
import sys
k, m = (float(open(p).read()) for p in sys.argv[1:3])
print(f"MSAL / kinetic: {m / k:.1f}x (target: 20x)  {'ok' if m / k >= 20 else 'MISSED'}")
PY
# What each warm run asks the server: one of each, logged at -v.
echo "kinetic token, warm, requests it sent (from its -v log):"
"$bin" -v token -c "$cs" >/dev/null 2>"$work/warm.log" || { cat "$work/warm.log" >&2; wrong+=("the logged warm run failed"); }
sent=$(requests_in "$work/warm.log")
echo "  $sent"
[ "$sent" = 0 ] || wrong+=("a warm run sent $sent requests (its -v log: $(grep -E ' -> ' "$work/warm.log" | sed 's/.*http: //' | paste -sd';' || true))")
# The same with nobody to answer: a warm run that needed the server would fail.
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
if token=$("$bin" token -c "$cs" 2>"$work/stopped.err") && [ -n "$token" ]; then
  echo "kinetic token, warm, with the server stopped: a token from the store, exit 0"
else
  cat "$work/stopped.err" >&2
  wrong+=("with the server stopped, a warm run printed no token or failed")
fi
if [ ${#wrong[@]} -gt 0 ]; then
  echo "warm_token.sh: WRONG:"; printf '  %s\n' "${wrong[@]}"
  exit 1
fi
