#!/usr/bin/env bash
# Prefix reuse on a shared-prefix workload (the built-in `shared-prefix`: groups of
# prompts that share a system prompt): the llama.cpp engine in-process without and with
# --prefix-cache, and llama-server (built from the same llama.cpp by
# benches/llama-cpp-tools.sh) with --no-cache-prompt and with its default prompt cache,
# driven by nativebench's load generator one request at a time. Rounds alternate the four
# runs; the table gives, per run, the median over rounds of the p50 prefill (in-process)
# or TTFT (served) and the prefix hit rate, then the ratios with/without reuse.
#
#   benches/prefix-cache.sh                               # synth:llama-135m:q8_0, 3 rounds
#   ROUNDS=5 MODEL=/path/m.gguf NATIVEBENCH_BIN=target/release/nativebench benches/prefix-cache.sh
#   WORKLOAD=my-shared-prefix.yaml benches/prefix-cache.sh   # another shared_prefix workload
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
log() { echo "prefix-cache: $*" >&2; }

NB=${NATIVEBENCH_BIN:-}
if [[ -z "$NB" ]]; then
  cargo build --release --quiet >&2
  NB="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
MODEL=${MODEL:-$CACHE/compare/llama-135m-q8_0.gguf}
if [[ ! -f "$MODEL" ]]; then
  mkdir -p "$(dirname "$MODEL")"
  "$NB" model synth --preset llama-135m --quant q8_0 --out "$MODEL" >&2
fi
LLAMA_SERVER=${NATIVEBENCH_LLAMA_SERVER:-$(benches/llama-cpp-tools.sh)/llama-server}

# The same workload every time (by default 16 prompts, a 512-token system prompt per
# group of 4), one request at a time.
common=(-w "${WORKLOAD:-shared-prefix}" --warmup 0 --concurrency 1 -q)
for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS"
  "$NB" run -e llama-cpp -m "$MODEL" -t "$THREADS" "${common[@]}" \
    -o "$OUT/in-process-off.$round" > /dev/null
  "$NB" run -e llama-cpp -m "$MODEL" -t "$THREADS" --prefix-cache "${common[@]}" \
    -o "$OUT/in-process-on.$round" > /dev/null
  "$NB" run --launch "$LLAMA_SERVER $MODEL -t $THREADS -np 1 --no-cache-prompt" \
    --model "$MODEL" "${common[@]}" -o "$OUT/llama-server-off.$round" > /dev/null
  "$NB" run --launch "$LLAMA_SERVER $MODEL -t $THREADS -np 1" \
    --model "$MODEL" "${common[@]}" -o "$OUT/llama-server-on.$round" > /dev/null
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def figures(name, metric):
    vals, hits = [], []
    for r in range(1, rounds + 1):
        m = json.load(open(f"{out}/{name}.{r}/metrics.json"))
        vals.append(m[metric]["p50"])
        hits.append(m.get("prefix_hit_rate") or 0.0)
    return vals, statistics.median(hits)
print(f"{'run':<20}{'figure':<16}{'p50 ms (median)':>16}{'min..max':>20}{'hit rate':>10}")
med = {}
for name, metric in [("in-process-off", "prefill_ms"), ("in-process-on", "prefill_ms"),
                     ("llama-server-off", "ttft_ms"), ("llama-server-on", "ttft_ms")]:
    v, hit = figures(name, metric)
    med[name] = statistics.median(v)
    print(f"{name:<20}{metric:<16}{med[name]:>16.2f}{f'{min(v):.2f}..{max(v):.2f}':>20}{hit:>10.3f}")
for side in ["in-process", "llama-server"]:
    print(f"{side}: with reuse / without = {med[side + '-on'] / med[side + '-off']:.3f}")
PY
