#!/usr/bin/env bash
# Harness overhead on the candle engine: `nativebench run --engine candle` against a
# minimal direct candle decode loop (examples/candle_direct.rs: candle alone, no recorder,
# no runner), on the same GGUF with the same threads, alternating A B A B. Prints each
# side's median decode step and the ratio of decode t/s, nativebench / direct (the target
# is 0.97 or more), with its 95% interval (`nativebench ratio`: a seeded bootstrap over the
# rounds, as pairs) and a verdict: "within target" only when the whole interval is at 0.97
# or more, else "inconclusive: N more rounds needed" (or "outside target").
#
#   benches/candle-overhead.sh                       # synth:llama-135m:q8_0
#   ROUNDS=5 THREADS=2 MODEL=/path/m.gguf benches/candle-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
PROMPT=${PROMPT:-128}
TOKENS=${TOKENS:-128}
SEQS=${SEQS:-3}
CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
log() { echo "candle-overhead: $*" >&2; }

cargo build --release --quiet --bin nativebench --example candle_direct >&2
TARGET="${CARGO_TARGET_DIR:-target}/release"
NB="$TARGET/nativebench"
DIRECT="$TARGET/examples/candle_direct"
MODEL=${MODEL:-$CACHE/compare/llama-135m-q8_0.gguf}
if [[ ! -f "$MODEL" ]]; then
  mkdir -p "$(dirname "$MODEL")"
  "$NB" model synth --preset llama-135m --quant q8_0 --out "$MODEL" >&2
fi
# candle sizes its CPU pools from these (src/engine/candle/threads.rs); both sides get them.
export CANDLE_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS

for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: direct candle loop"
  "$DIRECT" "$MODEL" "$PROMPT" "$TOKENS" "$SEQS" > "$OUT/direct.$round.json"
  log "round $round/$ROUNDS: nativebench run --engine candle"
  "$NB" run -e candle -m "$MODEL" -t "$THREADS" -w random --random-input-len "$PROMPT" \
    --random-range-ratio 0 --output-len "$TOKENS" --num-prompts "$SEQS" --no-chat \
    -o "$OUT/nb.$round" -q > /dev/null
done

python3 - "$OUT" "$ROUNDS" "$THREADS" "$MODEL" "$NB" <<'PY'
import glob, json, statistics, subprocess, sys
out, rounds, threads, model, nb_bin = sys.argv[1:6]
direct = [json.load(open(p))["decode_step_ms_p50"] for p in sorted(glob.glob(f"{out}/direct.*.json"))]
nb = [json.load(open(f"{d}/metrics.json"))["decode_step_ms"]["p50"] for d in sorted(glob.glob(f"{out}/nb.*"))]
med = statistics.median
print(f"model {model}, {threads} threads, {rounds} rounds alternating direct / nativebench")
print("| side | decode step p50 (ms), median of rounds | min..max | decode t/s |")
print("| --- | ---: | ---: | ---: |")
for name, xs in (("direct candle loop", direct), ("nativebench run -e candle", nb)):
    print(f"| {name} | {med(xs):.3f} | {min(xs):.3f}..{max(xs):.3f} | {1e3 / med(xs):.1f} |")
ratio = med(direct) / med(nb)
# Decode t/s per round, paired by round (A B alternate within a round).
tps = lambda xs: ",".join(str(1e3 / x) for x in xs)
ci = json.loads(subprocess.run(
    [nb_bin, "ratio", "--paired", "--band", "0.97,inf", "--format", "json",
     "--base", tps(direct), "--new", tps(nb)],
    check=True, capture_output=True, text=True).stdout)
print(f"\ndecode t/s ratio nativebench / direct: {ratio:.3f}, 95% interval "
      f"{ci['lo']:.3f}..{ci['hi']:.3f} (target >= 0.97): {ci['verdict']}")
for name, xs in (("direct", direct), ("nativebench", nb)):
    if len(xs) > 1 and statistics.stdev(xs) / statistics.mean(xs) > 0.05:
        print(f"noisy: {name} varies by more than 5% across rounds; rerun on a quiet machine")
PY
