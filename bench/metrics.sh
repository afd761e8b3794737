#!/usr/bin/env bash
# Cost of /metrics: HTTP throughput on /healthz with the metrics middleware off
# (no key: the layer is not installed) and on (--metrics-key), same release
# binary, runs alternated so that machine noise hits both; then the time of a
# scrape. Loopback only; about 4 x DURATION seconds plus the build.
#
#   bash bench/metrics.sh
#   DURATION=5 ROUNDS=1 NO_BUILD=1 bash bench/metrics.sh
#
# Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
SCRAPES=${SCRAPES:-200}
KEY=bench-metrics-key
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for tool in wrk curl; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install wrk curl" >&2; exit 1; }
done
# NO_BUILD=1 measures the release binary already built.
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin didhub
BIN=target/release/didhub

# start_server [FLAGS…]: sets BASE and SERVER.
start_server() {
  rm -f "$WORK/address" "$WORK/db"*
  $BIN --database "$WORK/db" --log warn serve --listen 127.0.0.1:0 --sip-listen off \
    --maintenance-interval-secs 0 --address-file "$WORK/address" "$@" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do [ -s "$WORK/address" ] && break; sleep 0.1; done
  BASE="http://$(cat "$WORK/address")"
}

healthz_rps() {
  wrk -t2 -c64 -d"${DURATION}s" --latency -s bench/healthz.lua "$BASE" > "$WORK/wrk.txt" 2>&1
  echo "$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt") req/s, p99 $(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")"
}

for round in $(seq 1 "$ROUNDS"); do
  start_server
  echo "round $round, metrics off: $(healthz_rps)"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  start_server --metrics-key "$KEY"
  echo "round $round, metrics on:  $(healthz_rps)"
  [ "$round" -lt "$ROUNDS" ] && { kill $SERVER; wait $SERVER 2>/dev/null || true; }
done

# The last server is still up with metrics on and has served /healthz: give
# it a few more series (404s, a login refusal), then time scrapes.
for path in /a /b /c; do curl -s -o /dev/null "$BASE$path"; done
curl -s -o /dev/null -d 'username=x&password=y' "$BASE/api/login"
curl -s -H "Authorization: Bearer $KEY" "$BASE/metrics" > "$WORK/scrape.txt"
series=$(grep -vc '^#\|^$' "$WORK/scrape.txt")
bytes=$(wc -c < "$WORK/scrape.txt")
total=0
for _ in $(seq 1 "$SCRAPES"); do
  t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $KEY" "$BASE/metrics")
  total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
done
echo "scrape: $series samples, $bytes bytes, mean $(awk -v t="$total" -v n="$SCRAPES" 'BEGIN {printf "%.3f", 1000 * t / n}') ms over $SCRAPES scrapes (curl time_total, connection included)"
