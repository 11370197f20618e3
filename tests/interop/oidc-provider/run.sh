#!/usr/bin/env bash
# Runs the node-oidc-provider interoperability test: the `kinetic` command (client credentials,
# browser sign-in with PKCE, CData's OAuth procedures, device code, and the errors) against
# node-oidc-provider, an OpenID Certified provider, over TLS on 127.0.0.1 (see test.mjs).
# Needs node (20+, with npm) and openssl; npm's registry the first time: the provider, pinned in
# package-lock.json, is installed with `npm ci` into node_modules here, again only when the lock
# file (or node) changes. Everything else stays on loopback, on ports the OS picks, with a
# throwaway CA made for the run. KINETIC_BIN names the kinetic binary; by default the debug build,
# built here. Prints `oidc-provider interop: N passed, M failed` last; exits non-zero on a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

for tool in node npm openssl; do
  if ! command -v "$tool" > /dev/null; then
    echo "error: oidc-provider interop needs $tool (node 20 or later with npm, and openssl)" >&2
    exit 1
  fi
done
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "error: oidc-provider interop needs node 20 or later (found $(node --version))" >&2
  exit 1
fi

stamp="$here/node_modules/.package-lock.sha256"
want="$( (cat "$here/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$here/node_modules/oidc-provider/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "oidc-provider: installing the provider (npm ci) into $here/node_modules"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

if [ -z "${KINETIC_BIN:-}" ]; then
  # The binary of the test build (cheap when scripts/test.sh has just built it): the same feature
  # set as `cargo test --workspace`, so nothing is compiled twice.
  (cd "$root" && cargo test --workspace --no-run --quiet)
  KINETIC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kinetic"
fi
export KINETIC_BIN

work="$(mktemp -d "${TMPDIR:-/tmp}/kinetic-oidc.XXXXXX")"
provider_pid=""
cleanup() {
  if [ -n "$provider_pid" ]; then
    kill "$provider_pid" 2> /dev/null || true
    wait "$provider_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A throwaway CA and a server certificate for 127.0.0.1 and localhost, signed by it.
(
  cd "$work"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=kinetic interop CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2> /dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.pem 2> /dev/null
  rm -f ca.key server.csr
)
OIDC_DAEMON_SECRET="$(openssl rand -hex 24)"
export OIDC_DAEMON_SECRET

OIDC_TLS_CERT="$work/server.pem" OIDC_TLS_KEY="$work/server.key" \
  node "$here/provider.mjs" > "$work/provider.out" 2> "$work/provider.err" &
provider_pid=$!
for _ in $(seq 1 100); do
  if [ -s "$work/provider.out" ] || ! kill -0 "$provider_pid" 2> /dev/null; then break; fi
  sleep 0.1
done
issuer="$(node -e 'try { console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]).issuer) } catch { }' "$work/provider.out")"
if [ -z "$issuer" ]; then
  echo "error: the provider did not start; its output:" >&2
  cat "$work/provider.err" >&2
  exit 1
fi
echo "oidc-provider: node-oidc-provider $(node -p 'require(process.argv[1]).version' "$here/node_modules/oidc-provider/package.json") at $issuer"

status=0
OIDC_ISSUER="$issuer" OIDC_CA="$work/ca.pem" OIDC_WORK="$work" NODE_EXTRA_CA_CERTS="$work/ca.pem" \
  node "$here/test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "oidc-provider: the provider's log (its development-mode warnings left out):"
  grep -v 'oidc-provider WARNING' "$work/provider.err" | sed 's/^/  /' || true
fi
exit "$status"
