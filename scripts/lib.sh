# Sourced by scripts/run, scripts/test and .ci/run, from the repository root, after they
# set `log_name`: the cache and target folders, the system packages the build and the
# tests need (installed only where missing), and timed stages.

: "${log_name:=nativebench}"
say() { echo "$log_name: $*" >&2; }

# Build outputs, fetched models and llama.cpp's own tools live outside the clone, so a
# later run on the same machine reuses them; a brand-new machine builds from scratch.
export NATIVEBENCH_CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
# The folder's name changes with the C flags of .cargo/config.toml: cargo does not rerun
# llama-cpp-sys-2's cmake build when only those change, so an older folder would keep
# ggml's AMX kernels (SIGILL on these machines).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$NATIVEBENCH_CACHE/target-noamx}"
mkdir -p "$CARGO_TARGET_DIR"

# System packages: llama-cpp-sys-2 builds llama.cpp with cmake and binds it with
# libclang; the HTML report test opens the report in headless Chromium; the sweep test
# runs a job array on Slurm.
# libclang is what bindgen (clang-sys) loads: libclang.so or libclang-N.so, never
# libclang-cpp, which a fresh machine may already have without libclang itself.
has_libclang() {
    local f
    for f in /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*/libclang*.so* /usr/lib/libclang*.so*; do
        case "${f##*/}" in
            libclang-cpp*) ;;
            libclang.so* | libclang-[0-9]*.so*) [ -e "$f" ] && return 0 ;;
        esac
    done
    return 1
}
has_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        command -v google-chrome >/dev/null 2>&1
}
# system_packages build|test: installs with apt-get what the build (cmake, libclang-dev)
# or the tests (those, and chromium) need and the machine lacks; nothing when nothing is
# missing. The tests also need cargo-nextest: installed with cargo where it is missing.
system_packages() {
    local need=()
    command -v cmake >/dev/null 2>&1 || need+=(cmake)
    has_libclang || need+=(libclang-dev)
    if [ "${1:-build}" = test ]; then
        has_chromium || need+=(chromium)
        # The sweep test's scheduler: a one-node Slurm (scripts/slurm-local.sh).
        command -v slurmd >/dev/null 2>&1 || need+=(slurm-wlm)
        command -v munged >/dev/null 2>&1 || need+=(munge)
    fi
    if [ ${#need[@]} -eq 0 ]; then
        say "system packages already installed"
    else
        local sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 ||
                { say "missing ${need[*]}: install them (Debian/Ubuntu: apt-get install -y ${need[*]})"; return 1; }
            sudo=(sudo)
        fi
        command -v apt-get >/dev/null 2>&1 ||
            { say "missing ${need[*]}, and there is no apt-get here: install them with this system's package manager"; return 1; }
        say "installing ${need[*]}"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || return
    fi
    if [ "${1:-build}" = test ] && ! cargo nextest --version >/dev/null 2>&1; then
        say "installing cargo-nextest (cargo install --locked cargo-nextest: minutes, once)"
        cargo install --locked cargo-nextest || return
    fi
}

# Timed stages: `stage NAME CMD...` runs one stage, prints its name and wall time on
# stderr, and records them; the script that started first prints every stage's time and
# the total when it exits (`trap 'stage_summary $?' EXIT`). A script that runs inside
# another's stage (.ci/run's tests stage is scripts/test) adds its stages to that summary,
# indented under the stage that ran it. The command runs as the left side of `||`, where
# bash ignores `set -e`: a function given to `stage` chains its own commands with `&&`.
stage_owner=0
[ -n "${NATIVEBENCH_STAGE_LOG:-}" ] || stage_owner=1
stage_depth="${NATIVEBENCH_STAGE_DEPTH:-0}"
stages_start=$SECONDS
stage() {
    local name="$1" t0=$SECONDS rc=0
    if [ -z "${NATIVEBENCH_STAGE_LOG:-}" ]; then
        NATIVEBENCH_STAGE_LOG="$(mktemp "${TMPDIR:-/tmp}/nativebench-stages.XXXXXX")"
        export NATIVEBENCH_STAGE_LOG
    fi
    # The start in microseconds (the separator of EPOCHREALTIME follows the locale): the
    # summary lists stages in the order they began, so an outer stage comes before the
    # stages of the script it ran.
    local began="${EPOCHREALTIME//[^0-9]/}"
    shift
    say "── $name"
    export NATIVEBENCH_STAGE_DEPTH=$((stage_depth + 1))
    "$@" || rc=$?
    export NATIVEBENCH_STAGE_DEPTH=$stage_depth
    local took=$((SECONDS - t0)) indent=$((2 * stage_depth))
    printf '%s\t%*s%-*s %5d s%s\n' "$began" "$indent" "" $((24 - indent)) "$name" "$took" \
        "$([ $rc -eq 0 ] || echo "  FAILED (exit $rc)")" >>"$NATIVEBENCH_STAGE_LOG"
    say "── $name: ${took} s"
    return $rc
}
stage_summary() {
    local rc="$1" line
    [ "$stage_owner" = 1 ] && [ -f "${NATIVEBENCH_STAGE_LOG:-}" ] || return 0
    say "stage times"
    while IFS= read -r line; do say "  $line"; done < <(sort -n -k1,1 "$NATIVEBENCH_STAGE_LOG" | cut -f2-)
    say "  $(printf '%-24s %5d s' total $((SECONDS - stages_start)))  (exit $rc)"
    rm -f "$NATIVEBENCH_STAGE_LOG"
}
