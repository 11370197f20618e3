#!/usr/bin/env bash
# Runs the MSAL interoperability test: Microsoft's MSAL for Python against the emulator's identity
# provider over TLS. Keeps its Python packages in a virtual environment under target/interop-venv,
# made again only when requirements.txt (or the Python) changes. Needs python3 (3.8+, with venv) and
# PyPI the first time. KINETIC_BIN names the emulator binary; by default target/debug/kinetic, built here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
venv="$root/target/interop-venv"
stamp="$venv/.requirements.sha256"
want="$( (cat "$here/requirements.txt"; "$python" --version 2>&1) | sha256sum | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "msal: making the Python environment $venv"
  rm -rf "$venv"
  mkdir -p "$root/target"
  if ! "$python" -m venv "$venv"; then
    echo "error: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi

if [ -z "${KINETIC_BIN:-}" ]; then
  # The binary of the test build (cheap when scripts/test.sh has just built it): the same feature
  # set as `cargo test --workspace`, so nothing is compiled twice.
  (cd "$root" && cargo test --workspace --no-run --quiet)
  export KINETIC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kinetic"
fi

exec "$venv/bin/python" "$here/test_msal.py"
