#!/usr/bin/env bash
# Memory against row count (prints figures; not a test): kinetic export's peak RSS, serial and with
# Parallelism=4, at each SCALE (default 100,000, 1,000,000 and 3,000,000 order lines), through
# bench/export.sh (its emulator databases are cached in target/bench/). Flat is the goal: the
# export streams page by page, so its memory must not grow with the rows.
# Exits 1 when an export fails or its file is wrong (bench/export.sh checks the rows: the count, no
# key twice) or a figure is missing; the peaks themselves are printed, not judged.
# Usage: bash bench/memory.sh [SCALE...]      KINETIC_BIN=path: that binary, no release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(100000 1000000 3000000)
: >target/bench-memory.tsv 2>/dev/null || { mkdir -p target; : >target/bench-memory.tsv; }
for scale in "${scales[@]}"; do
  RUNS="kinetic_csv kinetic_csv_p4" REPEAT=1 bash bench/export.sh "$scale" >"target/bench-memory-$scale.log" 2>&1 ||
    { tail -20 "target/bench-memory-$scale.log"; echo "memory.sh: the export at $scale lines failed or wrote wrong rows (above; all of it in target/bench-memory-$scale.log)" >&2; exit 1; }
  # Both runs measured, with their rows (export.sh has checked them against the emulator's $count).
  got=$(awk -F'\t' '($1 == "kinetic_csv" || $1 == "kinetic_csv_p4") && $2 ~ /^[0-9]+$/ && $3 != "-" && $4 ~ /^[0-9]+$/' target/bench/results.tsv | wc -l)
  [ "$got" -eq 2 ] || { echo "memory.sh: at $scale lines, $got of the 2 runs have their rows, wall and peak (target/bench/results.tsv)" >&2; exit 1; }
  awk -v s="$scale" -F'\t' '$1 ~ /^kinetic/ && $3 != "-" {print s "\t" $0}' target/bench/results.tsv >>target/bench-memory.tsv
done
python3 - target/bench-memory.tsv <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print(f"{'scale':>10} {'run':<16} {'rows':>10} {'wall s':>8} {'rows/s':>10} {'peak MiB':>9}")
peaks = {}
for scale, name, n, wall, kib, note in rows:
    ok = n != "-" and "FAILED" not in note
    rps = f"{int(n) / float(wall):,.0f}" if ok else "-"
    mib = int(kib) / 1024 if kib != "-" else float("nan")
    peaks.setdefault(name, []).append(mib)
    print(f"{int(scale):>10,} {name:<16} {n:>10} {wall:>8} {rps:>10} {mib:>9.1f}")
for name, p in peaks.items():
    if len(p) > 1:
        print(f"{name}: peak at the largest scale / at the smallest = {p[-1] / p[0]:.2f} (flat: about 1)")
PY
