#!/usr/bin/env bash
# What a rebalance pass over a quiet jurisdiction costs (part of `make bench`, or alone: bash Tests/bench/antientropy.sh).
# A fresh `qantara serve` holds $BENCH_AE_OBJECTS objects of 4 KiB in one MA bucket (R = 2, so twice as many versions
# on MA's nodes); `qantara node rebalance --jurisdiction MA --wait` starts a pass and waits for it, three times, at the
# default pace. With summaries, nodes that agree are not walked: the pass reads one summary per node and bucket.
# Prints Markdown rows (and keeps them in $OUT/rows.md). Every process started here is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/.build/bench}/antientropy"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="${QANTARA_BIN:-$ROOT/.build/release/qantara}"
PORT="${BENCH_AE_PORT:-19300}"
OBJECTS="${BENCH_AE_OBJECTS:-20000}"
export QANTARA_LOG_LEVEL=notice

source "$ROOT/Tests/bench/serve.sh"
serve_fresh "$PORT"

# The objects (the setup of a GET run writes them).
"$BIN" bench --client socket --endpoint "$ENDPOINT" --bucket bench-ae --op get --size 4KiB --objects "$OBJECTS" \
  --concurrency 16 --duration 1 > /dev/null
{
  for run in 1 2 3; do
    start=$(date +%s.%N)
    cli node rebalance --jurisdiction MA --wait --timeout 600 > "$OUT/pass-$run.txt"
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    echo "| $OBJECTS objects × 2 replicas, pass $run | $seconds s | \`$(tail -1 "$OUT/pass-$run.txt")\` |"
  done
} | tee "$OUT/rows.md"
