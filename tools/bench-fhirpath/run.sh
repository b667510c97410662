#!/usr/bin/env bash
# Runs the FHIRPath peer benchmark in one go: vigil-fhirpath (release), fhirpathpy (PyPI) and
# fhirpath.js (npm `fhirpath`) on the 20 cases of cases.json, each expression compiled once,
# and prints a markdown table of evaluations per second with the ratios.
# Peers are installed into $BENCH_DIR (default: a temp dir), never into the repository.
# fhirpath 5.2.0 is pinned: 5.2.1+ needs @lhncbc/ucum-lhc >= 7.1.10, not published on the registry here.
# Usage: tools/bench-fhirpath/run.sh [seconds per case]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-1}"
shared="${VIGIL_SHARED:-$root/../shared}"
inputs="$shared/conformance/fhirpath-r4/input-json"
work="${BENCH_DIR:-${TMPDIR:-/tmp}/vigil-bench-fhirpath}"
mkdir -p "$work"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet "fhirpathpy==2.2.4"
fi
if [ ! -d "$work/node_modules/fhirpath" ]; then
  (cd "$work" && npm install --silent --no-audit --no-fund "fhirpath@5.2.0" >/dev/null)
fi

out="$work/results.jsonl"
: > "$out"
(cd "$root" && VIGIL_SHARED="$shared" cargo run --quiet --release -p vigil-fhirpath --example bench_cases -- "$seconds") >> "$out"
"$work/venv/bin/python" "$here/bench_fhirpathpy.py" "$inputs" "$seconds" >> "$out"
NODE_PATH="$work/node_modules" node "$here/bench_fhirpath_js.js" "$inputs" "$seconds" >> "$out"
"$work/venv/bin/python" "$here/report.py" "$out"
