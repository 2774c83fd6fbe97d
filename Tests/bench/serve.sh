# Sourced by the benchmark scripts: `serve_fresh PORT` starts a fresh `qantara serve` ($BIN) with its data under
# $OUT/data (MA on PORT, FR and US on the next two), stops it by PID when the script exits, waits until it serves,
# exports the root credentials for the load generator, and sets ENDPOINT and `cli` (the admin commands against it).
serve_fresh() {
  local port="$1"
  rm -rf "$OUT"
  mkdir -p "$OUT"
  "$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$port" --gateway "FR=127.0.0.1:$(( port + 1 ))" \
    --gateway "US=127.0.0.1:$(( port + 2 ))" > "$OUT/serve.log" 2>&1 &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do grep -q "Qantara is serving" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  AWS_ACCESS_KEY_ID=$("$PYTHON" -c "import json;print(json.load(open('$OUT/data/root-credentials'))['accessKeyId'])")
  AWS_SECRET_ACCESS_KEY=$("$PYTHON" -c "import json;print(json.load(open('$OUT/data/root-credentials'))['secretAccessKey'])")
  ENDPOINT="http://127.0.0.1:$port"
}
cli() { "$BIN" "$@" --endpoint "$ENDPOINT" --data "$OUT/data"; }
