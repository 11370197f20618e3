#!/usr/bin/env bash
# The README's first command: builds the `kinetic` binary and runs `kinetic demo`, which starts the
# embedded Epicor emulator in process and shows the connector against it (every authentication
# scheme, a query, an export with its progress bar, a BAQ, a Function), then stops.
# Usage: bash scripts/demo.sh [--scale N]   (same as: cargo run --release -p epicor-kinetic-cli -- demo)
set -euo pipefail
cd "$(dirname "$0")/.."
# KINETIC_DEMO_PROFILE=debug reuses the test build (scripts/test.sh runs the demo that way): the
# binary `cargo test --workspace` builds, with the same features, so that nothing (DataFusion above
# all) is compiled a second time with another feature set.
if [ "${KINETIC_DEMO_PROFILE:-release}" = debug ]; then
  cargo test --workspace --no-run -q 2>/dev/null || cargo test --workspace --no-run
  exec "${CARGO_TARGET_DIR:-target}/debug/kinetic" demo "$@"
else
  exec cargo run --release -q -p epicor-kinetic-cli -- demo "$@"
fi
