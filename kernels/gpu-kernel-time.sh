#!/usr/bin/env bash
# Splits one candle decode step on the GPU into kernel time and idle time, with Nsight
# Compute: the CUDA-event device time of a step counts every moment between its first and
# last event, including the gaps where the GPU waits for the host to launch the next
# kernel; ncu's gpu__time_duration summed over the step's kernels (selected by the step's
# NVTX range, `decode 3`) counts only the kernels. The difference is launch-bound idle.
#
#     kernels/gpu-kernel-time.sh [--archive FILE] [--presets "llama-135m:q8_0 llama-1b:q4_k"]
#
# Writes kernels.csv (every kernel of the step: name and duration) per model and prints
# one line per model. Needs ncu (Nsight Compute) and python3; run it on the GPU machine
# (on Firecracker machines ncu reads the counters; --clock-control none leaves the clocks
# as the benchmark runs them).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
archive="$here/dist/nativebench-cuda.tar.xz"
presets="llama-135m:q8_0 llama-1b:q4_k"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --archive) archive="$2"; shift 2 ;;
        --presets) presets="$2"; shift 2 ;;
        *) echo "gpu-kernel-time: unknown argument $1" >&2; exit 2 ;;
    esac
done
out="${OUT:-$PWD/gpu-kernel-time-out}"
mkdir -p "$out"
work="$(mktemp -d)"
tar -C "$work" -xJf "$archive" || exit 1
bin="$work/nativebench-cuda/nativebench"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [[ -e "$d/libcuda.so.1" ]] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
ncu="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n1)"
[[ -n "$ncu" ]] || { echo "gpu-kernel-time: ncu not found" >&2; exit 1; }

for spec in $presets; do
    preset="${spec%%:*}" quant="${spec##*:}"
    model="$work/$preset-$quant.gguf"
    "$bin" model synth --preset "$preset" --quant "$quant" --out "$model" >/dev/null || exit 1
    args=(run --engine candle --device cuda:0 --model "$model" --workload random
        --random-input-len 128 --output-len 8 --num-prompts 1 --quiet)
    # The step's event time, without a profiler attached.
    "$bin" "${args[@]}" --warmup 1 --out "$work/run-$preset" >/dev/null 2>&1 || exit 1
    "$ncu" --clock-control none --nvtx --nvtx-include "decode 3/" \
        --metrics gpu__time_duration.sum --csv "$bin" "${args[@]}" --warmup 0 \
        --out "$work/ncu-$preset" > "$work/ncu-$preset.csv" 2> "$work/ncu-$preset.err" ||
        { echo "gpu-kernel-time: ncu failed:"; tail -5 "$work/ncu-$preset.err"; } >&2
    grep -c '"gpu__time_duration.sum"' "$work/ncu-$preset.csv" >/dev/null ||
        { echo "gpu-kernel-time: ncu profiled no kernel:"; grep -v '^"' "$work/ncu-$preset.csv" | tail -5; } >&2
    python3 - "$work/ncu-$preset.csv" "$work/run-$preset/samples.jsonl" "$preset-$quant" \
        "$out/kernels-$preset-$quant.csv" <<'EOF'
import csv, json, sys
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))
        if r.get("Metric Name") == "gpu__time_duration.sum"]
# ncu names units either way, by version: "nsecond" or "ns".
scale = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0,
         "second": 1e3, "s": 1e3}
units = {r["Metric Unit"] for r in rows} - scale.keys()
if units:
    sys.exit(f"gpu-kernel-time: unknown ncu time units {sorted(units)}")
ms = [float(r["Metric Value"].replace(",", "")) * scale[r["Metric Unit"]] for r in rows]
with open(sys.argv[4], "w") as f:
    w = csv.writer(f)
    w.writerow(["kernel", "duration_ms"])
    for r, t in zip(rows, ms):
        w.writerow([r["Kernel Name"][:120], f"{t:.5f}"])
rec = json.loads(open(sys.argv[2]).readline())
step = rec["decode_step_device_ms"][2]
host = rec["token_ms"][3] - rec["token_ms"][2]
busy = sum(ms)
print(f"{sys.argv[3]}: decode step 3: host {host:.3f} ms, CUDA events {step:.3f} ms, "
      f"{len(ms)} kernels busy {busy:.3f} ms ({busy / step * 100:.1f}% of the event time), "
      f"idle {step - busy:.3f} ms, {(step - busy) / max(len(ms), 1) * 1000:.1f} us per kernel launch")
EOF
done
rm -rf "$work"
