#!/usr/bin/env bash
# The clients PostgreSQL users run, against `kinetic serve` in front of the emulator: psycopg 3,
# SQLAlchemy 2 and pandas (pytest), node-postgres (node's test runner) and pgJDBC (a small Java
# program compiled here). Every answer is compared with the emulator's SQLite file or with the
# server's system tables. Called by scripts/test.sh; runs alone too.
#
# Installs what it needs by itself, each again only when its list changes: the Python packages
# (requirements.txt) into target/clients-venv, node-postgres (package-lock.json, npm ci) into
# node_modules here, and pgJDBC from Debian's package libpostgresql-jdbc-java (apt-get, as root
# or with sudo) when /usr/share/java/postgresql.jar is missing. Needs python3 (with venv), node
# 20+ with npm, and a JDK (javac, java). KINETIC_BIN names the kinetic binary; by default
# target/debug/kinetic (built with `cargo build -p epicor-kinetic-cli` when missing).
#
# Starts the emulator (port 0, with the users of emulator.toml) and two servers in front of it:
# one whose connection names Company=EPIC06, as the README's example, and one that names no
# company (each user works in their own: the two-users test). Everything stays on 127.0.0.1;
# every client has a connect and statement timeout and each suite a time limit, so nothing hangs.
# Prints `clients: N passed, M failed` last (N and M count the three suites); exits non-zero on a
# failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

for tool in python3 node npm javac java; do
  if ! command -v "$tool" > /dev/null; then
    echo "error: the client tests need $tool (python3 with venv, node 20+ with npm, a JDK)" >&2
    exit 1
  fi
done
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "error: the client tests need node 20 or later (found $(node --version))" >&2
  exit 1
fi

# Python: psycopg, SQLAlchemy, pandas, pytest.
venv="$root/target/clients-venv"
stamp="$venv/.requirements.sha256"
want="$( (cat "$here/requirements.txt"; python3 --version 2>&1) | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
  echo "clients: making the Python environment $venv"
  rm -rf "$venv"
  mkdir -p "$root/target"
  if ! python3 -m venv "$venv"; then
    echo "error: 'python3 -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi

# node-postgres, pinned by package-lock.json.
stamp="$here/node_modules/.package-lock.sha256"
want="$( (cat "$here/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$here/node_modules/pg/package.json" ] || [ "$(cat "$stamp" 2> /dev/null)" != "$want" ]; then
  echo "clients: installing node-postgres (npm ci) into $here/node_modules"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# pgJDBC, from Debian's package.
jar=/usr/share/java/postgresql.jar
if [ ! -f "$jar" ]; then
  if ! command -v apt-get > /dev/null; then
    echo "error: pgJDBC ($jar) is missing and this machine has no apt-get to install libpostgresql-jdbc-java" >&2
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null; then
      as_root=(sudo -n)
    else
      echo "error: installing libpostgresql-jdbc-java (pgJDBC) needs root (or sudo)" >&2
      exit 1
    fi
  fi
  echo "clients: installing pgJDBC (apt-get install libpostgresql-jdbc-java)"
  "${as_root[@]}" apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    libpostgresql-jdbc-java > /dev/null
fi

if [ -z "${KINETIC_BIN:-}" ]; then
  KINETIC_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/kinetic"
  if [ ! -x "$KINETIC_BIN" ]; then
    cargo build -p epicor-kinetic-cli --quiet
  fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/kinetic-clients.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2> /dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The first line a server prints (its start-up JSON), once it is there; the server's errors if
