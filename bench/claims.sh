#!/usr/bin/env bash
# What one delivery claim costs as the outbox grows (issue 16): the claim statement timed on
# PostgreSQL with 10, 1,000 and 100,000 pending deliveries (a third due, a third leased to
# workers, a third waiting behind an earlier delivery of their document) over 100,000
# delivered ones, next to the claim this version replaced, on the rows as it left them.
# Prints "pending old_ms new_ms" (median of 9 runs, each rolled back).
# Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and psql.
# Usage: bench/claims.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hookql-target}"
cargo build -q --bin hookql
bin="$CARGO_TARGET_DIR/debug/hookql"
db="hookql_claims_$$"
psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
[ -n "${KEEP_DB:-}" ] || trap '"${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
"${psql[@]}" -d postgres -c "CREATE DATABASE $db"
HOOKQL_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" RUST_LOG=warn "$bin" migrate >/dev/null

now='(extract(epoch from clock_timestamp()) * 1000000)::bigint'
new_claim="UPDATE hook_deliveries SET lease_owner = 'w', lease_until = NOW + 7000000, next_attempt_at = NOW + 7000000, attempts = attempts + CASE WHEN lease_owner IS NULL THEN 0 ELSE 1 END WHERE id IN (SELECT d.id FROM hook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= NOW AND (d.lease_until IS NULL OR d.lease_until < NOW) AND (d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.ordering_key = d.ordering_key AND e.status = 'pending' AND e.id < d.id)) ORDER BY d.next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED) RETURNING id"
old_claim="UPDATE hook_deliveries SET lease_owner = 'w', lease_until = NOW + 7000000 WHERE id IN (SELECT d.id FROM hook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= NOW AND (d.lease_until IS NULL OR d.lease_until < NOW) AND (d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM hook_deliveries e WHERE e.ordering_key = d.ordering_key AND e.status = 'pending' AND e.id < d.id)) ORDER BY d.id LIMIT 32 FOR UPDATE SKIP LOCKED) RETURNING id"

fill() { # pending layout(old|new): history of 100,000 delivered rows, then the pending ones
  local pending=$1 layout=$2 waiting leased
  # The old layout: leased rows and waiting rows look due; the new one puts them out of reach.
  if [ "$layout" = old ]; then waiting="$now - 1000000"; leased="$now - 1000000"; else waiting=2305843009213693951; leased="$now + 60000000"; fi
  "${psql[@]}" -d "$db" <<SQL
TRUNCATE hook_deliveries;
INSERT INTO hook_deliveries (event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'audit', 'post_save', 'audit:posts/' || (i % 1000), '{}', 'delivered', 1, 0, $now, $now FROM generate_series(1, 100000) i;
-- Leased to a worker (in flight or waiting in its memory).
INSERT INTO hook_deliveries (event_id, hook, event, payload, status, attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'audit', 'post_save', '{}', 'pending', 0, $leased, 'other', $now + 60000000, $now, $now FROM generate_series(1, $pending / 3) i;
-- Heads of 1,000 documents out for delivery, and the rest of their events waiting behind them.
INSERT INTO hook_deliveries (event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'audit', 'post_save', 'audit:posts/' || i, '{}', 'pending', 0, $leased, 'other', $now + 60000000, $now, $now FROM generate_series(1, least(1000, $pending / 3)) i;
INSERT INTO hook_deliveries (event_id, hook, event, ordering_key, payload, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'audit', 'post_save', 'audit:posts/' || (i % 1000), '{}', 'pending', 0, $waiting, $now, $now FROM generate_series(1, $pending / 3) i;
-- Due now.
INSERT INTO hook_deliveries (event_id, hook, event, payload, status, attempts, next_attempt_at, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'audit', 'post_save', '{}', 'pending', 0, $now - 1000000, $now, $now FROM generate_series(1, $pending - 2 * ($pending / 3)) i;
ANALYZE hook_deliveries;
SQL
}

time_claim() { # statement -> median milliseconds of 9 runs, each rolled back
  # "now" as a constant, as the server binds it: the planner then uses it in the index range.
  for _ in $(seq 9); do
    set -- "${1//NOW/$(date +%s%6N)}"
    "${psql[@]}" -d "$db" -At <<SQL | awk '/Execution Time/ {print $3}'
BEGIN;
EXPLAIN (ANALYZE, FORMAT TEXT) $1;
ROLLBACK;
SQL
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "pending old_ms new_ms"
for pending in ${SIZES:-10 1000 100000}; do
  fill "$pending" old
  old=$(time_claim "$old_claim")
  fill "$pending" new
  new=$(time_claim "$new_claim")
  echo "$pending $old $new"
done
