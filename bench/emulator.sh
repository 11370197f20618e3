#!/usr/bin/env bash
# Emulator benchmark (prints figures; not a test):
#  1. generation time and database size at --scale (default 1,000,000 order lines);
#  2. requests/s and latency of a filtered read, GET .../Customers?$top=100&$filter=..., under wrk
#     (32 connections, DURATION each, default 20 s) for each scheme: Basic (user and password on every
#     call), an Epicor token (TokenResource.svc) and an Azure AD token (client credentials from the
#     emulator's identity provider), each with the API key on v2; over plain HTTP and over HTTPS
#     (--tls; wrk's connections are kept alive, so the TLS handshakes are the 32 at the start).
# Exits 1 when a scheme's first answer is not 200 with rows that match the filter, or when wrk saw
# any non-2xx answer or socket error (connect, read, write, timeout), or no request completed.
# Usage: bash bench/emulator.sh [SCALE] [DURATION]
#        KINETIC_BIN=path: that binary, no release build (the test command's short form).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
duration=${2:-20s}
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
bin=${KINETIC_BIN:-target/release/kinetic}
[ -n "${KINETIC_BIN:-}" ] || cargo build --release -q -p epicor-kinetic-cli
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS...: an emulator on the shared database; waits for its start-up line.
start() {
  local name=$1; shift
  TMPDIR="$work" "$bin" emulator --port 0 --scale "$scale" --db "$work/erp.db" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  while [ ! -s "$work/$name.out" ]; do
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/$name.err" >&2; exit 1; }
    sleep 0.05
  done
}

echo "== generation: --scale $scale"
t0=$(date +%s%N)
start plain
t1=$(date +%s%N)
grep generated "$work/plain.err" || true
printf 'start-up to first line: %.1f s; database: %s\n' "$(( (t1 - t0) / 1000000 ))e-3" "$(du -h "$work/erp.db" | cut -f1)"
start tls --tls --tls-cert-out "$work/ca.pem"
echo "machine: $(nproc) CPUs (wrk and the emulator share them), load average $(cut -d' ' -f1-3 /proc/loadavg)"

path="/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers?\$top=100&\$filter=State%20eq%20'MN'%20and%20CreditLimit%20ge%201000"
printf '%-8s %-14s %10s %9s %9s %9s  %s\n' transport scheme "req/s" "p50 ms" "p99 ms" "max ms" errors
failed=()
for transport in plain tls; do
  # The credentials of each scheme, from the start-up line (python3: always here).
  python3 - "$work/$transport.out" "$work/$transport.creds" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
u = d["users"][0]
cs = dict(p.split("=", 1) for p in d["connection_strings"]["azuread_client_secret"].split(";"))
with open(sys.argv[2], "w") as f:
    f.write("\n".join([d["url"] + "/" + d["instance"], u["user"], u["password"], d["api_key"],
                       cs["OAuthAuthority"] + "/" + cs["AzureTenant"] + "/oauth2/v2.0/token",
                       cs["OAuthClientId"], cs["OAuthClientSecret"], cs["Scope"]]) + "\n")
PY
  { read -r base; read -r user; read -r password; read -r key; read -r idp_token; read -r client; read -r secret; read -r scope; } <"$work/$transport.creds"
  curl_tls=(); [ "$transport" = tls ] && curl_tls=(--cacert "$work/ca.pem")
  basic="Basic $(printf '%s:%s' "$user" "$password" | base64 -w0)"
  epicor=$(curl -sS --fail "${curl_tls[@]}" -X POST -H "Accept: application/json" -H "Authorization: $basic" "$base/TokenResource.svc/" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessToken"])')
  azure=$(curl -sS --fail "${curl_tls[@]}" --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$client" --data-urlencode "client_secret=$secret" \
    --data-urlencode "scope=$scope" "$idp_token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  for scheme in basic epicor_token azure_ad_token; do
    case $scheme in
      basic) auth=$basic ;;
      epicor_token) auth="Bearer $epicor" ;;
      azure_ad_token) auth="Bearer $azure" ;;
    esac
    code=$(curl -sS -o "$work/answer.json" -w '%{http_code}' "${curl_tls[@]}" -H "Authorization: $auth" -H "x-api-key: $key" "$base$path")
    [ "$code" = 200 ] || { echo "$transport $scheme: one request answered $code, not 200" >&2; exit 1; }
    # The answer itself: 1 to 100 customers, each in MN with a credit limit of at least 1000.
    python3 - "$work/answer.json" "$transport $scheme" <<'PY' || exit 1
import decimal, json, sys
rows = json.load(open(sys.argv[1]))["value"]
bad = [r for r in rows if r["State"] != "MN" or decimal.Decimal(str(r["CreditLimit"])) < 1000]
if not rows or len(rows) > 100 or bad:
    sys.exit(f"{sys.argv[2]}: the filtered read answered {len(rows)} rows (1 to 100 expected), "
             f"{len(bad)} outside State eq 'MN' and CreditLimit ge 1000")
PY
    wrk_rc=0
    wrk -t2 -c32 -d"$duration" --latency -H "Authorization: $auth" -H "x-api-key: $key" "$base$path" >"$work/wrk" 2>&1 || wrk_rc=$?
    [ "$wrk_rc" -eq 0 ] || { cat "$work/wrk" >&2; failed+=("$transport $scheme: wrk exited $wrk_rc"); continue; }
    python3 - "$work/wrk" "$transport" "$scheme" <<'PY' || failed+=("$transport $scheme: wrk saw errors (above)")
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + re.escape(label) + r"\s+([\d.]+)(us|ms|s)\b", text, re.M)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
mx = re.search(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", text, re.M)
mx = float(mx.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[mx.group(2)] if mx else float("nan")
errors = [l.strip() for l in text.splitlines() if "Non-2xx" in l or "Socket errors" in l]
print(f"{sys.argv[2]:<8} {sys.argv[3]:<14} {float(rps.group(1)) if rps else 0:>10,.0f} {ms('50%'):>9.2f} "
      f"{ms('99%'):>9.2f} {mx:>9.2f}  {'; '.join(errors) or 'none'}")
# The verdict: no non-2xx answer, no socket error of any kind, and requests done. (wrk prints the
# "Non-2xx or 3xx responses" and "Socket errors" lines only when there are some; the counts are
# read anyway, so a line with zeros passes.)
done = re.search(r"^\s*(\d+) requests in ", text, re.M)
non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
sock = re.search(r"Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
why = []
if not done or int(done.group(1)) == 0 or not rps:
    why.append("no completed request in wrk's output")
if non2xx and int(non2xx.group(1)) > 0:
    why.append(f"{non2xx.group(1)} non-2xx answers")
if sock and any(int(x) > 0 for x in sock.groups()):
    why.append("socket errors (" + sock.group(0) + ")")
if "Socket errors" in text and not sock or "Non-2xx" in text and not non2xx:
    why.append("an error line of wrk's that this script cannot read")
if why:
    print(f"  {sys.argv[2]} {sys.argv[3]}: WRONG: {'; '.join(why)}")
    sys.exit(1)
PY
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "emulator.sh: WRONG:"; printf '  %s\n' "${failed[@]}"
  exit 1
fi
