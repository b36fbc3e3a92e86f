#!/usr/bin/env bash
# Fuzzes `cloutdesk serve` against its own /openapi.json with schemathesis
# (installed into a virtualenv under target/). Starts a server on a small
# generated world on loopback, then runs schemathesis twice, as an admin and
# as a marketer, with the checks the issue asks for: no 5xx, status codes,
# content types, headers and bodies that conform to the document.
#
# Usage: scripts/schemathesis.sh [--max-examples N] [--port P]
# (SKIP_BUILD=1 uses the debug binary as it is.)
# Exit status: schemathesis's (0 = no failure found).
set -euo pipefail

MAX_EXAMPLES=50
PORT=18081
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) MAX_EXAMPLES=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/target/schemathesis-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build -p cloutdesk >&2
BIN=$ROOT/target/debug/cloutdesk
WORK=$(mktemp -d /tmp/cloutdesk-fuzz.XXXXXX)
DATA=$WORK/data
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" generate --creators 1500 --seed 5 --out "$WORK/src" >&2
"$BIN" ingest --data "$DATA" --creators "$WORK/src/creators.csv" --performance "$WORK/src/performance.csv" \
  --payments "$WORK/src/payments.csv" --as-of 2026-11-01 >&2
ADMIN=$("$BIN" keys create --data "$DATA" --role admin --name fuzz)
MKT=$("$BIN" keys create --data "$DATA" --role marketer --org acme --name fuzz)

# Small limits so the fuzzer also meets 413 and 400 page caps quickly.
CLOUTDESK__SNAPSHOT_POLL_MS=0 CLOUTDESK__MAX_BODY_BYTES=65536 \
  "$BIN" serve --data "$DATA" --bind "127.0.0.1:$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$WORK/server.out" || { cat "$WORK/server.err" >&2; exit 1; }
URL=http://127.0.0.1:$PORT

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
status=0
cd "$WORK" # hypothesis keeps its example database in the working dir
for KEY in "$ADMIN" "$MKT"; do
  "$VENV/bin/schemathesis" run "$URL/openapi.json" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" \
    --header "Authorization: Bearer $KEY" \
    --seed 42 \
    --no-color || status=$?
done
if grep -q panicked "$WORK/server.err"; then
  echo "the server panicked:" >&2
  grep -A3 panicked "$WORK/server.err" >&2
  status=1
fi
exit $status
