#!/usr/bin/env bash
# Verifies a CUDA build of nativebench on a GPU machine in one call (kernels/gpu-build.sh
# makes the archive), and writes every figure and a pass/fail per check to $OUT:
#
#     kernels/gpu-verify.sh [--archive kernels/dist/nativebench-cuda.tar.xz | --bin FILE]
#                           [--device cuda:0|cpu] [--presets "llama-135m llama-1b"]
#
# Steps: `env` (the GPU, driver and memory through NVML); synthetic models generated here;
# `run --engine candle --device D` on each, as complete run directories; `bench -p 512
# -n 128`; the NVTX ranges of a run, recorded by an NVTX injection library; agreement of
# candle on D with llama.cpp on the CPU for an f32 model. kernels/gpu-checks.py then checks
# them (device time <= host time for every prefill and decode step, exact output lengths,
# NVML fields in metrics.json, ...) into summary.json and summary.md.
#
# `--device cpu` runs the same steps on the CPU (CI's dry run); checks that need a GPU
# are reported as skipped there, never as passed. Needs: bash, tar, xz, python3 (stdlib).
# The CUDA libraries the binary needs besides the driver (cuBLAS, cuRAND, NVRTC, the
# runtime) are looked up at run time among the nvidia-* wheels of the machine's Python
# when the loader does not find them.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
t_start=$SECONDS

archive="$here/dist/nativebench-cuda.tar.xz"
bin=""
device="cuda:0"
presets=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --archive) archive="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --presets) presets="$2"; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "gpu-verify: unknown argument $1" >&2; exit 2 ;;
    esac
done
out="${OUT:-$PWD/gpu-verify-out}"
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/nb-verify.XXXXXX")"
log="$out/verify.log"
: > "$log"
say() { echo "gpu-verify: $*" | tee -a "$log" >&2; }

# The sizes: an H200 runs the 1B-class model and llama-bench's pp512/tg128 in seconds;
# the CPU dry run keeps the steps and shrinks the work.
if [[ "$device" == cpu ]]; then
    presets="${presets:-tiny}"
    quants="f32 q8_0 q4_k f16"
    bench_args=(-p 64 -n 16 -r 2)
    run_len=(--random-input-len 32 --output-len 16 --num-prompts 3)
    agree_preset="tiny"
else
    presets="${presets:-llama-135m llama-1b}"
    quants="q8_0 q4_k f16"
    bench_args=(-p 512 -n 128 -r 5)
    run_len=(--random-input-len 128 --output-len 128 --num-prompts 5)
    agree_preset="llama-135m"
fi

# The binary: unpacked from the archive unless given.
lib_dir=""
if [[ -z "$bin" ]]; then
    [[ -f "$archive" ]] || { say "no archive at $archive (run kernels/gpu-build.sh)"; exit 1; }
    tar -C "$work" -xJf "$archive" || { say "cannot unpack $archive"; exit 1; }
    bin="$work/nativebench-cuda/nativebench"
    cp "$work/nativebench-cuda/BUILD.txt" "$out/" 2>/dev/null
    lib_dir="$work/nativebench-cuda"
fi
[[ -x "$bin" ]] || { say "$bin is not an executable"; exit 1; }
inject="${NATIVEBENCH_NVTX_RECORDER:-$lib_dir/libnvtx-record.so}"

# Libraries the loader cannot find: first the archive's own (system libraries the build
# machine had, such as libgomp), then the machine's Python packages (the nvidia-* wheels
# carry cuBLAS, cuRAND, NVRTC and the CUDA runtime).
missing_libs() { ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}'; }
if [[ -n "$(missing_libs)" && -d "$lib_dir/lib" ]]; then
    export LD_LIBRARY_PATH="$lib_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The driver itself, where the loader's configuration does not name its folder (never a
# CUDA toolkit's stubs/ folder: that is a stand-in, not a driver).
if missing_libs | grep -qx 'libcuda.so.1'; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
        if [[ -e "$d/libcuda.so.1" ]]; then
            export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            break
        fi
    done
