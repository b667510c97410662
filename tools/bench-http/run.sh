#!/usr/bin/env bash
# HTTP benchmark of `vigil serve` with wrk (issue 19): builds the release binary, starts a server
# on 127.0.0.1 with a temporary data directory, seeds 10,000 Patients, then measures read by id,
# a search and create at 1 and 16 connections, printing requests/s and latency percentiles.
#
# Usage: tools/bench-http/run.sh [--auth] [--duration 10s] [--connections "1 16"]
#                                [--only "read search create"] [-- extra vigil serve args]
#   --auth     authentication on (no --dev): a backend client (system/*.cruds) registered with
#              `vigil client add`, a token taken by client_credentials and sent by wrk; every
#              request then goes through the SMART authorizer and the audit trail.
#   Anything after `--` goes to `vigil serve`, e.g. `-- --read-cache-mib 0 --access-log off`.
# Environment: VIGIL_BIN (skip the build and use this binary), KEEP_DATA=1 (keep the data dir),
# LOG (the server's --log filter, default info: access-log lines are written to a file),
# PERF_OP=read-16 (record the server with `perf record -e cpu-clock -g` during that row, into
# PERF_DATA, default ./perf.data).
#
# Needs wrk (Debian/Ubuntu: `apt-get install -y wrk`), curl and cargo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
duration=10s
connections="1 16"
only="read search create"
auth=0
serve_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --auth) auth=1 ;;
    --duration) duration="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --only) only="$2"; shift ;;
    --) shift; serve_extra=("$@"); break ;;
    *) echo "unknown option $1 (see the head of $0)" >&2; exit 2 ;;
  esac
  shift
done

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is missing: install it with 'apt-get install -y $tool' (Debian/Ubuntu)" >&2
    exit 1
  fi
done

if [ -n "${VIGIL_BIN:-}" ]; then
  vigil="$VIGIL_BIN"
else
  (cd "$root" && cargo build --release -p vigil >&2)
  vigil="$root/target/release/vigil"
fi

data="$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-http.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$data"; else echo "data kept in $data" >&2; fi
}
trap cleanup EXIT

mode_args=(--dev)
[ "$auth" = 1 ] && mode_args=()
"$vigil" serve --data "$data/db" --listen 127.0.0.1:0 --no-cds --log "${LOG:-info}" "${mode_args[@]}" \
  "${serve_extra[@]}" >"$data/stdout" 2>"$data/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "http://" "$data/stdout" 2>/dev/null && break
  sleep 0.1
done
base="$(grep -o 'http://[0-9.:]*' "$data/stdout" | head -n1)"
[ -n "$base" ] || { echo "the server did not start:" >&2; cat "$data/server.log" >&2; exit 1; }

export TOKEN=""
if [ "$auth" = 1 ]; then
  secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  "$vigil" client add --data "$data/db" --id bench-http --secret "$secret" \
    --scope 'system/*.cruds' >/dev/null
  TOKEN="$(curl -sf -u "bench-http:$secret" \
    -d 'grant_type=client_credentials&scope=system%2F*.cruds' "$base/auth/token" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
  [ -n "$TOKEN" ] || { echo "no token from $base/auth/token" >&2; exit 1; }
fi
auth_header=()
[ -n "$TOKEN" ] && auth_header=(-H "Authorization: Bearer $TOKEN")

# 10,000 Patients p00001..p10000 in ten transaction Bundles of 1,000 PUTs; families Fam0..Fam99.
export SEEDED=10000 FAMILIES=100 BENCH_DIR="$here"
started=$(date +%s%N)
for batch in $(seq 0 9); do
  awk -v batch="$batch" 'BEGIN {
    printf "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":["
    for (i = 1; i <= 1000; i++) {
      n = batch * 1000 + i
      id = sprintf("p%05d", n)
      gender = (n % 2) ? "female" : "male"
      printf "%s{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"%s\",\"active\":true,", (i > 1 ? "," : ""), id
      printf "\"identifier\":[{\"system\":\"urn:bench:mrn\",\"value\":\"%s\"}],", id
      printf "\"name\":[{\"family\":\"Fam%d\",\"given\":[\"Given%d\"]}],", n % 100, n
      printf "\"gender\":\"%s\",\"birthDate\":\"19%02d-0%d-1%d\"},", gender, n % 100, n % 9 + 1, n % 9
      printf "\"request\":{\"method\":\"PUT\",\"url\":\"Patient/%s\"}}", id
    }
    printf "]}"
  }' >"$data/bundle.json"
  code="$(curl -s -o "$data/bundle-response.json" -w '%{http_code}' "${auth_header[@]}" \
    -H 'Content-Type: application/fhir+json' --data-binary "@$data/bundle.json" "$base/")"
  [ "$code" = 200 ] || { echo "seeding failed ($code):" >&2; head -c 1000 "$data/bundle-response.json" >&2; exit 1; }
done
seeded_in=$(awk -v a="$started" -v b="$(date +%s%N)" 'BEGIN {printf "%.1f", (b - a) / 1e9}')

echo "vigil bench-http: $base, auth $([ "$auth" = 1 ] && echo on || echo off), serve args: ${serve_extra[*]:-(none)}"
echo "seeded 10,000 Patients in ${seeded_in}s; wrk $duration per row; $(nproc) CPUs; $(date -u +%FT%TZ)"
printf '%-7s %5s %10s %9s %9s %9s %9s %8s\n' op conns req/s p50 p90 p99 max errors
for op in $only; do
  for c in $connections; do
    threads=$(( c < 2 ? 1 : 2 ))
    perf_pid=""
    if [ -n "${PERF_OP:-}" ] && [ "$PERF_OP" = "$op-$c" ]; then
      perf record -e cpu-clock -g -o "${PERF_DATA:-perf.data}" -p "$server_pid" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    out="$(wrk -t"$threads" -c"$c" -d"$duration" --latency -s "$here/$op.lua" "$base")"
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
    echo "$out" >"$data/wrk-$op-$c.txt"
    rps="$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
    pct() { echo "$out" | awk -v p="$1" '$1 == p {print $2}'; }
    max="$(echo "$out" | awk '/^ +Latency/ {print $4}')"
    errors="$(echo "$out" | awk '/Non-2xx or 3xx responses/ {print $NF} /Socket errors/ {print "sock"}' | paste -sd+ -)"
    printf '%-7s %5s %10s %9s %9s %9s %9s %8s\n' "$op" "$c" "$rps" "$(pct 50%)" "$(pct 90%)" "$(pct 99%)" "$max" "${errors:-0}"
  done
done
