#!/usr/bin/env bash
# Load test of `cloutdesk serve` on loopback with wrk (installed from apt
# when missing). Generates (and caches) a world of N creators, ingests it
# into a fresh data dir, starts the release server and measures:
#   1. POST /v1/match with a typical brief (the world's first sample brief);
#   2. GET /v1/creators/{id} over random ids;
#   3. POST /v1/match again while POST /v1/ingest loads another world of N
#      creators and swaps the snapshot (wrk rounds until the ingest is done,
#      then one more; every answer must be a 200: wrk counts non-2xx and
#      socket errors).
# Then prints a summary (req/s, p50/p99, errors, server RSS).
#
# Usage: scripts/load.sh [--creators N] [--duration SECS] [--connections C]
#                        [--threads T] [--port P] [--keep]
# (SKIP_BUILD=1 uses target/release/cloutdesk as it is.)
# Defaults: 100000 creators, 20 s per run, 32 connections, 1 wrk thread.
# Bounded: each run stops after --duration; everything targets 127.0.0.1.
set -euo pipefail

CREATORS=100000
DURATION=20
CONNS=32
THREADS=1
PORT=18080
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --creators) CREATORS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (apt)" >&2
  (apt-get install -y wrk >/dev/null 2>&1) || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null)
fi

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -p cloutdesk >&2
BIN=$ROOT/target/release/cloutdesk

SRC=$ROOT/data/load/src-$CREATORS
if [ ! -f "$SRC/creators.csv" ]; then
  "$BIN" generate --creators "$CREATORS" --seed 42 --out "$SRC" >&2
fi
SRC2=$ROOT/data/load/src-swap-$CREATORS
if [ ! -f "$SRC2/creators.csv" ]; then
  "$BIN" generate --creators "$CREATORS" --seed 43 --out "$SRC2" >&2
fi

WORK=$(mktemp -d /tmp/cloutdesk-load.XXXXXX)
DATA=$WORK/data
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

echo "ingesting $CREATORS creators" >&2
"$BIN" ingest --data "$DATA" --creators "$SRC/creators.csv" --performance "$SRC/performance.csv" \
  --payments "$SRC/payments.csv" --as-of 2026-11-01 >&2
ADMIN=$("$BIN" keys create --data "$DATA" --role admin --name load)
ORG=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['org_id'])" "$SRC/briefs.jsonl")
MKT=$("$BIN" keys create --data "$DATA" --role marketer --org "$ORG" --name load)
head -n 1 "$SRC/briefs.jsonl" > "$WORK/brief.json"

CLOUTDESK__SNAPSHOT_POLL_MS=0 CLOUTDESK__MAX_CONCURRENT_MATCHES=256 \
  "$BIN" serve --data "$DATA" --bind "127.0.0.1:$PORT" > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$WORK/server.out" || { cat "$WORK/server.err" >&2; exit 1; }
URL=http://127.0.0.1:$PORT
START_RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)

# wrk scripts: a POST of the brief, random creator ids; both print JSON.
cat > "$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "secs": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
BRIEF_LUA=$(python3 -c "import json,sys; print(json.dumps(open(sys.argv[1]).read().strip()))" "$WORK/brief.json")
cat > "$WORK/match.lua" <<EOF
wrk.method = "POST"
wrk.body = $BRIEF_LUA
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $MKT"
$(cat "$WORK/report.lua")
EOF
cat > "$WORK/creator.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $MKT"
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/v1/creators/c-%07d", math.random(1, $CREATORS)))
end
$(cat "$WORK/report.lua")
EOF

# Sanity: one of each answers 200.
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $MKT" --data @"$WORK/brief.json" "$URL/v1/match")" = 200
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $MKT" "$URL/v1/creators/c-0000001")" = 200

run() { # name script
  wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --timeout 10s -s "$2" "$URL/$3" | tail -n 1 > "$WORK/$1.json"
  echo "$1: $(cat "$WORK/$1.json")" >&2
}

