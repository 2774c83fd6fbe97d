#!/usr/bin/env bash
# `make bench`: release build, then Qantara against its two ceilings on this machine, in one run:
#   - HTTP ceiling: nginx on loopback serving (GET) and accepting (PUT, WebDAV) the same sizes, driven by the same
#     load generator (`qantara bench`, with its lean blocking-socket client; the four targets are measured with its
#     AsyncHTTPClient client too, which takes about twice the CPU per request from the machine the server runs on);
#   - storage ceiling: the node's storage layout writing the same bytes R times, without HTTP
#     (`qantara bench --storage`).
# Then a 2 GiB upload and download through `qantara serve`, recording the server's peak RSS, and the foreground's
# throughput while a jurisdiction rebalances onto a new node (Tests/bench/rebalance.sh), the cost of a listing
# page with 3, 12 and 48 nodes (Tests/bench/listing.py), and of a rebalance pass over a quiet jurisdiction
# (Tests/bench/antientropy.sh).
# Results: a Markdown table on stdout and in $OUT/results.md. Every process started here is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${BENCH_OUT:-$ROOT/.build/bench}"
DURATION="${BENCH_DURATION:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="$ROOT/.build/release/qantara"
NGINX_PORT=18080
QANTARA_PORT=19000
# One log line per request is the default (info); the benchmark runs at notice, as nginx runs with access_log off.
export QANTARA_LOG_LEVEL=notice

swift build -c release --product qantara
# The encryption-cost rows compare with a server storing plaintext: a setting compiled only into this separate
# benchmark build (the production binary has none), in its own build directory.
swift build -c release --product qantara --scratch-path "$ROOT/.build-bench" -Xswiftc -DQANTARA_BENCH_PLAINTEXT
PLAIN_BIN="$ROOT/.build-bench/release/qantara"
command -v nginx >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get update -qq;
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx; }

rm -rf "$OUT"
mkdir -p "$OUT/nginx/www" "$OUT/nginx/tmp" "$OUT/nginx/logs"
pids=()
crypto_pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cat > "$OUT/nginx/nginx.conf" <<CONF
user $(id -un) $(id -gn);
worker_processes auto;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $OUT/nginx/tmp;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $OUT/nginx/www;
        location / { dav_methods PUT; create_full_put_path on; }
    }
}
CONF
for size in 4KiB 1MiB; do
  mkdir -p "$OUT/nginx/www/bench-$size"
  bytes=$([ "$size" = 4KiB ] && echo 4096 || echo 1048576)
  for i in $(seq 0 63); do head -c "$bytes" /dev/urandom > "$OUT/nginx/www/bench-$size/obj-$i"; done
done
nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx" &
pids+=($!)

"$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$QANTARA_PORT" > "$OUT/serve.log" 2>&1 &
SERVE_PID=$!
pids+=($SERVE_PID)
for _ in $(seq 1 100); do grep -q "Qantara is serving" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
AWS_ACCESS_KEY_ID=$("$PYTHON" -c "import json;print(json.load(open('$OUT/data/root-credentials'))['accessKeyId'])")
AWS_SECRET_ACCESS_KEY=$("$PYTHON" -c "import json;print(json.load(open('$OUT/data/root-credentials'))['secretAccessKey'])")

timed() { # seconds, then bench arguments; HTTP runs use the client $CLIENT (default: socket)
  local seconds=$1; shift
  "$BIN" bench --client "${CLIENT:-socket}" --duration "$seconds" --concurrency "$CONCURRENCY" "$@" | tee -a "$OUT/raw.txt"
}
run() { timed "$DURATION" "$@"; }
field() { sed -E "s|.* $1=([0-9.]+).*|\1|" <<< "$2"; }

median_line() { # round count, then result lines on stdin: the one with the median MiB/s
  sed -E 's|(.*MiB/s=)([0-9.]+)(.*)|\2 \1\2\3|' | sort -n | cut -d' ' -f2- | sed -n "$(( ($1 + 1) / 2 ))p"
}

