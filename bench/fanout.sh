#!/usr/bin/env bash
# Realtime fan-out: 1,000 WebSocket subscribers on one collection and a steady stream of
# writes (20 per second for 10 s), against a release server on SQLite (in /dev/shm) and, when
# PostgreSQL answers at $PG_URL, on a fresh PostgreSQL database too. Prints, per database:
#
#  * memory per idle connection (server RSS with the subscribers connected, minus before)
#  * write -> last subscriber received, p50/p99 over the writes (targets: p99 < 50 ms;
#    < 20 KiB per idle connection), and over every delivery; missing deliveries (must be 0)
#
#   bash bench/fanout.sh
#   SUBSCRIBERS=2000 WRITES=400 PER_SECOND=40 bash bench/fanout.sh
#
# The subscribers run on the same 2 cores as the server. Prints figures; never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
WRITES="${WRITES:-200}"
PER_SECOND="${PER_SECOND:-20}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
source bench/lib.sh
# Every subscriber comes from 127.0.0.1: lift the per-client caps (docs/limits.md), as a
# deployment behind a proxy would.
export HOOKQL_WS_MAX_CONNECTIONS_PER_IP=0 HOOKQL_WS_MAX_OPERATIONS_PER_IP=0
cargo build --release --quiet --bin hookql --example bench_fanout
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

printf 'version: 1\n%s\n' "$public_rules" > "$work/sqlite.yaml"
start sqlite 4301
echo "== SQLite =="
"$CARGO_TARGET_DIR/release/examples/bench_fanout" 127.0.0.1:4301 "$SUBSCRIBERS" "$WRITES" "$PER_SECOND" "${pids[-1]}"

if command -v psql >/dev/null && psql "$PG_URL" -qc 'SELECT 1' >/dev/null 2>&1; then
  db="hookql_fanout_$$"
  psql "$PG_URL" -qc "CREATE DATABASE $db"
  trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  cp "$work/sqlite.yaml" "$work/postgres.yaml"
  HOOKQL_DATABASE_URL="${PG_URL%/*}/$db" start postgres 4302
  echo "== PostgreSQL =="
  "$CARGO_TARGET_DIR/release/examples/bench_fanout" 127.0.0.1:4302 "$SUBSCRIBERS" "$WRITES" "$PER_SECOND" "${pids[-1]}"
else
  echo "(PostgreSQL not reachable at $PG_URL: skipped)"
fi
