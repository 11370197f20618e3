#!/usr/bin/env bash
# Identity-provider flood (prints figures; not a test): N anonymous GET /authorize calls, each with a
# 2 KB state, and N POST /devicecode calls against the release emulator, then its resident memory
# (VmRSS now, VmHWM peak) before and after. Every store those calls grow is bounded in count and
# bytes, so the peak must level off however large N is.
# Usage: bash bench/idp_flood.sh [N]   (default 20000); KINETIC_BIN=path measures another build
# (e.g. an older commit's release binary) instead of building this tree's.
# Exits 1 unless every call answered 200 (the memory figures are printed, not judged).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
case $n in '' | *[!0-9]* | [0-3]) echo "usage: bash bench/idp_flood.sh [N] (N >= 4)" >&2; exit 2 ;; esac
[ -n "${KINETIC_BIN:-}" ] || cargo build --release -q -p epicor-kinetic-cli
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"${KINETIC_BIN:-target/release/kinetic}" emulator --port 0 --scale 200 >"$work/out" 2>"$work/err" & pid=$!
while [ "$(cat "$work/out" 2>/dev/null | wc -l)" -lt 1 ]; do # (the file may not exist yet)
  kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
python3 - "$work/out" "$pid" "$n" <<'PY'
import http.client, json, sys, time, urllib.parse
info = json.loads(open(sys.argv[1]).readline())
pid, n = sys.argv[2], int(sys.argv[3])
def mem():
    d = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    return int(d["VmRSS"].split()[0]) // 1024, int(d["VmHWM"].split()[0]) // 1024
url = urllib.parse.urlparse(info["url"])
tenant = info["idp"]["tenant"]
desktop = info["idp"]["apps"]["desktop"]["client_id"]
scope = info["idp"]["apps"]["epicor_server"]["scope"]
conn = http.client.HTTPConnection(url.hostname, url.port)
def call(method, path, body=None):
    headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse(); r.read()
    return r.status
call("GET", f"/{tenant}/v2.0/.well-known/openid-configuration")
call("GET", f"/{tenant}/discovery/v2.0/keys")  # the provider's users and keys are made on first use
print(f"after start-up: RSS {mem()[0]} MiB, peak {mem()[1]} MiB")
q = urllib.parse.urlencode({"client_id": desktop, "response_type": "code", "redirect_uri": "http://localhost:1",
                            "scope": scope, "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                            "code_challenge_method": "S256"})
form = urllib.parse.urlencode({"client_id": desktop, "scope": scope})
started = time.time(); bad = 0
for i in range(n):
    state = "s" * 2000 + str(i)
    bad += call("GET", f"/{tenant}/oauth2/v2.0/authorize?{q}&state={state}") != 200
    bad += call("POST", f"/{tenant}/oauth2/v2.0/devicecode", form) != 200
    if (i + 1) % (n // 4) == 0:
        rss, peak = mem()
        print(f"after {i + 1:>6} /authorize + {i + 1:>6} /devicecode: RSS {rss} MiB, peak {peak} MiB")
elapsed = time.time() - started
print(f"{2 * n} calls in {elapsed:.1f} s ({2 * n / elapsed:.0f}/s), {bad} not 200")
if bad:
    sys.exit(f"idp_flood.sh: WRONG: {bad} of {2 * n} calls did not answer 200")
PY
