#!/usr/bin/env bash
# What a change costs `createDocument` (no hooks, every collection public): two hookql
# binaries side by side, on SQLite (in /dev/shm) and, when PostgreSQL answers at $PG_URL, on
# a fresh PostgreSQL database each. Alternating rounds of wrk; prints every round and the
# median req/s and p99 of each binary, and the second's throughput as a share of the first.
#
#   bash bench/compare.sh OLD_BINARY [NEW_BINARY]    # NEW defaults to this checkout's release build
#   e.g. git worktree add /tmp/old <rev> && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release)
#        bash bench/compare.sh /tmp/old-target/release/hookql
#
# Needs wrk (`apt-get install wrk`). Prints figures; never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
SECONDS_EACH="${SECONDS_EACH:-5}"
CONNECTIONS="${CONNECTIONS:-16}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
source bench/lib.sh
need_wrk
old="${1:?usage: bench/compare.sh OLD_BINARY [NEW_BINARY]}"
new="${2:-}"
if [ -z "$new" ]; then
  cargo build --release --quiet --bin hookql
  new="$bin"
fi

databases=(sqlite)
if command -v psql >/dev/null && psql "$PG_URL" -qc 'SELECT 1' >/dev/null 2>&1; then
  databases+=(postgres)
  dbs=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; for d in "${dbs[@]}"; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done' EXIT
fi

port=4400
for database in "${databases[@]}"; do
  for which in old new; do
    port=$((port + 1))
    name="$database-$which"
    printf 'version: 1\n%s\n' "$public_rules" > "$work/$name.yaml"
    if [ "$database" = postgres ]; then
      db="hookql_compare_$$_$which"
      psql "$PG_URL" -qc "CREATE DATABASE $db"
      dbs+=("$db")
      export HOOKQL_DATABASE_URL="${PG_URL%/*}/$db"
    else
      unset HOOKQL_DATABASE_URL
    fi
    if [ "$which" = old ]; then bin="$old"; else bin="$new"; fi
    start "$name" "$port"
    echo "$name $port" >> "$work/ports"
  done
done
unset HOOKQL_DATABASE_URL

printf '%-16s %-6s %10s %8s %8s\n' server round req/s p50_ms p99_ms
while read -r name port; do wrk_run "http://127.0.0.1:$port/graphql" create.lua "$CONNECTIONS" 2 >/dev/null; done < "$work/ports"
for round in $(seq "$ROUNDS"); do
  while read -r name port; do
    read -r rps p50 p99 < <(wrk_run "http://127.0.0.1:$port/graphql" create.lua "$CONNECTIONS" "$SECONDS_EACH")
    printf '%-16s %-6s %10s %8s %8s\n' "$name" "$round" "$rps" "$p50" "$p99"
    echo "$name $rps $p99" >> "$work/results"
  done < "$work/ports"
done
for database in "${databases[@]}"; do
  o=$(awk -v n="$database-old" '$1==n {print $2}' "$work/results" | median)
  n=$(awk -v n="$database-new" '$1==n {print $2}' "$work/results" | median)
  op=$(awk -v n="$database-old" '$1==n {print $3}' "$work/results" | median)
  np=$(awk -v n="$database-new" '$1==n {print $3}' "$work/results" | median)
  share=$(awk -v a="$o" -v b="$n" 'BEGIN {printf "%.0f", 100*b/a}')
  echo "$database: old $o req/s (p99 $op ms), new $n req/s (p99 $np ms): new = ${share} % of old"
done
