#!/usr/bin/env bash
# Ingest benchmark (issue 17): ORU^R01 with 6 OBX over MLLP on 1 and 8 connections (each ACK
# after commit), and MQTT device observations/s, against a release `vigil serve`.
#
# Usage: tools/bench-hl7.sh [MESSAGES] [MQTT_MESSAGES]
# Needs: cargo; Mosquitto on 127.0.0.1:1883 for the MQTT part (skipped without it).
# Data: a fresh temporary data directory per run, deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-20000}
MQTT_MESSAGES=${2:-10000}
cargo build --release -p vigil --bin vigil
cargo build --release -p vigil-ingest --example bench_ingest
VIGIL=target/release/vigil
LOAD=target/release/examples/bench_ingest
DATA=$(mktemp -d)
OUT=$(mktemp)
UNIQUE="bench-$$-$(date +%s)"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$OUT"; }
trap cleanup EXIT
MQTT_ARGS=()
if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  MQTT_ARGS=(--mqtt mqtt://127.0.0.1:1883 --mqtt-topic "$UNIQUE/+/obs" --mqtt-client-id "$UNIQUE")
fi
"$VIGIL" serve --dev --log warn --data "$DATA" --listen 127.0.0.1:0 --mllp 127.0.0.1:0 "${MQTT_ARGS[@]}" >"$OUT" &
PID=$!
for _ in $(seq 100); do [ "$(wc -l <"$OUT")" -ge 2 ] && break; sleep 0.1; done
HTTP=$(sed -n 1p "$OUT" | sed 's#.*http://##')
MLLP=$(sed -n 2p "$OUT" | awk '{print $NF}')
echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
"$LOAD" mllp "$MLLP" 1 $((MESSAGES / 4))
"$LOAD" mllp "$MLLP" 8 "$MESSAGES"
"$LOAD" mllp "$MLLP" 32 "$MESSAGES"
if [ ${#MQTT_ARGS[@]} -gt 0 ]; then
  curl -s -o /dev/null -X POST "http://$HTTP/Patient" -H 'Content-Type: application/fhir+json' \
    -d '{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"BENCH"}]}'
  "$LOAD" mqtt 127.0.0.1:1883 "$UNIQUE" "$HTTP" "$MQTT_MESSAGES" BENCH
else
  echo "mqtt: skipped (no broker on 127.0.0.1:1883)"
fi
echo "data directory size: $(du -sh "$DATA" | cut -f1)"
