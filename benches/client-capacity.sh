#!/usr/bin/env bash
# Client capacity of the http engine's load generator (issue 6), against `nativebench
# serve --engine sim` with every delay at zero: a server that does nothing but format
# chunks, so the client's own cost shows. Per concurrency (64 and 256) and repetition it
# prints:
#   - streamed tokens/s ingested (output throughput of the run);
#   - CPU per token of the client and of the server (user + system time of each process
#     over the run, warmup included, divided by every token streamed): the client limits
#     the server only if it costs more per token than the cheapest possible server;
#   - how busy each process kept its core over the run (CPU time / wall time, with PIN=1):
#     the one near 100% is the bottleneck;
#   - per token chunk, p50 and p99 (BENCHMARKS.md):
#       client:   the kernel receiving the chunk's bytes -> token mark recorded: the
#                 client-added latency (its wake-up, its wait behind other sockets, and
#                 its own work; the kernel's receive timestamp, SO_TIMESTAMPNS);
#       process:  the read that brought the bytes -> token mark (the client's own work,
#                 for every chunk that one read brought);
#       transit:  the server handing the chunk to its connection -> the kernel's receipt
#                 (the server's write and the loopback: not the client's);
#       delivery: the server's hand-off -> token mark (transit + client).
#     "shared" is the share of chunks that came in one read with an earlier chunk: for
#     those, client starts at the newest bytes' receipt, so it is exact only when low.
#   - "steal ms": time the hypervisor took from the client's core during the run.
# At the end, per concurrency, two ratios with their 95% interval (`nativebench ratio`, a
# seeded bootstrap over the repetitions) and a verdict against their target: the client's
# CPU per token over the server's (at most 1: the client does not limit the server), and
# the Python peer's over nativebench's (at least 1), "within target" only when the whole
# interval is inside, else "inconclusive: N more rounds needed" (or "outside target").
# With PIN=1 (the default on 2+ cores) the server runs on core 0 and the client on core 1,
# so neither takes the other's CPU; PIN=0 lets them share every core.
#   benches/client-capacity.sh                  # builds the release binary if needed
#   REPS=5 OUTPUT_LEN=256 PROMPTS_PER_SLOT=8 PIN=1 benches/client-capacity.sh
#   DECODE_MS=0.005 PYTHON_PEER=0 benches/client-capacity.sh  # a server slower than the client
#   DECODE_MS=10 PROMPTS_PER_SLOT=2 MIN_PROMPTS=0 benches/client-capacity.sh  # paced: delivery
#   NATIVEBENCH_BIN=path/to/nativebench benches/client-capacity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

BIN="${NATIVEBENCH_BIN:-}"
if [[ -z "$BIN" ]]; then
  cargo build --release --no-default-features -q >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/nativebench"
fi
OUTPUT_LEN="${OUTPUT_LEN:-256}"
PER_SLOT="${PROMPTS_PER_SLOT:-8}"
# At least this many requests per run, so a run at low concurrency lasts long enough
# (about a second) that process start and exit do not dilute the busy figures.
MIN_PROMPTS="${MIN_PROMPTS:-2048}"
prompts() { local n=$(($1 * PER_SLOT)); echo $((n > MIN_PROMPTS ? n : MIN_PROMPTS)); }
CONCURRENCIES="${CONCURRENCIES:-64 256}"
REPS="${REPS:-3}"
DECODE_MS="${DECODE_MS:-0}"  # > 0 paces the server below the client's capacity
# Requests the sim server decodes together: every slot streams at once, as from a batching
# server (vLLM, SGLang), rather than queueing behind one request at a time.
SIM_BATCH="${SIM_BATCH:-256}"
if [[ -z "${PIN:-}" ]]; then PIN=$([[ $(nproc) -ge 2 ]] && echo 1 || echo 0); fi
SERVER_CPU=() CLIENT_CPU=()
if [[ "$PIN" == 1 ]]; then SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1); fi
WORK=$(mktemp -d)
SERVE_PID=""
trap '[[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

