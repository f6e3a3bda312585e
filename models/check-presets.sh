#!/usr/bin/env bash
# Shows that every synthetic preset at every quant loads and decodes in llama.cpp and in
# candle (the ignored test every_preset_loads_at_every_quant_in_both_engines), and times
# the generation of synth:llama-135m at q8_0. Slow: llama-1b at f32 is ~5 GB, so this is
# not part of the default test suite. Needs ~6 GB of free disk and ~12 GB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
features="${NATIVEBENCH_FEATURES:-candle,llama-cpp}"

cargo build --release --features "$features" --bin nativebench
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bin="${CARGO_TARGET_DIR:-target}/release/nativebench"
start=$(date +%s%N)
"$bin" model synth --preset llama-135m --quant q8_0 --out "$out/llama-135m-q8_0.gguf"
end=$(date +%s%N)
echo "synth:llama-135m:q8_0 generated in $(( (end - start) / 1000000 )) ms (wall, including process start)"

cargo test --release --features "$features" --test integration -- \
    --ignored --nocapture every_preset_loads_at_every_quant_in_both_engines
