#!/usr/bin/env bash
# The nightly re-rank benchmark of BENCHMARKS.md (issue 5): 10,000
# campaigns (the cached world's 1,000 generated briefs, ten times, with
# ids suffixed -r0..-r9) against every creator of a cached benchmark world,
# night after night on one data dir, so that every night after the first
# has a parent generation (the nightly case).
#
# Each run starts from a fresh copy of the world's ingested data dir
# (hard links: the snapshot's files are never written) and re-ranks it
# --nights times, on 2026-11-01, 2026-11-02, ...; for each night it prints
# the wall time and peak RSS (`/usr/bin/time -v`), the report's stage line
# and the sha256 prefixes of the generation's files (the same inputs give
# the same files on any machine and thread count).
#
# Usage: scripts/rerank-bench.sh [--creators N] [--nights K] [--runs R]
#                                [--work DIR]
# Defaults: 1000000 creators, 1 night, 1 run, work dir target/rerank-bench.
# The world must be cached first (`cargo run --release -- bench
# --creators N` generates and ingests it into target/bench-data/). Builds
# the release binary unless SKIP_BUILD=1 (then target/release/cloutdesk is
# used as it is).
set -euo pipefail
cd "$(dirname "$0")/.."

CREATORS=1000000
NIGHTS=1
RUNS=1
WORK=target/rerank-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --creators) CREATORS=$2; shift 2 ;;
    --nights) NIGHTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ "$NIGHTS" -lt 1 ] || [ "$NIGHTS" -gt 28 ]; then
  echo "--nights must be 1..28" >&2; exit 2
fi

WORLD=${CLOUTDESK_BENCH_DATA:-target/bench-data}/c${CREATORS}-s42
if [ ! -f "$WORLD/data/CURRENT" ] || [ ! -f "$WORLD/source/briefs.jsonl" ]; then
  echo "no cached world in $WORLD: run \`cargo run --release -- bench --creators $CREATORS\` first" >&2
  exit 1
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p cloutdesk
fi
BIN=$PWD/target/release/cloutdesk
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "$TIME (GNU time) is needed for the peak RSS" >&2; exit 1
fi

mkdir -p "$WORK"
CAMPAIGNS=$WORK/campaigns.jsonl
for k in 0 1 2 3 4 5 6 7 8 9; do
  sed "s/^{\"campaign_id\":\"\([^\"]*\)\"/{\"campaign_id\":\"\1-r$k\"/" "$WORLD/source/briefs.jsonl"
done > "$CAMPAIGNS"
echo "campaigns: $(wc -l < "$CAMPAIGNS") in $CAMPAIGNS (sha256 $(sha256sum "$CAMPAIGNS" | cut -c1-8))"

for run in $(seq 1 "$RUNS"); do
  DATA=$WORK/data
  rm -rf "$DATA"
  mkdir -p "$DATA"
  cp -al "$WORLD/data/." "$DATA/"
  # The data dir's own small files are copied, not linked.
  for f in CURRENT .lock; do
    if [ -f "$DATA/$f" ]; then rm "$DATA/$f"; cp "$WORLD/data/$f" "$DATA/$f"; fi
  done
  for night in $(seq 1 "$NIGHTS"); do
    day=$(printf '2026-11-%02d' "$night")
    echo "== run $run, night $night ($day), $CREATORS creators"
    $TIME -v "$BIN" rerank --data "$DATA" --campaigns "$CAMPAIGNS" --today "$day" \
      > "$WORK/night.out" 2> "$WORK/night.err"
    grep -E "Elapsed \(wall|Maximum resident" "$WORK/night.err" | sed 's/^\s*/  /'
    grep -E "pairs assigned|stages:" "$WORK/night.out" | sed 's/^\s*/  /'
    gen=$(cat "$DATA/rerank/CURRENT")
    for f in "$DATA/rerank/$gen"/*; do
      case "$(basename "$f")" in
        manifest.json) ;;
        *) echo "  $(sha256sum "$f" | cut -c1-8) $(basename "$f")" ;;
      esac
    done
  done
done
