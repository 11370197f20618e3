#!/usr/bin/env bash
# The Python module's tests (crates/kinetic-py/tests, pytest), on the workspace's debug build.
#
# The extension module is the cdylib `cargo build --workspace --all-targets` already made
# (target/debug/libepicor_kinetic_py.so): building it again through maturin would resolve the
# workspace's features for one package and compile DataFusion a second time. So the module is
# installed into a virtual environment (target/py-venv) the way `maturin develop` installs a
# mixed project, by hand: the package directory on sys.path (a .pth file), the library linked
# in as epicor_kinetic/_internal.abi3.so, and the distribution's metadata (entry points: the
# SQLAlchemy dialect) written by maturin itself from pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=target/py-venv
lib=target/debug/libepicor_kinetic_py.so
pkg=crates/kinetic-py/python

if [ ! -f "$lib" ]; then
  echo "== building the extension module (cargo build --workspace --all-targets)"
  cargo build --workspace --all-targets --quiet
fi

stamp=$venv/.requirements
if [ ! -x "$venv/bin/python" ] || ! cmp -s crates/kinetic-py/requirements-test.txt "$stamp"; then
  echo "== virtual environment $venv (pip install -r crates/kinetic-py/requirements-test.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r crates/kinetic-py/requirements-test.txt
  cp crates/kinetic-py/requirements-test.txt "$stamp"
fi

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sf "$root/$lib" "$pkg/epicor_kinetic/_internal.abi3.so"
echo "$root/$pkg" > "$site/epicor_kinetic_dev.pth"
rm -rf "$site"/epicor_kinetic-*.dist-info
(cd crates/kinetic-py && "$root/$venv/bin/maturin" pep517 write-dist-info --metadata-directory "$site" >/dev/null 2>&1)

echo "== pytest crates/kinetic-py/tests"
# A skipped or expected-to-fail test is not a pass: the run fails if any was (-rsx lists them).
log=target/pytest-summary.txt
mkdir -p target
set +e
"$venv/bin/python" -m pytest -q -rsx -p no:cacheprovider crates/kinetic-py/tests "$@" | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if tail -n 3 "$log" | grep -Eq '[0-9]+ (skipped|xfailed|xpassed)'; then
  echo "error: pytest skipped tests or expected failures (listed above); every test must run and pass" >&2
  exit 1
fi
