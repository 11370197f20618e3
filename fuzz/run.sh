#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 15: CI's bounded form; by hand, e.g. 600):
# no panic, no hang (an input that runs over 10 s fails), no runaway memory. Builds the targets
# once (cargo-fuzz, unoptimized with coverage instrumentation: a quick build; the stable toolchain
# with RUSTC_BOOTSTRAP=1 for the flags cargo-fuzz passes). Each target starts from its seeds in
# fuzz/seeds/TARGET and keeps what it finds in fuzz/corpus/TARGET; a crash is saved in
# fuzz/artifacts/TARGET and fails the run.
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-15}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(connection_string parse_filter from_query csdl where_clause token_file)
fi
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --version 0.13.2 --quiet
fi
start=$(date +%s)
cargo fuzz build --dev -s none >/dev/null 2>target-build.log || { cat target-build.log; exit 1; }
rm -f target-build.log
echo "fuzz targets built in $(( $(date +%s) - start )) s; ${seconds} s each"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if cargo fuzz run --dev -s none "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    cov=$(grep -E '#[0-9]+.*DONE' "$log" | grep -Eo 'cov: [0-9]+' | tail -1 || true)
    echo "fuzz $t: ok, $runs inputs in ${seconds} s, $cov, corpus $(ls "corpus/$t" | wc -l) inputs"
  else
    echo "fuzz $t: FAILED"
    grep -E "panicked|ERROR|SUMMARY|Test unit written|timeout" "$log" | head -20
    failed=1
  fi
  rm -f "$log"
done
exit $failed
