# Shared by the bench scripts (source it): a work folder in /dev/shm, release servers on
# SQLite there, wrk runs that print "req/s p50_ms p99_ms", and a median.
# Expects: `set -euo pipefail`, the repository root as the current folder.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hookql-target}"
need_wrk() { # installs Debian's wrk when it is missing and we may (root with apt-get)
  command -v wrk >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing wrk (Debian's package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; }
  fi
  command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
}
bin="$CARGO_TARGET_DIR/release/hookql"
work=$(mktemp -d /dev/shm/hookql-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

# Every collection open to anyone, as the first lines of a hooks file.
public_rules='defaults:
  rules: { read: public, create: public, update: public, delete: public }'

start() { # name port: a server with $work/NAME.yaml and its own database, once it answers
  mkdir -p "$work/$1"
  RUST_LOG=warn HOOKQL_LISTEN="127.0.0.1:$2" HOOKQL_DATA_DIR="$work/$1" HOOKQL_HOOKS="$work/$1.yaml" \
    "$bin" serve >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.05; done
  echo "server $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}

# A wrk script POSTing a createDocument to "bench" and printing "RESULT req/s p50 p99".
cat > "$work/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"mutation { createDocument(collection: \\"bench\\", data: {title: \\"Hello\\", n: 1}) { id } }"}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

wrk_run() { # url script connections seconds -> "rps p50 p99"
  wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"$4s" -s "$work/$2" "$1" | awk '/^RESULT/ {print $2, $3, $4}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
