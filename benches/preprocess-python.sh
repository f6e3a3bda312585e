#!/usr/bin/env bash
# Experiments 1 and 2 of `nativebench preprocess`, Rust against Python side by side in
# one run: the Rust figures first (`nativebench preprocess --exp 1,2`), then the same
# templates, tokenizers and texts through `transformers`' apply_chat_template (Jinja2)
# and the `tokenizers` binding (one thread, Python threads, processes, encode_batch), and
# the table of both (benches/preprocess-python.py). The Python packages are installed
# from PyPI into a venv this script makes (~/.cache/nativebench/venv/preprocess).
#
# Usage: benches/preprocess-python.sh [--quick] [extra `nativebench preprocess` flags]
# Environment: NATIVEBENCH_BIN (default: a release build made here).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${NATIVEBENCH_VENV:-$HOME/.cache/nativebench/venv/preprocess}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import transformers, tokenizers, jinja2' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet transformers tokenizers jinja2 >&2
fi
bin="${NATIVEBENCH_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release --locked --bin nativebench >&2
    bin="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/nativebench-preprocess.XXXXXX")"
trap 'rm -rf "$out"' EXIT
reps=15
for a in "$@"; do [[ "$a" == "--quick" ]] && reps=5; done
"$bin" preprocess --exp 1,2 --out "$out" -o md "$@" > /dev/null
"$venv/bin/python" benches/preprocess-python.py "$out" --reps "$reps"