# The four targets: each figure and its ceiling alternate for TARGET_ROUNDS rounds and each keeps its median (as the
# encryption rows below do), so the host's drift (single runs move by ±15% here) falls on both sides alike.
TARGET_ROUNDS="${BENCH_TARGET_ROUNDS:-5}"
TARGET_SECONDS="${BENCH_TARGET_SECONDS:-8}"
round() { timed "$TARGET_SECONDS" "$@"; }
declare -A R LINES
for size in 4KiB 1MiB; do
  bucket="bench-$(tr 'A-Z' 'a-z' <<< "$size")"
  for _ in $(seq 1 "$TARGET_ROUNDS"); do
    for client in socket ahc; do
      suffix=$([ "$client" = socket ] || echo "-$client")
      LINES[nginx-get$suffix-$size]+=$(CLIENT=$client round --endpoint "http://127.0.0.1:$NGINX_PORT" --bucket "bench-$size" --op get --size "$size")$'\n'
      LINES[qantara-get$suffix-$size]+=$(CLIENT=$client round --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket "$bucket" --op get --size "$size")$'\n'
      # Writes start with no other run's dirty pages still going to the disk.
      sync
      LINES[qantara-put$suffix-$size]+=$(CLIENT=$client round --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket "$bucket" --op put --size "$size")$'\n'
    done
    rm -rf "$OUT/storage-$size"  # each round on a fresh database, as the ceiling always ran (and bounded on disk)
    sync
    LINES[storage-$size]+=$(round --storage "$OUT/storage-$size" --size "$size")$'\n'
  done
  for key in "nginx-get-$size" "qantara-get-$size" "qantara-put-$size" "storage-$size" \
             "nginx-get-ahc-$size" "qantara-get-ahc-$size" "qantara-put-ahc-$size"; do
    R[$key]=$(grep op= <<< "${LINES[$key]}" | median_line "$TARGET_ROUNDS")
  done
  rm -rf "$OUT/storage-$size"
  # Context and layout rows: one run each.
  R[nginx-put-$size]=$(run --endpoint "http://127.0.0.1:$NGINX_PORT" --bucket "bench-$size" --op put --size "$size")
  R[storage-blobdb-$size]=$(run --storage "$OUT/storage-blobdb-$size" --size "$size" --no-segment-files)
  R[storage-noblob-$size]=$(run --storage "$OUT/storage-noblob-$size" --size "$size" --no-segment-files --blob-threshold 0)
done
R[qantara-put-64MiB]=$("$BIN" bench --client socket --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket bench-64m --op put --size 64MiB --concurrency 4 --duration "$DURATION" | tee -a "$OUT/raw.txt")
R[qantara-get-64MiB]=$("$BIN" bench --client socket --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket bench-64m --op get --size 64MiB --concurrency 4 --duration "$DURATION" --objects 4 | tee -a "$OUT/raw.txt")

