#!/usr/bin/env bash
# A quick look at small PUTs against their storage ceiling (one of `make bench`'s four targets, without the rest of
# the run): a fresh `qantara serve` (release build), then three alternated rounds of `qantara bench` PUT 4 KiB and
# the storage ceiling (`--storage`, the node's layout writing the same bytes R times, synced). The server started
# here is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.build/release/qantara"
OUT="${BENCH_OUT:-$ROOT/.build/bench}/put-small"
PORT="${BENCH_PORT:-19400}"
rm -rf "$OUT"; mkdir -p "$OUT"
export QANTARA_LOG_LEVEL=notice
"$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$PORT" > "$OUT/serve.log" 2>&1 &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "Qantara is serving" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
credential() { .venv/bin/python -c "import json;print(json.load(open('$OUT/data/root-credentials'))['$1'])"; }
AWS_ACCESS_KEY_ID=$(credential accessKeyId) AWS_SECRET_ACCESS_KEY=$(credential secretAccessKey)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
for round in 1 2 3; do
  "$BIN" bench --client socket --duration 8 --concurrency 16 --endpoint "http://127.0.0.1:$PORT" \
    --bucket bench-4kib --op put --size 4KiB
  "$BIN" bench --client socket --duration 8 --concurrency 16 --storage "$OUT/storage-$round" --size 4KiB
done