echo "warm-up" >&2
wrk -t 1 -c 4 -d 3s -s "$WORK/match.lua" "$URL/v1/match" > /dev/null
run match "$WORK/match.lua" v1/match
run creator "$WORK/creator.lua" v1/creators/c-0000001

echo "match under load while an ingest swaps the snapshot" >&2
# The ingest runs in the background; wrk runs in rounds of DURATION seconds
# until it is done, then one round more (bounded: at most 60 rounds).
BEFORE=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/snapshot" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
INGEST_T0=$(date +%s.%N)
curl -s -o "$WORK/ingest.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
  -F creators=@"$SRC2/creators.csv" -F performance=@"$SRC2/performance.csv" -F payments=@"$SRC2/payments.csv" \
  "$URL/v1/ingest?as_of=2026-11-01" > "$WORK/ingest.code" &
CURL=$!
: > "$WORK/swap-rounds.jsonl"
for round in $(seq 1 60); do
  alive=0; kill -0 "$CURL" 2>/dev/null && alive=1
  wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --timeout 30s -s "$WORK/match.lua" "$URL/v1/match" | tail -n 1 >> "$WORK/swap-rounds.jsonl"
  echo "swap round $round (ingest running: $alive): $(tail -n 1 "$WORK/swap-rounds.jsonl")" >&2
  [ "$alive" = 0 ] && break
done
wait "$CURL" || true
INGEST_CODE=$(cat "$WORK/ingest.code")
INGEST_SECS=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(sum(t[1] for t in r.get('timings', [])), 1))" "$WORK/ingest.json" 2>/dev/null || echo "?")
AFTER=$(curl -s -H "Authorization: Bearer $ADMIN" "$URL/v1/snapshot" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
python3 - "$WORK" <<'PYEOF'
import json, sys
rounds = [json.loads(l) for l in open(f"{sys.argv[1]}/swap-rounds.jsonl") if l.strip()]
req = sum(r["requests"] for r in rounds); secs = sum(r["secs"] for r in rounds)
agg = {"requests": req, "secs": secs, "rps": req / secs,
       "p50_ms": max(r["p50_ms"] for r in rounds), "p90_ms": max(r["p90_ms"] for r in rounds),
       "p99_ms": max(r["p99_ms"] for r in rounds), "max_ms": max(r["max_ms"] for r in rounds),
       "non_2xx": sum(r["non_2xx"] for r in rounds), "socket_errors": sum(r["socket_errors"] for r in rounds),
       "rounds": len(rounds)}
json.dump(agg, open(f"{sys.argv[1]}/swap.json", "w"))
PYEOF
echo "swap: $(cat "$WORK/swap.json")" >&2
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)

python3 - "$WORK" "$CREATORS" "$DURATION" "$CONNS" "$THREADS" "$INGEST_CODE" "$BEFORE" "$AFTER" "$INGEST_SECS" "$RSS_KB" "$START_RSS_KB" <<'EOF'
import json, sys
work, n, dur, conns, threads, code, before, after, isecs, rss, rss0 = sys.argv[1:]
def load(name):
    return json.load(open(f"{work}/{name}.json"))
print(f"## load: {n} creators, wrk -t{threads} -c{conns}, {dur} s per run, loopback, same machine")
print("| run | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|---|")
for name, label in [("match", "POST /v1/match"), ("creator", "GET /v1/creators/{id}"), ("swap", "POST /v1/match during an ingest swap")]:
    r = load(name)
    print(f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['non_2xx']} | {r['socket_errors']} |")
print(f"ingest during the swap run: HTTP {code}, load {isecs} s, snapshot {before} -> {after}; "
      f"the swap run's figures are over {load('swap')['rounds']} wrk rounds (percentiles: the worst round's)")
print(f"server RSS serving {n} creators after start: {int(rss0) / 1024:.0f} MiB; "
      f"peak (VmHWM, includes the in-process ingest and two snapshots during the swap): {int(rss) / 1024:.0f} MiB")
ok = load("swap")["non_2xx"] == 0 and load("swap")["socket_errors"] == 0 and code == "200" and before != after
sys.exit(0 if ok else 1)
EOF