# it stopped first.
first_line() {
  local out=$1 pid=$2 what=$3
  for _ in $(seq 1 300); do
    if [ -s "$out" ] && [ "$(wc -l < "$out")" -ge 1 ]; then
      head -n 1 "$out"
      return 0
    fi
    if ! kill -0 "$pid" 2> /dev/null; then break; fi
    sleep 0.1
  done
  echo "error: $what did not start; its output:" >&2
  cat "${out%.out}.err" >&2
  return 1
}
field() {
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

"$KINETIC_BIN" emulator --port 0 --scale 300 --config "$here/emulator.toml" \
  > "$work/emulator.out" 2> "$work/emulator.err" &
pids+=($!)
emulator="$(first_line "$work/emulator.out" "${pids[-1]}" "the emulator")"
url="$(field "$emulator" url)"
db="$(field "$emulator" db)"

"$KINETIC_BIN" serve --listen 127.0.0.1:0 -c "URL=$url;ERPInstance=Kinetic;Company=EPIC06" \
  > "$work/serve.out" 2> "$work/serve.err" &
pids+=($!)
listen="$(field "$(first_line "$work/serve.out" "${pids[-1]}" "kinetic serve")" listen)"
"$KINETIC_BIN" serve --listen 127.0.0.1:0 -c "URL=$url;ERPInstance=Kinetic" \
  > "$work/own.out" 2> "$work/own.err" &
pids+=($!)
own="$(field "$(first_line "$work/own.out" "${pids[-1]}" "kinetic serve (no company)")" listen)"

export KINETIC_PG_PORT="${listen##*:}"
export KINETIC_PG_OWN_COMPANY_PORT="${own##*:}"
export KINETIC_EMULATOR_DB="$db"
echo "clients: emulator at $url, kinetic serve on $listen (Company=EPIC06) and $own (each user's company)"

# What node and Java compare with: SQLite's rows, the decimal written to its column's scale (3).
export KINETIC_EXPECTED="$work/expected.json"
"$venv/bin/python" - "$db" "$KINETIC_EXPECTED" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
db.create_collation("EPICOR_CI", lambda a, b: (a.casefold() > b.casefold()) - (a.casefold() < b.casefold()))
rows = db.execute(
    "SELECT CustNum, CustID, Name, CreditLimit FROM Customer WHERE Company = 'EPIC06' "
    "AND CustNum <= 10 ORDER BY CustNum"
).fetchall()
customers = [[n, i.rstrip(" "), name, f"{limit:.3f}"] for n, i, name, limit in rows]
five = next(c for c in customers if c[0] == 5)
json.dump({"upTo": 10, "customers": customers, "five": five}, open(sys.argv[2], "w"))
PY
expected() {
  "$venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["five"][int(sys.argv[2])])' \
    "$KINETIC_EXPECTED" "$1"
}
expected_name="$(expected 2)"
expected_limit="$(expected 3)"

passed=0
failed=0
suite() {
  local name=$1
  shift
  echo "== clients: $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "clients: $name FAILED"
  fi
}

# A skipped or expected-to-fail test is not a pass (-rsx lists them; the check below fails).
pytest_run() {
  local log="$work/pytest.txt" status=0
  timeout 300 "$venv/bin/python" -m pytest -q -rfEsx -p no:cacheprovider "$here" | tee "$log" \
    || status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    return "$status"
  fi
  if tail -n 3 "$log" | grep -Eq '[0-9]+ (skipped|xfailed|xpassed)'; then
    echo "error: pytest skipped tests or expected failures (listed above); every test must run and pass" >&2
    return 1
  fi
}
suite "psycopg, SQLAlchemy, pandas (pytest)" pytest_run
suite "node-postgres (node --test)" \
  timeout 120 node --test --test-timeout=60000 "$here/node_pg.test.mjs"
jdbc_run() {
  mkdir -p "$root/target/clients-java"
  javac -d "$root/target/clients-java" -cp "$jar" "$here/java/ClientsJdbc.java"
  timeout 120 java -cp "$root/target/clients-java:$jar" \
    -Dexpected.custnum=5 -Dexpected.name="$expected_name" -Dexpected.creditlimit="$expected_limit" \
    ClientsJdbc "$KINETIC_PG_PORT"
}
jdbc_version="$("$venv/bin/python" -c 'import sys, zipfile
m = zipfile.ZipFile(sys.argv[1]).read("META-INF/MANIFEST.MF").decode()
print(next((l.split(":", 1)[1].strip() for l in m.splitlines() if l.startswith("Bundle-Version:")), ""))' "$jar")"
suite "pgJDBC $jdbc_version" jdbc_run

if [ "$failed" -ne 0 ]; then
  echo "clients: the servers' logs:"
  sed 's/^/  /' "$work/serve.err" "$work/own.err" | tail -n 40
fi
echo "clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
