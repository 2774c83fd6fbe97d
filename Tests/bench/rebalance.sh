#!/usr/bin/env bash
# Foreground traffic while a jurisdiction rebalances (part of `make bench`, or alone: bash Tests/bench/rebalance.sh).
# A fresh `qantara serve` holds 2 GiB of 1 MiB objects in MA; GET and PUT 1 MiB of another MA bucket are measured
# alone, then again while `qantara node add --jurisdiction MA --id ma-4` moves about half the objects to the new
# node at the default pace (QANTARA_REBALANCE_RATE, 32 MiB/s). Target: the foreground keeps at least 70%.
# Prints Markdown rows (and keeps them in $OUT/rows.md). Every process started here is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${BENCH_OUT:-$ROOT/.build/bench}/rebalance"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="$ROOT/.build/release/qantara"
PORT="${BENCH_REBALANCE_PORT:-19100}"
SECONDS_EACH="${BENCH_TARGET_SECONDS:-8}"
OBJECTS="${BENCH_REBALANCE_OBJECTS:-2048}"
export QANTARA_LOG_LEVEL=notice

source "$ROOT/Tests/bench/serve.sh"
serve_fresh "$PORT"
measure() { # op: one foreground run of GET or PUT 1 MiB on bench-fg
  "$BIN" bench --client socket --endpoint "$ENDPOINT" --bucket bench-fg --op "$1" --size 1MiB --concurrency 16 \
    --duration "$SECONDS_EACH" --no-setup | tee -a "$OUT/raw.txt"
}
field() { sed -E "s|.* $1=([0-9.]+).*|\1|" <<< "$2"; }

# The data that will move (the setup of a GET run writes its objects), and the foreground's own objects.
"$BIN" bench --client socket --endpoint "$ENDPOINT" --bucket bench-move --op get --size 1MiB --objects "$OBJECTS" \
  --concurrency 16 --duration 1 > /dev/null
"$BIN" bench --client socket --endpoint "$ENDPOINT" --bucket bench-fg --op get --size 1MiB --objects 64 \
  --concurrency 16 --duration 1 > /dev/null
sync
get_alone=$(measure get)
sync
put_alone=$(measure put)
sync
cli node add --jurisdiction MA --id ma-4 > /dev/null
sleep 1
get_moving=$(measure get)
put_moving=$(measure put)
during=$(cli node rebalance --status --jurisdiction MA)
cli node rebalance --jurisdiction MA --wait --timeout 600 > "$OUT/rebalance.txt"
moved=$(tail -1 "$OUT/rebalance.txt")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }
row() { # name, result, ceiling name, ceiling result, target
  echo "| $1 | $(field ops/s "$2") | $(field MiB/s "$2") | $(field p50_ms "$2") | $(field p99_ms "$2") | $3: $(field ops/s "$4") ops/s, $(field MiB/s "$4") MiB/s | $(ratio "$(field MiB/s "$2")" "$(field MiB/s "$4")") | $5 |"
}
{
  row "GET 1 MiB while MA rebalances onto a new node" "$get_moving" "GET 1 MiB before" "$get_alone" "≥ 70%"
  row "PUT 1 MiB while MA rebalances onto a new node" "$put_moving" "PUT 1 MiB before" "$put_alone" "≥ 70%"
  echo
  echo "Rebalance after \`node add --jurisdiction MA --id ma-4\` over $OBJECTS objects of 1 MiB (R = 2), at the default"
  echo "pace: status after the foreground runs: \`$(tail -1 <<< "$during")\`; once done: \`$moved\`."
} | tee "$OUT/rows.md"
