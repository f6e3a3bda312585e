#!/usr/bin/env bash
# Installs (once) the CUDA toolchain from PyPI and prints the environment that
# `cargo check/build --features cuda` needs, so a machine without a system CUDA can compile
# the CUDA path. CI and users share it:
#
#     eval "$(kernels/cuda-toolchain.sh)"
#     cargo check --features cuda,nvtx
#
# About 1.2 GB of wheels (CUDA 13.0: nvcc, runtime headers, NVVM, CCCL, cuBLAS, cuRAND,
# NVRTC), installed into a cache folder and reused while its stamp matches the package
# list. Progress goes to stderr; only `export` lines go to stdout.
#
# Pinned to CUDA 13.0 Update 2, not the newest: the lent H200s' driver (580) speaks CUDA
# 13.0, and PTX from a newer nvcc is refused by an older driver
# (CUDA_ERROR_UNSUPPORTED_PTX_VERSION) the moment candle loads its first kernel.
#
# Environment:
#   NATIVEBENCH_CUDA_TOOLCHAIN  where it is installed (default
#                               ~/.cache/nativebench/cuda-toolchain-13.0)
#   CUDA_COMPUTE_CAP            GPU architecture to build kernels for (default 90: H100/H200)
#   CUDARC_CUDA_VERSION         CUDA API version cudarc binds (default 13000, the
#                               toolchain's and the lent GPUs' driver's)
set -euo pipefail

root="${NATIVEBENCH_CUDA_TOOLCHAIN:-$HOME/.cache/nativebench/cuda-toolchain-13.0}"
# Pinned, so every machine compiles with the same nvcc (CUDA 13.0 Update 2).
packages=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-cuda-runtime==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-cccl==13.0.85
    nvidia-cublas==13.0.2.14
    nvidia-curand==10.4.0.35
    nvidia-cuda-nvrtc==13.0.88
)
stamp="$root/.installed"
want="${packages[*]}"

die() { echo "cuda-toolchain: $*" >&2; exit 1; }

if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    python="$(command -v python3 || command -v python)" || die "python3 with pip is needed"
    echo "cuda-toolchain: installing ${#packages[@]} CUDA packages from PyPI into $root (about 1.2 GB)" >&2
    # Into a fresh folder beside the final one, so an interrupted install is never taken
    # for a complete one.
    rm -rf "$root.partial"
    mkdir -p "$root.partial"
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --no-cache-dir --no-deps --target "$root.partial/site" \
        "${packages[@]}" >&2 || die "pip install failed"
    rm -rf "$root"
    mv "$root.partial" "$root"
    printf '%s' "$want" > "$stamp"
else
    echo "cuda-toolchain: reusing $root" >&2
fi

cuda="$root/site/nvidia/cu13"
[[ -x "$cuda/bin/nvcc" ]] || die "$cuda/bin/nvcc missing: delete $root and run again"

cat <<EOF
export PATH="$cuda/bin:\$PATH"
export CUDA_ROOT="$cuda"
export CUDA_PATH="$cuda"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
EOF