# Encryption cost: an encrypted server and a server of the same build with the bench-only plaintext setting, both
# fresh and running side by side (each idle while the other is measured). Each measurement alternates between them
# for ROUNDS rounds and keeps each side's median, so the disk's and the machine's drift fall on both sides alike.
ROUNDS="${BENCH_CRYPTO_ROUNDS:-5}"
ROUND_SECONDS="${BENCH_CRYPTO_SECONDS:-4}"
start_crypto_server() { # label, port, extra environment, binary
  env QANTARA_ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" QANTARA_ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" $3 \
    "$4" serve --data "$OUT/data-$1" --listen "127.0.0.1:$2" --gateway "FR=127.0.0.1:$(( $2 + 10 ))" \
    --gateway "US=127.0.0.1:$(( $2 + 20 ))" > "$OUT/serve-$1.log" 2>&1 &
  pids+=($!)
  crypto_pids+=($!)
  for _ in $(seq 1 100); do grep -q "Qantara is serving" "$OUT/serve-$1.log" 2>/dev/null && break; sleep 0.1; done
}
start_crypto_server encrypted 19100 "" "$PLAIN_BIN"
start_crypto_server plaintext 19200 "QANTARA_BENCH_PLAINTEXT=1" "$PLAIN_BIN"
for measure in "put 4KiB bench-4kib" "put 1MiB bench-1mib" "get 1MiB bench-1mib"; do
  read -r op size bucket <<< "$measure"
  enc_lines=""; plain_lines=""
  for _ in $(seq 1 "$ROUNDS"); do
    enc_lines+=$(timed "$ROUND_SECONDS" --endpoint http://127.0.0.1:19100 --bucket "$bucket" --op "$op" --size "$size")$'\n'
    plain_lines+=$(timed "$ROUND_SECONDS" --endpoint http://127.0.0.1:19200 --bucket "$bucket" --op "$op" --size "$size")$'\n'
  done
  R[encrypted-$op-$size]=$(grep op= <<< "$enc_lines" | median_line "$ROUNDS")
  R[plaintext-$op-$size]=$(grep op= <<< "$plain_lines" | median_line "$ROUNDS")
done
# The two servers go now: the later parts start servers of their own on these ports' neighbours.
for pid in "${crypto_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done

# A flood of refused cross-border reads: MA's own GET 4 KiB through MA's gateway alone, then beside 16 clients
# hammering GETs of the same MA bucket through FR's gateway (each refused with 403 and audited in MA's log),
# alternated for TARGET_ROUNDS rounds, each side's median kept.
FLOOD_CONCURRENCY="${BENCH_FLOOD_CONCURRENCY:-16}"
flood_base=""; flood_under=""; flood_rate=""
for _ in $(seq 1 "$TARGET_ROUNDS"); do
  flood_base+=$(round --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket bench-4kib --op get --size 4KiB --no-setup)$'\n'
  "$BIN" bench --client socket --endpoint "http://127.0.0.1:$(( QANTARA_PORT + 1 ))" --bucket bench-4kib --op get \
    --size 4KiB --concurrency "$FLOOD_CONCURRENCY" --duration "$(( TARGET_SECONDS + 2 ))" --expect-status 403 \
    --no-setup > "$OUT/flood.txt" 2>&1 &
  flooder=$!
  sleep 1
  flood_under+=$(round --endpoint "http://127.0.0.1:$QANTARA_PORT" --bucket bench-4kib --op get --size 4KiB --no-setup)$'\n'
  wait "$flooder"
  flood_rate+=$(tee -a "$OUT/raw.txt" < "$OUT/flood.txt")$'\n'
done
R[flood-base]=$(grep op= <<< "$flood_base" | median_line "$TARGET_ROUNDS")
R[flood-under]=$(grep op= <<< "$flood_under" | median_line "$TARGET_ROUNDS")
R[flood-refusals]=$(grep op= <<< "$flood_rate" | median_line "$TARGET_ROUNDS")

# The object format's ciphers on one core (1 MiB segments), beside `openssl speed` for the same cipher. OpenSSL has
# no XChaCha20-Poly1305: its ChaCha20-Poly1305 (the same cipher after one HChaCha20 per object) is the ceiling.
for cipher in aes-256-gcm xchacha20-poly1305; do
  lines=$("$BIN" bench --cipher "$cipher" --size 1MiB --duration 3 | tee -a "$OUT/raw.txt")
  R[$cipher-seal]=$(sed -n 1p <<< "$lines")
  R[$cipher-open]=$(sed -n 2p <<< "$lines")
  evp=$([ "$cipher" = aes-256-gcm ] && echo aes-256-gcm || echo chacha20-poly1305)
  bytes=$(openssl speed -mr -evp "$evp" -bytes 1048576 -seconds 3 2>/dev/null | awk -F: '/^\+F:/ {print $NF}')
  R[openssl-$cipher]="op=openssl-$evp ops/s=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB/s=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') p50_ms=0 p99_ms=0"
done

# 2 GiB through one PUT and one GET (curl with presigned URLs) on a fresh server, whose peak RSS (VmHWM) then
# shows what streaming one huge object costs, apart from what the load runs above left in RocksDB's memtables.
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
"$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$QANTARA_PORT" > "$OUT/serve-large.log" 2>&1 &
SERVE_PID=$!
pids+=($SERVE_PID)
for _ in $(seq 1 100); do grep -q "Qantara is serving" "$OUT/serve-large.log" 2>/dev/null && break; sleep 0.1; done
truncate -s 2G "$OUT/two-gib.bin"
urls=$("$PYTHON" - "$QANTARA_PORT" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
try:
    s3.create_bucket(Bucket="bench-large")
except Exception:
    pass
print(s3.generate_presigned_url("put_object", Params={"Bucket": "bench-large", "Key": "two-gib"}, ExpiresIn=3600))
print(s3.generate_presigned_url("get_object", Params={"Bucket": "bench-large", "Key": "two-gib"}, ExpiresIn=3600))
PY
)
rss_before=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
put_seconds=$( { /usr/bin/time -f %e curl -sS -f -o /dev/null -T "$OUT/two-gib.bin" "$(sed -n 1p <<< "$urls")"; } 2>&1 )
get_seconds=$( { /usr/bin/time -f %e curl -sS -f -o /dev/null "$(sed -n 2p <<< "$urls")"; } 2>&1 )
rss_after=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true

# Foreground traffic while a jurisdiction rebalances onto a new node (its own fresh server).
BENCH_OUT="$OUT" bash "$ROOT/Tests/bench/rebalance.sh" > /dev/null
# Listing cost with 3, 12 and 48 nodes in one jurisdiction (its own fresh servers).
BENCH_OUT="$OUT" "$PYTHON" "$ROOT/Tests/bench/listing.py" > /dev/null
# What a rebalance pass over a quiet jurisdiction costs (its own fresh server).
BENCH_OUT="$OUT" bash "$ROOT/Tests/bench/antientropy.sh" > /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }
row() { # name, result, ceiling name, ceiling result, target
  local mib ops cmib cops
  mib=$(field "MiB/s" "$2"); ops=$(field "ops/s" "$2"); cmib=$(field "MiB/s" "$4"); cops=$(field "ops/s" "$4")
  echo "| $1 | $ops | $mib | $(field p50_ms "$2") | $(field p99_ms "$2") | $3: $cops ops/s, $cmib MiB/s | $(ratio "$mib" "$cmib") | $5 |"
}
{
  echo "Run: \`make bench\` ($(date -u +%Y-%m-%d), $(nproc) cores, release build, concurrency $CONCURRENCY, load from \`qantara bench"
  echo "--client socket\` unless marked AsyncHTTPClient; the four targets: median of $TARGET_ROUNDS alternated ${TARGET_SECONDS}s rounds on"
  echo "each side; other rows: one ${DURATION}s run, encryption rows: median of $ROUNDS)"
  echo
  echo "| measurement | ops/s | MiB/s | p50 ms | p99 ms | ceiling | ratio | target |"
  echo "|---|---|---|---|---|---|---|---|"
  row "GET 1 MiB (median of $TARGET_ROUNDS)" "${R[qantara-get-1MiB]}" "nginx GET" "${R[nginx-get-1MiB]}" "≥ 50%"
  row "PUT 1 MiB (median of $TARGET_ROUNDS)" "${R[qantara-put-1MiB]}" "storage (R=2, synced)" "${R[storage-1MiB]}" "≥ 70%"
  row "GET 4 KiB (median of $TARGET_ROUNDS)" "${R[qantara-get-4KiB]}" "nginx GET" "${R[nginx-get-4KiB]}" "≥ 15%"
  row "PUT 4 KiB (median of $TARGET_ROUNDS)" "${R[qantara-put-4KiB]}" "storage (R=2, synced)" "${R[storage-4KiB]}" "≥ 50%"
  row "GET 1 MiB, AsyncHTTPClient load" "${R[qantara-get-ahc-1MiB]}" "nginx GET, same load" "${R[nginx-get-ahc-1MiB]}" "(context)"
  row "PUT 1 MiB, AsyncHTTPClient load" "${R[qantara-put-ahc-1MiB]}" "storage (R=2, synced)" "${R[storage-1MiB]}" "(context)"
  row "GET 4 KiB, AsyncHTTPClient load" "${R[qantara-get-ahc-4KiB]}" "nginx GET, same load" "${R[nginx-get-ahc-4KiB]}" "(context)"
  row "PUT 4 KiB, AsyncHTTPClient load" "${R[qantara-put-ahc-4KiB]}" "storage (R=2, synced)" "${R[storage-4KiB]}" "(context)"
  row "PUT 1 MiB" "${R[qantara-put-1MiB]}" "nginx PUT (WebDAV, not synced)" "${R[nginx-put-1MiB]}" "(context)"
  row "PUT 4 KiB" "${R[qantara-put-4KiB]}" "nginx PUT (WebDAV, not synced)" "${R[nginx-put-4KiB]}" "(context)"
  row "storage 1 MiB, segment files" "${R[storage-1MiB]}" "storage 1 MiB in RocksDB, BlobDB" "${R[storage-blobdb-1MiB]}" "(layout)"
  row "storage 1 MiB in RocksDB, BlobDB" "${R[storage-blobdb-1MiB]}" "storage 1 MiB, no BlobDB" "${R[storage-noblob-1MiB]}" "(layout)"
  row "storage 4 KiB, BlobDB" "${R[storage-4KiB]}" "storage 4 KiB, no BlobDB" "${R[storage-noblob-4KiB]}" "(layout)"
  row "PUT 64 MiB (c=4)" "${R[qantara-put-64MiB]}" "storage 1 MiB" "${R[storage-1MiB]}" "(context)"
  row "GET 64 MiB (c=4)" "${R[qantara-get-64MiB]}" "nginx GET 1 MiB" "${R[nginx-get-1MiB]}" "(context)"
  row "GET 4 KiB beside a refusal flood (median of $TARGET_ROUNDS)" "${R[flood-under]}" "GET 4 KiB alone, alternated" "${R[flood-base]}" "≥ 80%"
  row "refused GETs through FR ($FLOOD_CONCURRENCY clients)" "${R[flood-refusals]}" "GET 4 KiB alone" "${R[flood-base]}" "(context)"
  row "encrypted PUT 1 MiB (median of $ROUNDS)" "${R[encrypted-put-1MiB]}" "plaintext setting PUT 1 MiB" "${R[plaintext-put-1MiB]}" "≥ 85%"
  row "encrypted GET 1 MiB (median of $ROUNDS)" "${R[encrypted-get-1MiB]}" "plaintext setting GET 1 MiB" "${R[plaintext-get-1MiB]}" "≥ 85%"
  row "encrypted PUT 4 KiB (median of $ROUNDS)" "${R[encrypted-put-4KiB]}" "plaintext setting PUT 4 KiB" "${R[plaintext-put-4KiB]}" "≥ 80%"
  row "AES-256-GCM seal, 1 core" "${R[aes-256-gcm-seal]}" "openssl speed aes-256-gcm" "${R[openssl-aes-256-gcm]}" "(ceiling)"
  row "AES-256-GCM open, 1 core" "${R[aes-256-gcm-open]}" "openssl speed aes-256-gcm" "${R[openssl-aes-256-gcm]}" "(ceiling)"
  row "XChaCha20-Poly1305 seal, 1 core" "${R[xchacha20-poly1305-seal]}" "openssl speed chacha20-poly1305" "${R[openssl-xchacha20-poly1305]}" "(ceiling)"
  row "XChaCha20-Poly1305 open, 1 core" "${R[xchacha20-poly1305-open]}" "openssl speed chacha20-poly1305" "${R[openssl-xchacha20-poly1305]}" "(ceiling)"
  cat "$OUT/rebalance/rows.md"
  echo
  echo "Listing a bucket of 10,000 objects, 1,000 keys a page, against the nodes of its jurisdiction:"
  echo
  cat "$OUT/listing/rows.md"
  echo
  echo "A rebalance pass over a quiet jurisdiction (\`qantara node rebalance --wait\`, 1 s polling):"
  echo
  echo "| pass | time | status once done |"
  echo "|---|---|---|"
  cat "$OUT/antientropy/rows.md"
  echo
  echo "2 GiB object through a fresh \`qantara serve\`: PUT ${put_seconds}s, GET ${get_seconds}s; server peak RSS (VmHWM)"
  echo "${rss_before} KiB after start, ${rss_after} KiB after the upload and download (target < 262144 KiB)."
} | tee "$OUT/results.md"
