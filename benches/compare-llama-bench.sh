#!/usr/bin/env bash
# nativebench bench against llama.cpp's own llama-bench, built from the same llama.cpp
# (benches/llama-cpp-tools.sh), on the same GGUF with the same threads, alternating
# A B B A (counterbalanced). Prints each side's median t/s for pp512 and tg128, the ratio
# nativebench / llama-bench (1.00 = identical; the target is within 3%) with its 95%
# interval (`nativebench ratio`: a seeded bootstrap over rounds, resampled as pairs), and a
# verdict: "within target" only when the whole interval lies inside 0.97..1.03, else
# "inconclusive: N more rounds needed" (or "outside target").
#
#   benches/compare-llama-bench.sh                 # synth:llama-135m:q8_0 and gemma3-270m
#   ROUNDS=8 REPS=3 THREADS=2 MODELS="/path/a.gguf" benches/compare-llama-bench.sh
# Many short rounds (default 24 of 2 repetitions) average out a host whose speed drifts.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-24}
REPS=${REPS:-2}
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

run_a() {
  echo "compare: $name round $round/$ROUNDS: llama-bench" >&2
  "$LLAMA_BIN/llama-bench" -m "$model" -p 512 -n 128 -r "$REPS" -t "$THREADS" -o json \
    > "$OUT/$name.a.$round.json" 2>/dev/null
}
run_b() {
  echo "compare: $name round $round/$ROUNDS: nativebench bench" >&2
  "$NB" bench -e llama-cpp -m "$model" -p 512 -n 128 -r "$REPS" -t "$THREADS" -o json \
    --out "$OUT/$name.run.$round" > "$OUT/$name.b.$round.json"
}

# Rounds go A B, B A, A B, ...: the order is counterbalanced, so a machine whose speed
# drifts during the comparison favours neither side.
for model in $MODELS; do
  name=$(basename "$model" .gguf)
  for round in $(seq 1 "$ROUNDS"); do
    if (( round % 2 )); then run_a; run_b; else run_b; run_a; fi
  done
done

python3 - "$OUT" "$THREADS" "$REPS" "$NB" <<'PY'
import glob, json, os, statistics, subprocess, sys
out, threads, reps, nb = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
names = sorted({os.path.basename(p).split(".a.")[0] for p in glob.glob(f"{out}/*.a.*.json")})
print(f"threads {threads}, {reps} repetitions per run, rounds counterbalanced (A B, B A, ...)")
print("| model | test | llama-bench t/s median (min..max) | nativebench t/s median (min..max) | ratio of medians | 95% interval | paired ratio median | verdict (0.97..1.03) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
worst, noisy, verdicts = 0.0, [], []
def per_round(name, side, key):
    runs = {}
    for p in glob.glob(f"{out}/{name}.{side}.*.json"):
        rnd = int(p.rsplit(".", 2)[1])
        runs[rnd] = [r["avg_ts"] for r in json.load(open(p)) if key(r)]
    return {k: v[0] for k, v in runs.items() if v}
for name in names:
    for test, key in (("pp512", lambda r: r["n_prompt"] == 512 and r["n_gen"] == 0),
                      ("tg128", lambda r: r["n_prompt"] == 0 and r["n_gen"] == 128)):
        a, b = per_round(name, "a", key), per_round(name, "b", key)
        if not a or not b:
            print(f"| {name} | {test} | missing | missing | - | - | - | - |")
            continue
        ma, mb = statistics.median(a.values()), statistics.median(b.values())
        paired = statistics.median(b[k] / a[k] for k in a if k in b)
        rounds = sorted(k for k in a if k in b)
        ci = json.loads(subprocess.run(
            [nb, "ratio", "--paired", "--band", "0.97,1.03", "--format", "json",
             "--base", ",".join(str(a[k]) for k in rounds),
             "--new", ",".join(str(b[k]) for k in rounds)],
            check=True, capture_output=True, text=True).stdout)
        worst = max(worst, abs(mb / ma - 1))
        for side, v in (("llama-bench", a), ("nativebench", b)):
            spread = (max(v.values()) - min(v.values())) / statistics.median(v.values())
            if spread > 0.05:
                noisy.append(f"{name} {test} {side}: runs spread {spread * 100:.0f}% of the median")
        cell = lambda m, v: f"{m:.2f} ({min(v.values()):.1f}..{max(v.values()):.1f})"
        verdicts.append(ci["verdict"])
        print(f"| {name} | {test} | {cell(ma, a)} | {cell(mb, b)} | {mb / ma:.3f} | "
              f"{ci['lo']:.3f}..{ci['hi']:.3f} | {paired:.3f} | {ci['verdict']} |")
print(f"largest deviation: {worst * 100:.1f}% (target: within 3%)")
settled = sum(v == "within target" for v in verdicts)
print(f"{settled} of {len(verdicts)} ratios within target by their 95% interval")
for n in noisy:
    print(f"warning: noisy: {n}")
PY
