#!/usr/bin/env bash
# Batched decoding on the llama.cpp engine: total decode t/s with SEQS sequences decoded
# together in one context, against one sequence at a time. llama.cpp's own
# llama-batched-bench, built from the same llama.cpp (benches/llama-cpp-tools.sh), runs the
# same shapes beside it as the reference. Rounds alternate the four runs; the table gives
# medians and min..max over the rounds.
#
#   benches/batched-decode.sh                        # synth:llama-135m:q8_0, 4 sequences
#   SEQS=8 TOKENS=128 ROUNDS=5 MODEL=/path/m.gguf benches/batched-decode.sh
#
# Total decode t/s counts every decode step's tokens (all output tokens but each
# sequence's first, which prefill produced) over the wall time from the last first token
# to the last token: for SEQS=1 runs, the sum of the per-request decode times.
set -euo pipefail
cd "$(dirname "$0")/.."

SEQS=${SEQS:-4}
PROMPT=${PROMPT:-32}
TOKENS=${TOKENS:-64}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
log() { echo "batched-decode: $*" >&2; }

LLAMA_BIN=$(benches/llama-cpp-tools.sh)
if [[ ! -x "$LLAMA_BIN/llama-batched-bench" ]]; then
  log "building llama-batched-bench"
  cmake --build "$(dirname "$LLAMA_BIN")" --target llama-batched-bench -j "$(nproc)" >&2
fi
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

for round in $(seq 1 "$ROUNDS"); do
  for n in 1 "$SEQS"; do
    log "round $round/$ROUNDS: nativebench, $n sequence(s) together"
    "$NB" run -e llama-cpp -m "$MODEL" -w random --random-input-len "$PROMPT" \
      --random-range-ratio 0 --output-len "$TOKENS" --num-prompts "$SEQS" \
      --concurrency "$n" -t "$THREADS" -c $((SEQS * (PROMPT + TOKENS + 64))) \
      -o "$OUT/nb.$n.$round" -q > /dev/null
  done
  log "round $round/$ROUNDS: llama-batched-bench, 1 and $SEQS sequences"
  "$LLAMA_BIN/llama-batched-bench" -m "$MODEL" -c $((SEQS * (PROMPT + TOKENS + 64))) \
    -npp "$PROMPT" -ntg "$TOKENS" -npl "1,$SEQS" -t "$THREADS" --output-format jsonl \
    > "$OUT/ref.$round.jsonl" 2>/dev/null
done

python3 - "$OUT" "$SEQS" "$ROUNDS" "$THREADS" "$MODEL" <<'PY'
import glob, json, statistics, sys
out, seqs, rounds, threads, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def decode_rate(run_dir):
    rs = [json.loads(l) for l in open(f"{run_dir}/samples.jsonl")]
    rs = [r for r in rs if r["ok"]]
    steps = sum(len(r["token_ms"]) - 1 for r in rs)
    # Absolute times of each request's first and last token, ms since the run started.
    first = [r["start_ms"] + r["token_ms"][0] for r in rs]
    last = [r["start_ms"] + r["token_ms"][-1] for r in rs]
    together = max(first) < min(last)
    if together:
        wall = max(last) - max(first)
    else:
        wall = sum(l - f for f, l in zip(first, last))
    return steps / wall * 1e3

def spread(xs):
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}..{max(xs):.1f})"

nb = {n: [decode_rate(d) for d in sorted(glob.glob(f"{out}/nb.{n}.*"))] for n in (1, seqs)}
ref = {1: [], seqs: []}
for p in sorted(glob.glob(f"{out}/ref.*.jsonl")):
    for line in open(p):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r["pl"] in ref:
            ref[r["pl"]].append(r["speed_tg"])

print(f"model {model}, {threads} threads, {rounds} rounds; total decode t/s, median (min..max)")
print(f"| sequences | nativebench run | llama-batched-bench |")
print(f"| ---: | ---: | ---: |")
for n in (1, seqs):
    print(f"| {n} | {spread(nb[n])} | {spread(ref[n])} |")
g_nb = statistics.median(nb[seqs]) / statistics.median(nb[1])
g_ref = statistics.median(ref[seqs]) / statistics.median(ref[1])
print(f"\ngain from {seqs} sequences: nativebench x{g_nb:.2f}, llama-batched-bench x{g_ref:.2f}")
noisy = [f"{k} {n}" for k, d in (("nativebench", nb), ("llama-batched-bench", ref)) for n, xs in d.items()
         if len(xs) > 1 and statistics.stdev(xs) / statistics.mean(xs) > 0.05]
if noisy:
    print(f"noisy: CV above 5% for {', '.join(noisy)}; rerun on a quiet machine")
PY
