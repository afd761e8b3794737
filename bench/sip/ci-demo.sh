#!/usr/bin/env bash
# End-to-end check of the routing plane with a real SIP client: start the
# demo server (HTTP on an ephemeral port, SIP on a free loopback port), buy a
# French number through the HTTP API as demo/demo-password, forward it to
# sip:alice@192.0.2.10:5070, then place CALLS calls to it with sipp
# (bench/sip/uac_redirect.xml) and require every one to get its 302 with that
# Contact and to send its ACK. Prints "sipp: N passed, N failed"; exits
# non-zero unless all calls passed. Then the same with examples/sip_rtt (1,000
# calls in 2 s), which must get every 302. Loopback only, bounded in time.
#
#   bash bench/sip/ci-demo.sh                  # uses target/debug/didhub (cargo build)
#   DIDHUB_BIN=target/release/didhub bash bench/sip/ci-demo.sh
#   KEEP_WORK=1 bash bench/sip/ci-demo.sh        # keep sipp's message log and statistics
#
# Needs sipp (apt-get install sip-tester), curl, and jq or python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${DIDHUB_BIN:-target/debug/didhub}
CALLS=${CALLS:-20}
RATE=${RATE:-10}
# An address literal: forward targets given by name must resolve (and not to a
# refused address), and CI has no DNS.
CONTACT=sip:alice@192.0.2.10:5070

for tool in sipp curl; do
  command -v $tool >/dev/null || { echo "missing $tool (sipp: apt-get install sip-tester)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "missing $BIN: cargo build first" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  if [ -n "${KEEP_WORK:-}" ]; then echo "ci-demo: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# json EXPRESSION: reads JSON on stdin, prints the jq-style path (.a.b[0].c).
if command -v jq >/dev/null; then
  json() { jq -er "$1"; }
else
  json() {
    python3 -c '
import json, re, sys
value = json.load(sys.stdin)
for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", sys.argv[1]):
    value = value[key] if key else value[int(index)]
if value is None:
    sys.exit(1)
print(value)' "$1"
  }
fi

# shellcheck source=bench/sip/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

fail() {
  echo "ci-demo: $*" >&2
  echo "--- server log" >&2
  tail -n 30 "$WORK/server.log" >&2 || true
  exit 1
}

# A demo server on free ports (bench/sip/common.sh).
start_demo_server 30 || fail "the server did not start"
BASE="http://$(cat "$WORK/address")/api"

post() { # post PATH CURL-ARGS…: the JSON answer; fails on a non-2xx status
  local path=$1; shift
  curl -sS --max-time 10 --fail-with-body -X POST "$BASE$path" "$@"
}

TOKEN=$(post /login -d username=demo -d password=demo-password | json .account_token) \
  || fail "login failed"
AVAILABLE=$(post /did/available -d token="$TOKEN" -d country=FR -d type=landline -d limit=1) \
  || fail "searching French numbers failed: $AVAILABLE"
DID_ID=$(echo "$AVAILABLE" | json '.dids[0].did_id') || fail "no French number available"
NUMBER=$(echo "$AVAILABLE" | json '.dids[0].did_number')
post /did/assign -H "Authorization: Bearer $TOKEN" -d did_id="$DID_ID" | json .status | grep -qx assigned \
  || fail "assigning $NUMBER failed"
FORWARD=$(post /did/forward -d token="$TOKEN" -d did_id="$DID_ID" -d type=sip -d destination="$CONTACT") \
  || fail "forwarding $NUMBER failed: $FORWARD"
[ "$(echo "$FORWARD" | json .forwarding.destination)" = "$CONTACT" ] || fail "forwarding $NUMBER failed: $FORWARD"
echo "ci-demo: $NUMBER (did_id $DID_ID) forwarded to $CONTACT; calling it on udp 127.0.0.1:$SIP_PORT"

printf 'SEQUENTIAL\n%s;\n' "$NUMBER" > "$WORK/number.csv"
status=0
(cd "$WORK" && sipp -sf "$OLDPWD/bench/sip/uac_redirect.xml" -inf number.csv "127.0.0.1:$SIP_PORT" \
  -i 127.0.0.1 -p "$(free_port)" -m "$CALLS" -r "$RATE" -l "$CALLS" -recv_timeout 5000 -timeout 60s -nostdin \
  -trace_stat -stf stat.csv -fd 1 -trace_msg -message_file messages.log \
  -trace_err -error_file errors.log > sipp.out 2>&1) || status=$?

# A call passed when sipp completed it (SuccessfulCall), and the wire shows
# its 302 carrying the forward's Contact and its ACK sent in the INVITE's
# transaction (the same top Via branch, RFC 3261 §17.1.1.3).
count() { # the last statistics line's COLUMN
  awk -F';' -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
    END { print (c ? $c : 0) + 0 }' "$WORK/stat.csv" 2>/dev/null || echo 0
}
branches() { # METHOD: the top Via branch of each METHOD request sipp sent, sorted
  awk -v m="$1" '$1 == m && $2 ~ /^sip:/ { want = 1; next }
    want && /^Via:/ { sub(/.*;branch=/, ""); sub(/;.*/, ""); print; want = 0 }' "$WORK/messages.log" 2>/dev/null | sort
}
completed=$(count 'SuccessfulCall(C)')
redirects=$(grep -c "^Contact: <$CONTACT>\s*$" "$WORK/messages.log" 2>/dev/null || true)
redirects=${redirects:-0}
acks=$(comm -12 <(branches INVITE) <(branches ACK) | wc -l)
passed=$completed
for n in "$redirects" "$acks"; do [ "$n" -lt "$passed" ] && passed=$n; done
failed=$((CALLS - passed))
echo "sipp: $passed passed, $failed failed"
if [ "$status" != 0 ] || [ "$failed" != 0 ]; then
  echo "ci-demo: sipp exit $status; of $CALLS calls $completed completed, $redirects got a 302 to $CONTACT," \
    "$acks sent their ACK in the INVITE's transaction" >&2
  tail -n 40 "$WORK/errors.log" "$WORK/sipp.out" >&2 2>/dev/null || true
  fail "calls failed"
fi

# The benchmark's microsecond client (examples/sip_rtt, built by cargo test)
# against the same server and number: every call must get its 302.
RTT_BIN=${SIP_RTT_BIN:-$(dirname "$BIN")/examples/sip_rtt}
if [ -x "$RTT_BIN" ]; then
  line=$("$RTT_BIN" --target "127.0.0.1:$SIP_PORT" --numbers "$WORK/number.csv" --rate 500 --duration 2 \
    --warmup 0.5 2> "$WORK/sip_rtt.err") || fail "sip_rtt failed: $(cat "$WORK/sip_rtt.err")"
  echo "sip_rtt: $line"
  grep -q ' lost=0 other_status=0 ' <<< " $line " && grep -q ' answered=1000 ' <<< " $line " \
    || fail "sip_rtt: calls without their 302"
else
  echo "ci-demo: no $RTT_BIN (cargo test builds it); sip_rtt check skipped" >&2
fi