fi
if [[ -n "$(missing_libs)" ]]; then
    py="$(command -v python3 || true)"
    if [[ -n "$py" ]]; then
        for name in $(missing_libs); do
            dir=$("$py" - "$name" <<'EOF'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for sub in ("nvidia", ""):
    for root in roots:
        for hit in glob.glob(os.path.join(root, sub, "**", sys.argv[1]), recursive=True):
            print(os.path.dirname(hit)); sys.exit(0)
EOF
            )
            [[ -n "$dir" ]] && export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        done
    fi
fi
if [[ -n "$(missing_libs)" ]]; then
    say "libraries not found: $(missing_libs | tr '\n' ' ')"
    exit 1
fi
say "binary $bin on $device; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
ldd "$bin" | grep -E 'cuda|cublas|curand|nvrtc' >> "$log"

# step NAME CMD...: runs one step, its output to the log, its time to steps.tsv; a step
# that hangs is killed after $NATIVEBENCH_STEP_TIMEOUT seconds (default 150) and fails,
# so one call always comes back with a summary.
: > "$work/steps.tsv"
step() {
    local name="$1" t0=$SECONDS rc
    shift
    say "── $name"
    timeout -k 5 "${NATIVEBENCH_STEP_TIMEOUT:-150}" "$@" >> "$log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$work/steps.tsv"
    [[ $rc -eq 0 ]] || say "$name failed (exit $rc)"
    return 0
}

step env sh -c "'$bin' env --format json > '$work/env.json' && '$bin' env"
# The machine's limits (the GPU's through kernels/probe.cu and cuBLAS), cached for the runs
# below so each is placed against its device's roofline (decode_mbu).
export NATIVEBENCH_PROBE="$work/probe-cache.json"
step probe sh -c "'$bin' env --probe --quick --probe-threads 1 --format json > '$work/probe.json'"

runs="$work/runs"
mkdir -p "$runs" "$work/models"
for preset in $presets; do
    for q in $quants; do
        model="$work/models/$preset-$q.gguf"
        step "synth $preset $q" "$bin" model synth --preset "$preset" --quant "$q" --out "$model"
        step "run $preset $q" "$bin" run --engine candle --device "$device" --model "$model" \
            --workload random "${run_len[@]}" --warmup 1 --quiet --out "$runs/$preset-$q"
    done
done

bench_preset="${presets##* }"
bench_model="$work/models/$bench_preset-q4_k.gguf"
step "bench $bench_preset q4_k" sh -c "'$bin' bench -e candle --device '$device' -m '$bench_model' ${bench_args[*]} -o json --out '$work/bench' > '$work/bench.json'"

# NVTX: the ranges of one run, as an NVTX tool would see them, through the injection
# library (nsys cannot write reports on the lent machines; ncu --nvtx only names kernels).
if [[ -f "$inject" ]]; then
    step "nvtx" env NVTX_INJECTION64_PATH="$inject" NVTX_RECORD_PATH="$work/nvtx.txt" \
        "$bin" run --engine candle --device "$device" --model "$work/models/${presets%% *}-q8_0.gguf" \
        --workload random --random-input-len 16 --output-len 8 --num-prompts 2 --warmup 0 \
        --quiet --out "$runs/nvtx"
else
    say "no NVTX recorder at $inject"
fi

agree_model="$work/models/$agree_preset-f32.gguf"
[[ -f "$agree_model" ]] || step "synth $agree_preset f32" "$bin" model synth --preset "$agree_preset" --quant f32 --out "$agree_model"
step "agreement" sh -c "'$bin' check-agreement --device '$device' -m '$agree_model' -n 32 --format json > '$work/agreement.json'"

command -v nvidia-smi >/dev/null && nvidia-smi >> "$log" 2>&1

python3 "$here/gpu-checks.py" --work "$work" --out "$out" --device "$device" \
    --presets "$presets" --quants "$quants"
rc=$?
tar -C "$work" -cJf "$out/runs.tar.xz" runs bench.json agreement.json env.json probe.json steps.tsv \
    $( [[ -f "$work/nvtx.txt" ]] && echo nvtx.txt ) 2>>"$log"
say "done in $((SECONDS - t_start)) s; summary in $out/summary.md"
rm -rf "$work"
exit $rc
