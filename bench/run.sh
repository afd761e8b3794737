#!/usr/bin/env bash
# Provisioning benchmark: did/available and did/assign throughput and p99 on
# SQLite and PostgreSQL with 100,000 and 1,000,000 numbers. Assign is set beside
# the raw ceiling of the same database for the same purchase transaction,
# measured in the same run (SQLite: examples/sqlite_ceiling; PostgreSQL:
# pgbench with bench/purchase.sql); search (served from memory) beside the bare
# HTTP baseline of the same server (/healthz). Loopback only; every step is
# bounded in time.
#
#   bash bench/run.sh                 # both backends, 100k and 1M
#   SIZES=100000 BACKENDS=sqlite bash bench/run.sh
#
# Needs wrk and pgbench (apt-get install wrk postgresql-client) and, for the
# PostgreSQL half, a server at $PG_URL (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"100000 1000000"}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
POOL=${POOL:-16}
ACCOUNTS=32
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for tool in wrk pgbench; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install wrk postgresql-client" >&2; exit 1; }
done
cargo build --release --quiet --bin didhub --example bench_load --example sqlite_ceiling
BIN=target/release

# wrk_run NAME SCRIPT [ENV…]: prints "rps p99_ms non2xx"
wrk_run() {
  local script=$1; shift
  env "$@" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$BASE" > "$WORK/wrk.txt" 2>&1 || true
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.txt")
  echo "${rps:-0} $(to_ms "${p99:-0us}") ${non2xx:-0}"
}

to_ms() { # wrk prints 1.23ms, 456.00us or 1.20s
  case $1 in
    *ms) echo "${1%ms}" ;;
    *us) awk -v v="${1%us}" 'BEGIN {printf "%.3f", v / 1000}' ;;
    *s) awk -v v="${1%s}" 'BEGIN {printf "%.1f", v * 1000}' ;;
    *) echo "$1" ;;
  esac
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }

RESULTS="$WORK/results.md"
{
  echo "| backend | numbers | HTTP baseline req/s | search req/s | search p99 ms | search / baseline | assign req/s | assign p99 ms | assign failures | purchase ceiling tx/s | ceiling p99 ms | assign / ceiling |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$RESULTS"

for backend in $BACKENDS; do
  for size in $SIZES; do
    echo "== $backend, $size numbers" >&2
    if [ "$backend" = sqlite ]; then
      DB="$WORK/bench-$size.db"
    else
      name="didhub_bench_$size"
      psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
      DB="$PG_URL/$name"
    fi
    $BIN/examples/bench_load --database "$DB" --numbers "$size" --accounts $ACCOUNTS --tokens "$WORK/tokens.txt" >&2
    # Measure the steady state, not the bulk load's write-back.
    [ "$backend" = postgres ] && psql -q "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null

    rm -f "$WORK/address"
    $BIN/didhub --database "$DB" --db-max-connections "$POOL" --log warn serve --listen 127.0.0.1:0 \
      --maintenance-interval-secs 0 --address-file "$WORK/address" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 1200); do [ -s "$WORK/address" ] && break; sleep 0.1; done
    [ -s "$WORK/address" ] || { echo "server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
    echo "server ready after loading $size numbers" >&2
    BASE="http://$(cat "$WORK/address")"

    # Warm-up (pool connections, token cache, first renderings), not measured.
    TOKENS="$WORK/tokens.txt" wrk -t2 -c"$CONNECTIONS" -d2s -s bench/available.lua "$BASE" >/dev/null 2>&1 || true
    read -r base_rps _ _ < <(wrk_run bench/healthz.lua)
    read -r search_rps search_p99 _ < <(wrk_run bench/available.lua TOKENS="$WORK/tokens.txt")
    read -r assign_rps assign_p99 assign_fail < <(wrk_run bench/assign.lua TOKENS="$WORK/tokens.txt" THREADS=2 FIRST_ID=1)
    kill $SERVER; wait $SERVER 2>/dev/null || true

    if [ "$backend" = sqlite ]; then
      out=$($BIN/examples/sqlite_ceiling --database "$DB" --numbers "$size" --seconds "$DURATION")
      ceil_tps=$(echo "$out" | awk '/purchase ceiling/ {print $4}')
      ceil_p99=$(echo "$out" | awk '/purchase ceiling/ {print $7}')
    else
      (cd "$WORK" && pgbench -n -M prepared -f "$OLDPWD/bench/purchase.sql" -D numbers="$size" -D accounts=$ACCOUNTS \
        -c "$POOL" -j 2 -T "$DURATION" -l --log-prefix=purchase "$DB" > pgbench.txt 2>&1)
      ceil_tps=$(awk '/^tps/ {print $3; exit}' "$WORK/pgbench.txt")
      ceil_p99=$(cat "$WORK"/purchase.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int(NR*0.99)]/1000}')
      rm -f "$WORK"/purchase.*
    fi
    echo "| $backend | $size | ${base_rps} | ${search_rps} | ${search_p99} | $(ratio "$search_rps" "$base_rps") | ${assign_rps} | ${assign_p99} | ${assign_fail} | ${ceil_tps} | ${ceil_p99} | $(ratio "$assign_rps" "$ceil_tps") |" >> "$RESULTS"
    [ "$backend" = postgres ] && psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    rm -f "$WORK"/bench-*.db*
  done
done
echo
cat "$RESULTS"
