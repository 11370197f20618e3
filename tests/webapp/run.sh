#!/usr/bin/env bash
# Runs examples/webapp end to end in a real browser (see e2e.mjs): Debian's Chromium driven by
# Playwright (playwright-core from npm, pinned in package-lock.json, installed with `npm ci` into
# node_modules here, again only when the lock file or node changes; no browser download), Redis
# from Debian's redis-server, the emulator and two instances of the web app, all on 127.0.0.1.
# KINETIC_BIN and WEBAPP_BIN name the binaries; by default the debug builds, built here. Screenshots
# go to target/webapp-e2e/. Prints `webapp e2e: N passed, M failed` last; exits non-zero on a failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

chromium="${CHROMIUM:-/usr/bin/chromium}"
for tool in node npm redis-server redis-cli "$chromium"; do
  if ! command -v "$tool" > /dev/null; then
    echo "error: the web app's browser test needs $tool (bash scripts/system-packages.sh installs Redis and Chromium)" >&2
    exit 1
  fi
done

stamp="$here/node_modules/.package-lock.sha256"
want="$( (cat "$here/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$here/node_modules/playwright-core/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "webapp e2e: installing playwright-core (npm ci) into $here/node_modules"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${KINETIC_BIN:-}" ] || [ -z "${WEBAPP_BIN:-}" ]; then
  # The test build's binaries (cheap when scripts/test.sh has just built them).
  (cd "$root" && cargo test --workspace --no-run --quiet)
fi
export KINETIC_BIN="${KINETIC_BIN:-$target/debug/kinetic}"
export WEBAPP_BIN="${WEBAPP_BIN:-$target/debug/kinetic-webapp}"
export CHROMIUM="$chromium"
export E2E_OUT="${E2E_OUT:-$target/webapp-e2e}"
rm -rf "$E2E_OUT"
exec node "$here/e2e.mjs"
