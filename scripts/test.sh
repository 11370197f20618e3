#!/usr/bin/env bash
# Runs every check and test of the workspace. Used by CI (.ci/run) and by developers alike.
# Needs the Rust toolchain (rustup, with rustfmt and clippy), python3 with venv and pip, node 20+
# with npm, and openssl: the MSAL interop test installs its Python packages into
# target/interop-venv by itself, the node-oidc-provider one its npm packages (npm ci) into
# tests/interop/oidc-provider/node_modules, the web app's browser test playwright-core into
# tests/webapp/node_modules, the Python module's tests theirs (pytest, pyarrow,
# pandas, polars, duckdb, SQLAlchemy, maturin) into target/py-venv; Redis and Chromium come from
# Debian's packages (scripts/system-packages.sh, apt-get as root or with sudo) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# The OData conformance cases live in ../shared beside the checkout; the tests fail without them.
if [ ! -f ../shared/conformance/odata-abnf/odata-abnf-testcases.json ]; then
  echo "error: ../shared/conformance/odata-abnf/odata-abnf-testcases.json is missing (shared/ must sit beside the checkout)" >&2
  exit 1
fi

# A full build and its tests take about 5 GB under target/ (more with incremental compilation):
# say so at once rather than fail an hour in with "No space left on device".
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
echo "== disk: $((free_kb / 1024 / 1024)) GB free where target/ goes"
if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "warning: under 6 GB free; the build may run out of space (cargo clean elsewhere, or free /tmp)" >&2
fi

echo "== system packages (redis-server, chromium)"
bash scripts/system-packages.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== module graphs (no new import cycle, no new source file over 1,000 lines)"
python3 scripts/module_graph.py --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build every crate and test (once: the demo, the interop and the Python tests use what is built here)"
# --all-targets builds what `cargo test` runs, with the same features, and the Python module's
# cdylib (target/debug/libepicor_kinetic_py.so) beside it: one DataFusion build for everything.
cargo build --workspace --all-targets --quiet

echo "== fuzzing (every cargo-fuzz target, 15 s each: no panic, no hang)"
bash fuzz/run.sh "${KINETIC_FUZZ_SECONDS:-15}"

echo "== OData conformance (the committee's grammar cases)"
cargo test --workspace --test conformance -- --nocapture 2>&1 | grep -E "^conformance:|FAILED|panicked" || true

echo "== the README's demo (kinetic demo, on the debug build)"
KINETIC_DEMO_PROFILE=debug bash scripts/demo.sh --scale 5000 > target/demo-output.txt 2>&1 || { cat target/demo-output.txt; exit 1; }
if grep -q FAILED target/demo-output.txt; then cat target/demo-output.txt; exit 1; fi
grep -c 'ok: ' target/demo-output.txt | sed 's/^/demo: authentication schemes that worked: /'

echo "== MSAL interop (Microsoft's client library against the emulator)"
bash tests/interop/msal/run.sh

echo "== node-oidc-provider interop (kinetic token/login/oauth against an OpenID Certified provider)"
bash tests/interop/oidc-provider/run.sh

echo "== schemathesis (an outside OpenAPI fuzzer) against the emulator's OpenAPI documents"
bash tests/schemathesis/run.sh "${KINETIC_SCHEMATHESIS_EXAMPLES:-10}"

echo "== the web application in a browser (examples/webapp: Chromium, Playwright, Redis, two instances)"
bash tests/webapp/run.sh

echo "== Python module (pytest in target/py-venv, against the emulator started from Python)"
bash scripts/python-tests.sh

echo "== PostgreSQL clients against kinetic serve (psycopg, SQLAlchemy, pandas, node-postgres, pgJDBC)"
bash tests/clients/run.sh

echo "== benchmarks, short form (every bench/ script on the debug build, small sizes: they run and their checks hold)"
bash bench/run.sh --short > target/bench-short.txt 2>&1 || { cat target/bench-short.txt; exit 1; }
grep -E "^bench:|^\(bench:" target/bench-short.txt

# Last, so that cargo's own summary lines close the run.
echo "== cargo test (every crate)"
cargo test --workspace
