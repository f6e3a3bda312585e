#!/usr/bin/env bash
# Checks the CUDA build from kernels/gpu-build.sh on a machine without a GPU (CI's): it
# needs the driver's libcuda.so.1, and run against the link stub instead of a driver,
# `env` works and `--device cuda:0` is a one-line error that names the driver, with exit
# status 1, not a panic. Then runs kernels/gpu-verify.sh's dry run (`--device cpu`) on the
# same binary.
#
#     kernels/cuda-stub-check.sh [ARCHIVE]
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "cuda-stub-check: FAIL: $*" >&2; exit 1; }
cache="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
archive="${1:-kernels/dist/nativebench-cuda.tar.xz}"
eval "$(kernels/cuda-toolchain.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf "$archive"
bin="$work/nativebench-cuda/nativebench"

readelf -d "$bin" | grep -q 'NEEDED.*\[libcuda\.so\.1\]' || fail "the binary does not need libcuda.so.1"
[[ ! -e "$work/nativebench-cuda/libcuda.so.1" ]] || fail "the archive carries a libcuda.so.1"
# The stub for the driver; the toolchain's cuBLAS, cuRAND, NVRTC and runtime for the rest.
export LD_LIBRARY_PATH="$cache/cuda-link:$CUDA_ROOT/lib"

"$bin" env > "$work/env.txt" || fail "env exited $?"
grep -q "^nativebench" "$work/env.txt" || fail "env printed no build line: $(cat "$work/env.txt")"
grep -q 'cuda' "$work/env.txt" || fail "env does not list the cuda feature"

set +e
"$bin" run --engine candle --device cuda:0 --model synth:tiny --num-prompts 1 --output-len 2 \
    --out "$work/run" > "$work/out.txt" 2> "$work/err.txt"
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "--device cuda:0 without a driver exited $rc, not 1: $(cat "$work/err.txt")"
grep -q 'panicked' "$work/err.txt" && fail "it panicked: $(cat "$work/err.txt")"
[[ $(grep -c . "$work/err.txt") -eq 1 ]] || fail "the error is not one line: $(cat "$work/err.txt")"
grep -q 'driver' "$work/err.txt" || fail "the error does not name the driver: $(cat "$work/err.txt")"
echo "cuda-stub-check: without a driver: $(cat "$work/err.txt")" >&2

OUT="$work/verify" kernels/gpu-verify.sh --archive "$archive" --device cpu >&2 ||
    fail "gpu-verify.sh --device cpu failed: $(cat "$work/verify/summary.md" 2>/dev/null)"
echo "cuda-stub-check: gpu-verify dry run: $(grep -c '| pass |' "$work/verify/summary.md") checks passed, $(grep -c '| skip |' "$work/verify/summary.md") skipped (need a GPU)" >&2
