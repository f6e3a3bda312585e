# Sourced by the bench scripts that start `nativebench serve` themselves.

# wait_for_url DIR: the URL that serve (started with `--port 0`, stdout in DIR/serve.out)
# prints once it listens, within 30 s; otherwise its stderr, and a failure.
wait_for_url() {
  local url="" _
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^listening on //p' "$1/serve.out" | head -n1)
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { echo "serve did not start:" >&2; cat "$1/serve.err" >&2; return 1; }
  echo "$url"
}

# User + system CPU seconds of a process so far (fields 14 and 15 of /proc/PID/stat).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
