#!/usr/bin/env bash
# nativebench bench against llama.cpp's own llama-bench, built from the same llama.cpp
# (benches/llama-cpp-tools.sh), on the same GGUF with the same threads, alternating
# A B A B. Prints each side's median t/s for pp512 and tg128 and the ratio
# nativebench / llama-bench (1.00 = identical; the target is within 3%).
#
#   benches/compare-llama-bench.sh                 # synth:llama-135m:q8_0 and gemma3-270m
#   ROUNDS=5 THREADS=2 MODELS="/path/a.gguf" benches/compare-llama-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REPS=${REPS:-5}
THREADS=${THREADS:-$(nproc)}
CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

LLAMA_BIN=$(benches/llama-cpp-tools.sh)
NB=${NATIVEBENCH_BIN:-}
if [[ -z "$NB" ]]; then
  cargo build --release --quiet >&2
  NB="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi

if [[ -z "${MODELS:-}" ]]; then
  synth="$CACHE/compare/llama-135m-q8_0.gguf"
  if [[ ! -f "$synth" ]]; then
    mkdir -p "$(dirname "$synth")"
    "$NB" model synth --preset llama-135m --quant q8_0 --out "$synth" >&2
  fi
  MODELS="$synth $(models/fetch-gemma3-270m.sh)"
fi

for model in $MODELS; do
  name=$(basename "$model" .gguf)
  for round in $(seq 1 "$ROUNDS"); do
    echo "compare: $name round $round/$ROUNDS: llama-bench" >&2
    "$LLAMA_BIN/llama-bench" -m "$model" -p 512 -n 128 -r "$REPS" -t "$THREADS" -o json \
      > "$OUT/$name.a.$round.json" 2>/dev/null
    echo "compare: $name round $round/$ROUNDS: nativebench bench" >&2
    "$NB" bench -e llama-cpp -m "$model" -p 512 -n 128 -r "$REPS" -t "$THREADS" -o json \
      --out "$OUT/$name.run.$round" > "$OUT/$name.b.$round.json"
  done
done

python3 - "$OUT" "$THREADS" "$REPS" <<'PY'
import glob, json, os, statistics, sys
out, threads, reps = sys.argv[1], sys.argv[2], sys.argv[3]
names = sorted({os.path.basename(p).split(".a.")[0] for p in glob.glob(f"{out}/*.a.*.json")})
print(f"threads {threads}, {reps} repetitions per run, rounds alternating llama-bench / nativebench")
print(f"| model | test | llama-bench t/s (median) | nativebench t/s (median) | ratio |")
print(f"| --- | --- | ---: | ---: | ---: |")
worst = 0.0
for name in names:
    for test, key in (("pp512", lambda r: r["n_prompt"] == 512 and r["n_gen"] == 0),
                      ("tg128", lambda r: r["n_prompt"] == 0 and r["n_gen"] == 128)):
        a = [r["avg_ts"] for p in sorted(glob.glob(f"{out}/{name}.a.*.json")) for r in json.load(open(p)) if key(r)]
        b = [r["avg_ts"] for p in sorted(glob.glob(f"{out}/{name}.b.*.json")) for r in json.load(open(p)) if key(r)]
        if not a or not b:
            print(f"| {name} | {test} | missing | missing | - |")
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        worst = max(worst, abs(mb / ma - 1))
        print(f"| {name} | {test} | {ma:.2f} | {mb:.2f} | {mb / ma:.3f} |")
print(f"largest deviation: {worst * 100:.1f}% (target: within 3%)")
PY