"${SERVER_CPU[@]}" "$BIN" serve --engine sim --sim-template-ms 0 --sim-tokenize-ms-per-kb 0 \
  --sim-prefill-ms 0 --sim-prefill-ms-per-token 0 --sim-decode-ms "$DECODE_MS" --sim-batch "$SIM_BATCH" \
  --stamp-chunks --port 0 \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
URL=$(wait_for_url "$WORK")

# Milliseconds the hypervisor has taken from the client's core so far (steal, the 8th
# figure of its /proc/stat line; every core when unpinned): a stolen slice stalls every
# chunk waiting on that core, which no client can avoid.
CLIENT_CORE=$([[ "$PIN" == 1 ]] && echo cpu1 || echo cpu)
steal_ms() { awk -v c="$CLIENT_CORE" -v hz="$(getconf CLK_TCK)" '$1 == c { print $9 * 1000 / hz }' /proc/stat; }
steal_since() { awk -v a="$1" -v b="$(steal_ms)" 'BEGIN { print b - a }'; }

printf '%-5s %-4s %10s %13s %13s %11s %11s %11s %11s %12s %12s %12s %12s %14s %14s %7s %8s %6s\n' conc rep "tok/s" \
  "client us/tok" "server us/tok" "client busy" "server busy" "client p50" "client p99" "process p50" "process p99" \
  "transit p50" "transit p99" "delivery p50" "delivery p99" shared "steal ms" errors
for C in $CONCURRENCIES; do
  N=$(prompts "$C")
  for R in $(seq 1 "$REPS"); do
    OUT="$WORK/c$C-r$R"
    before=$(cpu_s "$SERVE_PID")
    steal0=$(steal_ms)
    t0=$(date +%s.%N)
    "${CLIENT_CPU[@]}" "$BIN" run --engine http --url "$URL" --served-model sim --workload short \
      --num-prompts "$N" --output-len "$OUTPUT_LEN" --concurrency "$C" --warmup "$C" \
      --timeout 120 --quiet --out "$OUT" --format json --chunk-profile "$OUT.profile.json" >/dev/null
    after=$(cpu_s "$SERVE_PID")
    t1=$(date +%s.%N)
    steal=$(steal_since "$steal0")
    TOKENS=$(( (N + C) * OUTPUT_LEN ))
    jq -r --arg c "$C" --arg r "$R" --argjson before "$before" --argjson after "$after" \
      --argjson tokens "$TOKENS" --argjson steal "$steal" --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" --slurpfile p "$OUT.profile.json" \
      '[ $c, $r, (.output_throughput_tok_s|floor),
         ($p[0].client_cpu_s / $tokens * 1e6 * 100 | floor / 100),
         (($after - $before) / $tokens * 1e6 * 100 | floor / 100),
         ($p[0].client_cpu_s / $wall * 100 | floor), (($after - $before) / $wall * 100 | floor),
         ($p[0].client.p50_us * 10 | floor / 10), ($p[0].client.p99_us * 10 | floor / 10),
         ($p[0].process.p50_us * 10 | floor / 10), ($p[0].process.p99_us * 10 | floor / 10),
         ($p[0].transit.p50_us * 10 | floor / 10), ($p[0].transit.p99_us * 10 | floor / 10),
         ($p[0].delivery.p50_us * 10 | floor / 10), ($p[0].delivery.p99_us * 10 | floor / 10),
         ($p[0].shared_read_chunks / ([$p[0].client.count, 1] | max) * 100 | floor),
         $steal, .failed ] | @tsv' "$OUT/metrics.json" | tee -a "$WORK/nb.tsv" |
      awk -F'\t' '{ printf "%-5s %-4s %10s %13s %13s %10s%% %10s%% %8s us %8s us %9s us %9s us %9s us %9s us %11s us %11s us %6s%% %8s %6s\n",
                    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 }'
  done
