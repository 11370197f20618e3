#!/usr/bin/env bash
# Installs the system programs the tests start, when they are missing: Redis (the shared token
# store's tests and the web application's), Chromium (the web application's browser tests) and
# psql (`kinetic serve`'s tests: PostgreSQL's own client), from Debian's packages (redis-server,
# chromium, postgresql-client). Needs apt-get, as root or with sudo; prints
# what it installs. Does nothing when both are there.
set -euo pipefail
want=()
command -v redis-server > /dev/null || want+=(redis-server)
command -v chromium > /dev/null || want+=(chromium)
command -v psql > /dev/null || want+=(postgresql-client)
if [ "${#want[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "error: the tests need ${want[*]} (Redis, Chromium, psql), and this machine has no apt-get to install them; install them and run again" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo > /dev/null; then
    as_root=(sudo -n)
  else
    echo "error: installing ${want[*]} needs root (or sudo)" >&2
    exit 1
  fi
fi
echo "system packages: installing ${want[*]} (apt-get)"
start=$(date +%s)
"${as_root[@]}" apt-get update -qq > /dev/null
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" > /dev/null
echo "system packages: installed in $(( $(date +%s) - start )) s"
