#!/usr/bin/env bash
# Login flood: memory of the server while REQUESTS logins for unknown usernames
# arrive from CONNECTIONS concurrent clients (each costs an Argon2 check, 19 MiB
# of memory while it runs). Builds release, starts `didhub serve --demo` on a
# temporary database and a free port, samples RSS every 0.1 s during the flood
# and for SETTLE seconds after it, prints peak and after, and stops the server.
#
#   bash bench/login_flood.sh
#   REQUESTS=1000 CONNECTIONS=32 LIMITS=default bash bench/login_flood.sh
#
# All requests come from 127.0.0.1, which the per-address login limits would
# stop after a few hundred; by default they are lifted (LIMITS=lifted) so the
# flood reaches the password workers, as one spread over many addresses would.
# LIMITS=default keeps the shipped limits. Uses wrk (apt-get install wrk) when
# installed, else curl and xargs. Loopback only, bounded by TIMEOUT seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-10000}
CONNECTIONS=${CONNECTIONS:-64}
LIMITS=${LIMITS:-lifted}
SETTLE=${SETTLE:-3}
TIMEOUT=${TIMEOUT:-60}
WORK=$(mktemp -d)
SERVER=""
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin didhub

if [ "$LIMITS" = lifted ]; then
  export DIDHUB_LOGIN_MAX_PER_ADDRESS=1000000000
  export DIDHUB_AUTH_MAX_FAILURES_PER_ADDRESS=1000000000
  export DIDHUB_LOGIN_MAX_FAILURES_PER_USER=1000000000
fi
target/release/didhub serve --demo --database "$WORK/flood.db" --listen 127.0.0.1:0 \
  --sip-listen off --address-file "$WORK/address" > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
  [ -s "$WORK/address" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$WORK/address" ] || { echo "server did not start" >&2; exit 1; }
BASE="http://$(cat "$WORK/address")"
rss() { ps -o rss= -p "$SERVER" | tr -d ' '; }
START_KB=$(rss)

(while kill -0 "$SERVER" 2>/dev/null; do rss >> "$WORK/rss"; sleep 0.1; done) &
SAMPLER=$!

if command -v wrk > /dev/null; then
  THREADS=2
  LOGIN_FLOOD_PER_THREAD=$((REQUESTS / THREADS)) timeout $((TIMEOUT + 5)) \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${TIMEOUT}s" -s bench/login_flood.lua "$BASE" \
    > "$WORK/wrk.txt" 2>&1 || true
  STATUSES=$(grep '^statuses:' "$WORK/wrk.txt" || echo "statuses: (wrk failed: $(tail -1 "$WORK/wrk.txt"))")
  TOOL="wrk -t$THREADS -c$CONNECTIONS"
else
  seq 1 "$REQUESTS" | timeout "$TIMEOUT" xargs -P "$CONNECTIONS" -I{} \
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$BASE/api/login" \
    -d username=nobody{} -d password=x > "$WORK/codes" || true
  STATUSES="statuses: $(sort "$WORK/codes" | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
  TOOL="curl via xargs -P $CONNECTIONS"
fi
DURING_KB=$(sort -n "$WORK/rss" | tail -1)
sleep "$SETTLE"
AFTER_KB=$(rss)
PEAK_KB=$(sort -n "$WORK/rss" | tail -1)

echo "login flood: $REQUESTS requests, $TOOL, limits $LIMITS, $(nproc) cores"
echo "$STATUSES"
ANSWERED=$(echo "$STATUSES" | { grep -o '=[0-9]*' || true; } | tr -d = | awk '{s += $1} END {print s + 0}')
# (wrk sleeps out its -d even when every thread stopped early, so no rate here.)
echo "answered: $ANSWERED of $REQUESTS within ${TIMEOUT} s"
echo "RSS before: $((START_KB / 1024)) MB  peak during: $((DURING_KB / 1024)) MB  peak overall: $((PEAK_KB / 1024)) MB  after ${SETTLE} s: $((AFTER_KB / 1024)) MB"
