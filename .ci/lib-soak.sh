#!/usr/bin/env bash
# Soak check for the lib unit tests under load: proves that `cargo test --lib` (the unit
# tests under src/) passes again and again while the machine is busy, so a test that
# depends on scheduling shows up here rather than as a one-off CI failure.
#
# It builds the test binaries once (`cargo test --no-run`, in scripts/test's target
# folder), then keeps the integration tests running in a loop pinned to one
# core as load, while it runs the lib test binary SOAK_RUNS times (default 50) in a row
# pinned to the other core. It stops at the first failing run, prints its log, and ends
# with `lib suite: N/RUNS passed`; the exit status is non-zero unless every run passed.
# Failures of the integration tests are counted and reported, but they are only the load.
#
#   .ci/lib-soak.sh              # 50 runs, lib on core 0, load on core 1
#   SOAK_RUNS=10 .ci/lib-soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${SOAK_RUNS:-50}"
lib_cpu="${SOAK_LIB_CPU:-0}"
load_cpu="${SOAK_LOAD_CPU:-1}"
export NATIVEBENCH_CACHE="${NATIVEBENCH_CACHE:-$HOME/.cache/nativebench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$NATIVEBENCH_CACHE/target-noamx}"
mkdir -p "$CARGO_TARGET_DIR"

for tool in cargo python3 taskset setsid; do
    command -v "$tool" >/dev/null 2>&1 || { echo "soak: $tool is missing" >&2; exit 2; }
done

logs="$(mktemp -d "${TMPDIR:-/tmp}/nativebench-soak.XXXXXX")"
echo "soak: logs in $logs" >&2

# The build, once. Its JSON messages name every test binary it built; the human-readable
# diagnostics still reach stderr.
echo "soak: building the test binaries (cargo test --no-run)" >&2
cargo test --no-run --message-format=json-render-diagnostics >"$logs/build.jsonl"

# test_binary KIND NAME: the executable cargo built for the test target KIND/NAME.
test_binary() {
    python3 - "$logs/build.jsonl" "$1" "$2" <<'EOF'
import json, sys
path, kind, name = sys.argv[1:]
found = []
for line in open(path):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target") or {}
    if (m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test")
            and m.get("executable") and kind in t.get("kind", []) and t.get("name") == name):
        found.append(m["executable"])
if len(set(found)) != 1:
    sys.exit(f"soak: expected one {kind} test binary named {name}, found {sorted(set(found))}")
print(found[0])
EOF
}
lib_bin="$(test_binary lib nativebench)"
load_bin="$(test_binary test integration)"
echo "soak: lib tests:  $lib_bin" >&2
echo "soak: load:       $load_bin" >&2

# The load: the integration tests, over and over, on their own core. In a session of its
# own, whose id it writes down, so that stopping it (by that process group) takes the
# servers its tests started with it, and nothing else.
load_loop() {
    echo $$ >"$logs/load.pgid"
    local i=0 rc
    while :; do
        i=$((i + 1))
        rc=0
        taskset -c "$load_cpu" "$load_bin" >"$logs/load-$i.log" 2>&1 || rc=$?
        echo "$i $rc" >>"$logs/load-runs"
    done
}
export logs load_cpu load_bin
setsid bash -c "$(declare -f load_loop); load_loop" </dev/null >/dev/null 2>&1 &
stop_load() {
    local pgid
    pgid="$(cat "$logs/load.pgid" 2>/dev/null || true)"
    [ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop_load EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do [ -s "$logs/load.pgid" ] && break; sleep 0.1; done
[ -s "$logs/load.pgid" ] || { echo "soak: the load did not start" >&2; exit 2; }
# Let the load get going before the first measured run.
sleep 2

passed=0
for i in $(seq 1 "$runs"); do
    log="$logs/lib-$i.log"
    if taskset -c "$lib_cpu" "$lib_bin" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "soak: lib run $i/$runs passed ($(grep -Eo '[0-9]+ passed' "$log" | tail -1))" >&2
    else
        echo "soak: lib run $i/$runs FAILED; its log ($log):" >&2
        grep -E '^test .* FAILED$|^---- |panicked' "$log" >&2 || true
        tail -n 60 "$log" >&2
        break
    fi
done

stop_load
trap - EXIT
started=$(find "$logs" -name 'load-*.log' | wc -l)
finished=0 failed=0
if [ -s "$logs/load-runs" ]; then
    finished=$(wc -l <"$logs/load-runs")
    failed=$(awk '$2 != 0' "$logs/load-runs" | wc -l)
fi
echo "soak: load: $started integration runs started, $finished finished, $failed of those failed (logs: $logs/load-*.log)" >&2
echo "lib suite: $passed/$runs passed"
[ "$passed" -eq "$runs" ]
