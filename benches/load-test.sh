#!/usr/bin/env bash
# Load test (issue 15): REQUESTS requests (10,000) at CONCURRENCY (256) from `run --engine
# http` against `serve --engine sim --sim-batch 64` on loopback. It stops by itself (each
# step under `timeout`) and fails unless the harness made no error and every request was
# recorded exactly once: the samples are counted, and their ids checked to be distinct
# and to cover every request. It prints the client's wall time, requests/s, peak RSS and
# CPU per request (/usr/bin/time -v), and the server's CPU per request.
#   benches/load-test.sh                        # builds the release binary if needed
#   REQUESTS=2000 CONCURRENCY=64 benches/load-test.sh
#   NATIVEBENCH_BIN=path/to/nativebench benches/load-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

BIN="${NATIVEBENCH_BIN:-}"
if [[ -z "$BIN" ]]; then
  cargo build --release --locked -q >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
REQUESTS="${REQUESTS:-10000}"
CONCURRENCY="${CONCURRENCY:-256}"
OUTPUT_LEN="${OUTPUT_LEN:-16}"
LIMIT_S="${LIMIT_S:-600}"
WORK=$(mktemp -d)
SERVE_PID=""
trap '[[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

timeout "$LIMIT_S" "$BIN" serve --engine sim --sim-batch 64 --port 0 \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
URL=$(wait_for_url "$WORK")

# The serve process itself (timeout's child), for its CPU time.
SERVER=$(pgrep -P "$SERVE_PID" | head -n1 || true)
SERVER=${SERVER:-$SERVE_PID}
before=$(cpu_s "$SERVER")

set +e
timeout "$LIMIT_S" /usr/bin/time -v -o "$WORK/time.txt" "$BIN" run --engine http --url "$URL" \
  --workload short --num-prompts "$REQUESTS" --concurrency "$CONCURRENCY" --warmup 0 \
  --output-len "$OUTPUT_LEN" --timeout 120 --quiet --out "$WORK/run" >"$WORK/run.out" 2>"$WORK/run.err"
rc=$?
set -e
after=$(cpu_s "$SERVER")

fail=0
if [[ $rc -ne 0 ]]; then echo "FAIL: the client exited $rc" >&2; fail=1; fi
if grep -qiE 'error|panicked' "$WORK/run.err"; then
  echo "FAIL: harness errors:" >&2; head -n 20 "$WORK/run.err" >&2; fail=1
fi
SAMPLES=$(wc -l <"$WORK/run/samples.jsonl")
DISTINCT=$(jq -r '"\(.request_id)/\(.repetition)"' "$WORK/run/samples.jsonl" | sort -u | wc -l)
OK=$(jq -c 'select(.ok)' "$WORK/run/samples.jsonl" | wc -l)
MAX_ID=$(jq -s 'map(.request_id) | max' "$WORK/run/samples.jsonl")
RECORDED=$(jq '.num_requests' "$WORK/run/metrics.json")
for check in "samples $SAMPLES" "distinct $DISTINCT" "ok $OK" "metrics.json num_requests $RECORDED"; do
  if [[ "${check##* }" != "$REQUESTS" ]]; then echo "FAIL: $check, not $REQUESTS" >&2; fail=1; fi
done
if [[ "$MAX_ID" != $((REQUESTS - 1)) ]]; then echo "FAIL: request ids end at $MAX_ID" >&2; fail=1; fi

field() { sed -n "s/^[[:space:]]*$1: //p" "$WORK/time.txt"; }
WALL=$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)' | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
USER=$(field 'User time (seconds)')
SYS=$(field 'System time (seconds)')
RSS_KB=$(field 'Maximum resident set size (kbytes)')
awk -v n="$REQUESTS" -v c="$CONCURRENCY" -v wall="$WALL" -v u="$USER" -v s="$SYS" -v rss="$RSS_KB" \
  -v srv="$(awk -v a="$before" -v b="$after" 'BEGIN { print b - a }')" \
  -v samples="$SAMPLES" -v distinct="$DISTINCT" -v ok="$OK" 'BEGIN {
    printf "requests %d, concurrency %d: %d samples, %d distinct, %d ok\n", n, c, samples, distinct, ok
    printf "client: wall %.2f s (%.0f req/s), peak RSS %.1f MiB, CPU %.2f s user + %.2f s sys = %.1f us per request\n",
      wall, n / wall, rss / 1024, u, s, (u + s) / n * 1e6
    printf "server: CPU %.2f s = %.1f us per request\n", srv, srv / n * 1e6
  }'
if [[ $fail -ne 0 ]]; then exit 1; fi
echo "PASS: zero harness errors, every request recorded exactly once"
