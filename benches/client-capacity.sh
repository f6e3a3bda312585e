#!/usr/bin/env bash
# Client capacity of the http engine's load generator: drives `nativebench serve --engine
# sim` with every delay at zero, so the server does almost nothing and the client's own
# cost shows. Prints, per concurrency (64 and 256): streamed tokens/s ingested, and the
# client-added latency per request (E2E minus the server's reported queue wait and engine
# time: network, HTTP and serialization on both sides, an upper bound on the client's
# share) at p50 and p99. Client and server share this machine's cores.
#   benches/client-capacity.sh            # builds target/release/nativebench if needed
#   NATIVEBENCH_BIN=path/to/nativebench OUTPUT_LEN=256 PROMPTS_PER_SLOT=8 benches/client-capacity.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${NATIVEBENCH_BIN:-}"
if [[ -z "$BIN" ]]; then
  cargo build --release --no-default-features -q >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
OUTPUT_LEN="${OUTPUT_LEN:-256}"
PER_SLOT="${PROMPTS_PER_SLOT:-8}"
CONCURRENCIES="${CONCURRENCIES:-64 256}"
WORK=$(mktemp -d)
trap 'kill "$SERVE_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" serve --engine sim --sim-template-ms 0 --sim-tokenize-ms-per-kb 0 --sim-prefill-ms 0 \
  --sim-prefill-ms-per-token 0 --sim-decode-ms 0 --port 0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/^listening on //p' "$WORK/serve.out" | head -n1)
  [[ -n "$URL" ]] && break
  sleep 0.1
done
[[ -n "$URL" ]] || { echo "serve did not start:" >&2; cat "$WORK/serve.err" >&2; exit 1; }

printf '%-12s %10s %12s %14s %18s %18s %8s\n' concurrency requests "out tok/s" "chunk ITL p50" "client-added p50" "client-added p99" errors
for C in $CONCURRENCIES; do
  N=$((C * PER_SLOT))
  "$BIN" run --engine http --url "$URL" --served-model sim --workload short --num-prompts "$N" \
    --output-len "$OUTPUT_LEN" --concurrency "$C" --warmup "$C" --timeout 120 --quiet \
    --out "$WORK/c$C" --format json >/dev/null
  jq -r --arg c "$C" '[ $c, .num_requests, (.output_throughput_tok_s|floor),
      (.itl_ms.p50*1000|floor/1000), (.engine_timings_ms.http_overhead_ms.p50*1000|floor/1000),
      (.engine_timings_ms.http_overhead_ms.p99*1000|floor/1000), .failed ] | @tsv' "$WORK/c$C/metrics.json" |
    awk -F'\t' '{ printf "%-12s %10s %12s %11s ms %15s ms %15s ms %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
done
echo "(server: nativebench serve --engine sim, zero delays; $(nproc) cores shared by client and server)"
