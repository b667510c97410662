#!/usr/bin/env bash
# Benchmark of `vigil import` on >= 1M resources: re-identified copies of the Synthea set
# (tools/bench-import/generate.py), timed with /usr/bin/time -v (peak RSS), sized with du.
#
# usage: tools/bench-import/run.sh [COPIES]   (default 16: 16 x 66,307 + 778 = 1,061,690)
# env:   VIGIL_SHARED (default ../shared), BENCH_DIR (default /tmp/vigil-bench-import),
#        VIGIL_IMPORT_ARGS (extra arguments for vigil import, e.g. "--online" for the path that
#        shares the directory with a server, "--keep-token-index", "--batch-size 5000")
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${VIGIL_SHARED:-$root/../shared}"
bench="${BENCH_DIR:-/tmp/vigil-bench-import}"
copies="${1:-16}"
mkdir -p "$bench"
if [ ! -d "$bench/synthea/fhir" ]; then
  mkdir -p "$bench/synthea"
  tar -xJf "$shared/data/synthea/synthea-r4.tar.xz" -C "$bench/synthea"
fi
data="$bench/input-$copies"
if [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  python3 "$root/tools/bench-import/generate.py" "$bench/synthea/fhir" "$data" "$copies"
  touch "$data/.complete"
fi
(cd "$root" && cargo build --release -p vigil)
vigil="${CARGO_TARGET_DIR:-$root/target}/release/vigil"
db="$bench/db"
rm -rf "$db"
echo "input: $(du -sb "$data" | cut -f1) bytes in $(find "$data" -name '*.json' | wc -l) files"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
/usr/bin/time -v "$vigil" import --log warn --timings ${VIGIL_IMPORT_ARGS:-} --data "$db" "$data" \
  2> "$bench/import.stderr" | tee "$bench/import.stdout"
grep -E "timings|  |after the load|Maximum resident|Elapsed|User time|System time|Percent of CPU|File system outputs" \
  "$bench/import.stderr"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data directory: $(du -sb "$db" | cut -f1) bytes ($(du -sh "$db" | cut -f1))"
