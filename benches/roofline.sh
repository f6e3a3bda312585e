#!/usr/bin/env bash
# The probe against an independent measurement, and llama.cpp's decode against the
# roofline (issue 17). Side by side, in one invocation:
#   1. `nativebench env --probe` (read bandwidth at 1..N threads), into a fresh cache;
#   2. a STREAM-style read kernel in C (benches/stream_read.c, gcc -O3 -march=native
#      -fopenmp: each thread sums its own slice of a 1 GiB array of doubles, best of 5),
#      at the same thread counts; the two alternate for ROUNDS rounds (default 3) and
#      each keeps its best, so load from other processes hits both alike; the ratio of
#      the two per thread count;
#   3. `nativebench run --engine llama-cpp` on synthetic models (llama-135m q8_0 and
#      llama-1b q8_0, plus gemma3-270m where models/fetch-gemma3-270m.sh has fetched it):
#      decode tok/s, bytes per token, decode_mbu and roofline_decode_tok_s from that cache.
#   benches/roofline.sh
#   THREADS=2 OUTPUT_LEN=128 MODELS="synth:llama-135m:q8_0" benches/roofline.sh
#   NATIVEBENCH_BIN=path/to/nativebench benches/roofline.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${NATIVEBENCH_BIN:-}"
if [[ -z "$BIN" ]]; then
    cargo build --release --locked --bin nativebench >&2
    BIN="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
N="${THREADS:-$(nproc)}"
OUTPUT_LEN="${OUTPUT_LEN:-128}"
MODELS="${MODELS:-synth:llama-135m:q8_0 synth:llama-1b:q8_0 gemma3-270m}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export NATIVEBENCH_PROBE="$WORK/probe.json"

gcc -O3 -march=native -fopenmp benches/stream_read.c -o "$WORK/stream_read"
ROUNDS="${ROUNDS:-3}"
: > "$WORK/c.txt"
for r in $(seq 1 "$ROUNDS"); do
    start=$(date +%s.%N)
    "$BIN" env --probe --probe-threads "$N" --format json > "$WORK/probe-$r.json"
    echo "round $r: probe took $(echo "$(date +%s.%N) - $start" | bc) s" >&2
    for t in $(seq 1 "$N"); do
        echo "$t $(OMP_NUM_THREADS=$t OMP_PROC_BIND=spread "$WORK/stream_read" 2> /dev/null)" >> "$WORK/c.txt"
    done
done
# The last probe is the one in the cache; the table takes each side's best round.
echo "| threads | nativebench probe GB/s (best of $ROUNDS) | STREAM-style C read GB/s (best of $ROUNDS) | probe / C |"
echo "| ---: | ---: | ---: | ---: |"
python3 - "$WORK" "$ROUNDS" "$N" <<'PY'
import json, sys
work, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
probe = {}
for r in range(1, rounds + 1):
    for e in json.load(open(f"{work}/probe-{r}.json"))["cpu"]:
        probe[e["threads"]] = max(probe.get(e["threads"], 0), e["read_gb_s"])
c = {}
for line in open(f"{work}/c.txt"):
    t, v = line.split()
    c[int(t)] = max(c.get(int(t), 0), float(v))
for t in range(1, n + 1):
    print(f"| {t} | {probe[t]:.2f} | {c[t]:.2f} | {probe[t] / c[t]:.3f} |")
PY

echo
echo "| model | threads | decode tok/s | bytes/token (MB) | roofline tok/s | decode MBU |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for m in $MODELS; do
    if [[ "$m" == gemma3-270m ]] && ! "$BIN" model inspect "$m" > /dev/null 2>&1; then
        echo "| $m | - | not fetched (models/fetch-gemma3-270m.sh) | | | |"
        continue
    fi
    out="$WORK/run-${m//[:\/]/_}"
    "$BIN" run -e llama-cpp -m "$m" -t "$N" --prompt "Tell me about memory bandwidth." \
        --output-len "$OUTPUT_LEN" --warmup 1 -r 3 -q -o "$out" --format json > /dev/null
    python3 - "$out/metrics.json" "$m" "$N" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
r = m.get("roofline", {})
f = lambda v, fmt: format(v, fmt) if v is not None else "-"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {f(m['decode_tok_s']['mean'], '.1f')} | "
      f"{f(r.get('decode_bytes_per_token', 0) / 1e6, '.1f')} | "
      f"{f(r.get('roofline_decode_tok_s'), '.1f')} | {f(r.get('decode_mbu'), '.3f')} |")
PY
done