done
# The floor under any client on this machine (examples/floor_client.rs): one epoll thread
# that only reads, its wait from the kernel's receipt to the read taken the same way as
# the client column above. What nativebench adds beyond it is its own.
FLOOR_BIN="${FLOOR_BIN:-$(dirname "$BIN")/examples/floor_client}"
if [[ "${FLOOR:-1}" == 1 ]]; then
  if [[ ! -x "$FLOOR_BIN" ]]; then
    cargo build --release --no-default-features -q --example floor_client >&2
    FLOOR_BIN="${CARGO_TARGET_DIR:-target}/release/examples/floor_client"
  fi
  printf '\n%-5s %-4s %14s %12s %12s %12s %8s\n' conc rep "floor us/read" "wait p50" "wait p99" "wait p999" "steal ms"
  HOSTPORT=${URL#http://}
  HOSTPORT=${HOSTPORT%/v1}
  for C in $CONCURRENCIES; do
    for R in $(seq 1 "$REPS"); do
      steal0=$(steal_ms)
      f=$("${CLIENT_CPU[@]}" "$FLOOR_BIN" "$HOSTPORT" "$C" "$(prompts "$C")" "$OUTPUT_LEN")
      steal=$(steal_since "$steal0")
      jq -r --arg r "$R" --arg s "$steal" '[ .concurrency, $r, .cpu_us_per_read, .wait_p50_us, .wait_p99_us, .wait_p999_us, $s ] | @tsv' <<<"$f" |
        awk -F'\t' '{ printf "%-5s %-4s %14s %9s us %9s us %9s us %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
    done
  done
fi
# The same load from a typical Python client (asyncio + aiohttp), when one is installed.
if [[ "${PYTHON_PEER:-1}" == 1 ]] && python3 -c 'import aiohttp' 2>/dev/null; then
  printf '\n%-5s %-4s %12s %14s %14s %14s  %s\n' conc rep "tok/s" "client us/tok" "delivery p50" "delivery p99" client
  for C in $CONCURRENCIES; do
    for R in $(seq 1 "${PY_REPS:-1}"); do
      "${CLIENT_CPU[@]}" python3 benches/python-peer-client.py "$URL" "$C" "$(prompts "$C")" "$OUTPUT_LEN" |
        jq -r --arg r "$R" '[ .concurrency, $r, (.tok_s|floor), (.client_cpu_us_per_tok*100|floor/100),
            (.delivery_p50_us*10|floor/10), (.delivery_p99_us*10|floor/10), .client ] | @tsv' |
        tee -a "$WORK/py.tsv" | awk -F'\t' '{ printf "%-5s %-4s %12s %14s %11s us %11s us  %s\n", $1, $2, $3, $4, $5, $6, $7 }'
    done
  done
fi
# Column K of the rows at concurrency C of a table, comma-separated.
column() { awk -F'\t' -v c="$2" -v k="$3" '$1 == c { printf "%s%s", (n++ ? "," : ""), $k }' "$WORK/$1"; }
ratio() { "$BIN" ratio "$@" 2>&1 || true; }
printf '\nratios (95%% interval over the repetitions):\n'
for C in $CONCURRENCIES; do
  echo "c$C client / server CPU per token (target <= 1): $(ratio --paired --band 0,1 \
    --base "$(column nb.tsv "$C" 5)" --new "$(column nb.tsv "$C" 4)")"
  if [[ -s "$WORK/py.tsv" ]]; then
    echo "c$C Python peer / nativebench client CPU per token (target >= 1): $(ratio --band 1,inf \
      --base "$(column nb.tsv "$C" 4)" --new "$(column py.tsv "$C" 4)")"
  fi
done
echo "(nativebench serve --engine sim, decode step $DECODE_MS ms, other delays zero, $OUTPUT_LEN tokens per request; $(nproc) cores;" \
  "pinned: $([[ "$PIN" == 1 ]] && echo 'server core 0, client core 1' || echo no); load: $(cut -d' ' -f1-3 /proc/loadavg))"
