#!/usr/bin/env bash
# What a one-line Rhai pre_save hook costs `createDocument`: the same release server is started
# with no hooks and with one hook, and each is loaded with wrk in alternating rounds, so the two
# are compared under the same machine noise. Prints req/s, p50 and p99 per round, then the
# medians and the hook's cost as a share of throughput and in microseconds per run (the p50
# difference at one connection, where nothing queues).
#
#   bash bench/hook_cost.sh            # 3 rounds of 5 s, 16 connections
#   ROUNDS=5 SECONDS_EACH=10 bash bench/hook_cost.sh
#
# The database lives on /dev/shm so that fsync does not drown the hook's CPU cost; needs wrk
# (`apt-get install wrk`). Prints figures; never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"
SECONDS_EACH="${SECONDS_EACH:-5}"
CONNECTIONS="${CONNECTIONS:-16}"
source bench/lib.sh
need_wrk
cargo build --release --quiet

printf 'version: 1\n%s\n' "$public_rules" > "$work/none.yaml"
printf 'version: 1\n%s\nhooks:\n  - name: stamp\n    on: pre_save\n    script: "#{ patch: #{ checked: true } }"\n' "$public_rules" > "$work/one.yaml"

start none 4101
start one 4102

run() { wrk_run "http://127.0.0.1:$1/graphql" create.lua "$2" "$3"; } # port connections seconds

run 4101 "$CONNECTIONS" 2 >/dev/null; run 4102 "$CONNECTIONS" 2 >/dev/null # warm-up
printf '%-6s %-10s %10s %9s %9s\n' round server req/s p50_ms p99_ms
: > "$work/rows"
for round in $(seq "$ROUNDS"); do
  for pair in "none 4101" "one 4102"; do
    set -- $pair
    read -r rps p50 p99 < <(run "$2" "$CONNECTIONS" "$SECONDS_EACH")
    printf '%-6s %-10s %10s %9s %9s\n' "$round" "$1" "$rps" "$p50" "$p99"
    echo "$1 $rps $p50 $p99" >> "$work/rows"
  done
done
base=$(awk '$1=="none" {print $2}' "$work/rows" | median)
hook=$(awk '$1=="one" {print $2}' "$work/rows" | median)
echo "median req/s: no hooks $base, one-line pre_save $hook; throughput cost $(awk -v a="$base" -v b="$hook" 'BEGIN {printf "%.1f", (a-b)/a*100}') %"

# One connection: the p50 difference is what one hook run adds to a request.
: > "$work/single"
for round in $(seq "$ROUNDS"); do
  for pair in "none 4101" "one 4102"; do
    set -- $pair
    read -r _ p50 _ < <(run "$2" 1 "$SECONDS_EACH")
    echo "$1 $p50" >> "$work/single"
  done
done
b50=$(awk '$1=="none" {print $2}' "$work/single" | median)
h50=$(awk '$1=="one" {print $2}' "$work/single" | median)
echo "one connection, median p50: no hooks ${b50} ms, one-line pre_save ${h50} ms; per hook run $(awk -v a="$b50" -v b="$h50" 'BEGIN {printf "%.0f", (b-a)*1000}') µs"
