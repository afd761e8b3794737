#!/usr/bin/env bash
# Routing-plane benchmark: INVITE → 302 (+ ACK) over UDP against didhub's SIP
# redirect server and against Kamailio configured as a stateless redirect
# server (bench/sip/kamailio.cfg: htable, sl_send_reply, append_to_reply, 2
# children, maxbuffer 4 MiB), both holding the same 100,000 routed DIDs with
# the same contacts. sipp (bench/sip/uac_redirect.xml) offers rising call rates;
# for each target the table gives the highest rate with no failed call and no
# retransmission, the 302's response time (p50/p99, from sipp's -trace_rtt,
# whose resolution is 1 ms: "<1" means under a millisecond) at that rate, and
# the server's CPU time per call (utime+stime of all its processes, from
# /proc, over the step). Loopback only; every step is bounded in time
# (DURATION seconds of calls, sipp quits 5 s later at most).
#
# sipp is one thread and shares the machine's cores with the server, so near
# the top the client can be the limit: the steps table shows sipp's CPU and
# where datagrams were dropped (the server's socket or elsewhere, i.e. sipp's)
# to tell a server limit from a client one.
#
# sipp's clock for response times advances in kernel ticks (4 ms here: its
# times come out as 0, 4, 8… ms), so its percentiles cannot resolve a server
# that answers in microseconds. A second series therefore drives each target
# with examples/sip_rtt (the same INVITE/302/ACK exchange, open loop, timed
# with the monotonic clock into an HDR histogram, lighter than sipp so it
# reaches further) at rising rates of RTT_DURATION seconds each, until a call
# is lost or p99 reaches 5 ms; the summary gives each target's highest rate
# under both criteria and the ratio.
#
#   bash bench/sip/run.sh
#   RATES="2000 4000" DURATION=5 TARGETS=didhub bash bench/sip/run.sh
#   RTT_RATES="20000 40000" bash bench/sip/run.sh  # the sip_rtt series' rates
#   KEEP_WORK=1 bash bench/sip/run.sh     # keep sipp's statistics, rtt files and the logs
#   DESTINATIONS=5 TARGETS=didhub bash bench/sip/run.sh  # every 302 a 5-Contact failover list
#
# Needs sipp and Kamailio (apt-get install sip-tester kamailio) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

NUMBERS=${NUMBERS:-100000}
# Destinations per number (1 to 5); Kamailio's table keeps the first only.
DESTINATIONS=${DESTINATIONS:-1}
RATES=${RATES:-"5000 10000 15000 20000 25000 30000 40000 50000 60000 70000 80000"}
DURATION=${DURATION:-10}
TARGETS=${TARGETS:-"kamailio didhub"}
RTT_RATES=${RTT_RATES:-"10000 20000 30000 40000 50000 60000 80000 100000 120000 150000 200000"}
RTT_DURATION=${RTT_DURATION:-5}
P99_LIMIT_US=5000
ACCOUNTS=8
SCENARIO=$PWD/bench/sip/uac_redirect.xml
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT

for tool in sipp kamailio python3; do
  command -v $tool >/dev/null || { echo "missing $tool: apt-get install sip-tester kamailio python3" >&2; exit 1; }
done
cargo build --release --quiet --bin didhub --example bench_load --example sip_rtt
BIN=target/release
HZ=$(getconf CLK_TCK)

# shellcheck source=bench/sip/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# sip_probe PORT NUMBER…: waits (20 s at most) until OPTIONS is answered, then
# sends one INVITE (and its ACK) per number; prints "NUMBER STATUS CONTACT" each.
sip_probe() {
  python3 - "$@" <<'EOF'
import socket, sys, time, uuid
port, numbers = int(sys.argv[1]), sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.5)
local = s.getsockname()[1]

def request(method, uri, branch, call_id, to=None):
    to = to or f"<{uri}>"
    s.sendto((f"{method} {uri} SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch={branch}\r\n"
              f"From: <sip:probe@127.0.0.1:{local}>;tag=probe\r\nTo: {to}\r\n"
              f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
              "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))

def answer(call_id=None):
    # A late answer to an earlier OPTIONS (a server slow to start gets
    # several) is skipped: only this request's Call-ID counts.
    while True:
        head = s.recv(65535).decode(errors="replace").split("\r\n\r\n")[0].split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        if call_id is None or fields.get("call-id") == call_id:
            return int(head[0].split()[1]), fields

deadline = time.time() + 20
while True:
    request("OPTIONS", f"sip:127.0.0.1:{port}", "z9hG4bK" + uuid.uuid4().hex, uuid.uuid4().hex)
    try:
        answer()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit(f"nothing answers OPTIONS on udp 127.0.0.1:{port}")
for number in numbers:
    uri, branch, call_id = f"sip:{number}@127.0.0.1:{port}", "z9hG4bK" + uuid.uuid4().hex, uuid.uuid4().hex
    request("INVITE", uri, branch, call_id)
    status, fields = answer(call_id)
    request("ACK", uri, branch, call_id, fields.get("to"))
    print(number, status, fields.get("contact", "-"))
EOF
}

# tree_ticks PID: CPU ticks (utime + stime) of PID and its child processes
# (Kamailio's workers; didhub's threads are counted in its own line).
tree_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# CHILDREN_CPU: CPU seconds used so far by this shell's finished children
# (sipp, in run_step). `times` must run in this shell, not in a $(…) subshell.
children_cpu() {
  times > "$WORK/times"
  CHILDREN_CPU=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$WORK/times")
}

# udp_drops PORT: datagrams the kernel dropped for the loopback UDP socket on
# PORT (its receive buffer was full); rcvbuf_errors: the same, all sockets.
udp_drops() {
  awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a {d += $NF} END {print d + 0}' /proc/net/udp
}
rcvbuf_errors() {
  awk '$1 == "Udp:" { if (!n) { for (i = 2; i <= NF; i++) c[$i] = i; n = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp
}

# stat FILE COLUMN: that column of the last line of a sipp statistics file.
stat() {
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
    END { print (c ? $c : 0) }' "$1" 2>/dev/null || echo 0
}
# StartTime/CurrentTime are "date<TAB>time<TAB>epoch".
epoch() { stat "$1" "$2" | awk -F'\t' '{print $NF}'; }

ms() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else if (v < 1) print "<1"; else print v }'; }

# run_step TARGET PORT ROOT_PID RATE: one step of DURATION seconds; appends a
# row to steps.md and sets VERDICT (ok, or why not) and the step's figures.
run_step() {
  local target=$1 port=$2 root=$3 rate=$4
  local calls=$((rate * DURATION)) dir="$WORK/$target-$rate"
  mkdir -p "$dir"
  local ticks0 cpu0 ticks1 cpu1
  ticks0=$(tree_ticks "$root"); children_cpu; cpu0=$CHILDREN_CPU
  local drops0 all_drops0 drops1 all_drops1
  drops0=$(udp_drops "$port"); all_drops0=$(rcvbuf_errors)
  (cd "$dir" && timeout $((DURATION + 20)) sipp -sf "$SCENARIO" -inf "$WORK/numbers.csv" "127.0.0.1:$port" \
    -i 127.0.0.1 -p "$SIPP_PORT" -r "$rate" -m "$calls" -l 200000 -buff_size 4194304 \
    -max_recv_loops 10000 -max_sched_loops 10000 -recv_timeout 2000 -timeout $((DURATION + 5))s -nostdin \
    -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1000 > sipp.out 2>&1) || true
  ticks1=$(tree_ticks "$root"); children_cpu; cpu1=$CHILDREN_CPU
  drops1=$(udp_drops "$port"); all_drops1=$(rcvbuf_errors)
  local st="$dir/stat.csv" outgoing ok failed retrans elapsed achieved
  outgoing=$(stat "$st" 'OutgoingCall(C)'); ok=$(stat "$st" 'SuccessfulCall(C)')
  failed=$(stat "$st" 'FailedCall(C)'); retrans=$(stat "$st" 'Retransmissions(C)')
  elapsed=$(awk -v a="$(epoch "$st" StartTime)" -v b="$(epoch "$st" CurrentTime)" 'BEGIN {printf "%.3f", b - a}')
  achieved=$(awk -v n="$outgoing" -v t="$elapsed" 'BEGIN {printf "%.0f", (t > 0 ? n / t : 0)}')
  cat "$dir"/*_rtt.csv 2>/dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ {print $2}' | sort -n > "$dir/rtt.txt"
  P50=$(awk '{a[NR] = $1} END {if (NR) {i = int(NR * 0.50 + 0.999999); print a[i]}}' "$dir/rtt.txt")
  P99=$(awk '{a[NR] = $1} END {if (NR) {i = int(NR * 0.99 + 0.999999); print a[i]}}' "$dir/rtt.txt")
  CPU_US=$(awk -v d=$((ticks1 - ticks0)) -v hz="$HZ" -v n="$ok" 'BEGIN {printf "%.1f", (n > 0 ? d * 1e6 / hz / n : 0)}')
  local server_pct sipp_pct
  server_pct=$(awk -v d=$((ticks1 - ticks0)) -v hz="$HZ" -v t="$elapsed" 'BEGIN {printf "%.0f", (t > 0 ? 100 * d / hz / t : 0)}')
  sipp_pct=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$elapsed" 'BEGIN {printf "%.0f", (t > 0 ? 100 * (b - a) / t : 0)}')
  if [ "$failed" != 0 ]; then
    VERDICT="failed calls"
  elif [ "$retrans" != 0 ]; then
    VERDICT="retransmissions"
  elif [ "$ok" != "$calls" ] || [ "$achieved" -lt $((rate * 95 / 100)) ]; then
    VERDICT="sipp short of the rate"
  else
    VERDICT=ok
  fi
  local note=$VERDICT
  # sipp is one thread: near a full core, it is the client that falls behind
  # (it reads the answers late and retransmits).
  [ "$VERDICT" != ok ] && [ "$sipp_pct" -ge 90 ] && note="$VERDICT (sipp saturated)"
  echo "| $target | $rate | $achieved | $ok | $failed | $retrans | $(ms "$P50") | $(ms "$P99") | $CPU_US | ${server_pct}% | ${sipp_pct}% | $((drops1 - drops0)) | $((all_drops1 - all_drops0)) | $note |" >> "$WORK/steps.md"
  echo "   $rate cps: $note (achieved $achieved, ok $ok, failed $failed, retrans $retrans, p50 ${P50:-?} ms, p99 ${P99:-?} ms, $CPU_US µs/call, server ${server_pct}% CPU, sipp ${sipp_pct}%)" >&2
}

# series TARGET PORT ROOT_PID: a short warm-up, then RATES upwards until a
# step is not ok; adds the target's row to results.md and sets MAX_<target>.
series() {
  local target=$1 port=$2 root=$3 best=0 best_p50="" best_p99="" best_cpu="" ended="" rate
  (cd "$WORK" && timeout 20 sipp -sf "$SCENARIO" -inf "$WORK/numbers.csv" "127.0.0.1:$port" -i 127.0.0.1 \
    -p "$SIPP_PORT" -r 2000 -m 6000 -recv_timeout 2000 -timeout 10s -nostdin > warmup.out 2>&1) || true
  for rate in $RATES; do
    sleep 2
    run_step "$target" "$port" "$root" "$rate"
    if [ "$VERDICT" != ok ]; then
      ended="$VERDICT at $rate cps"
      break
    fi
    best=$rate best_p50=$P50 best_p99=$P99 best_cpu=$CPU_US
  done
  echo "| $target | $best | $(ms "$best_p50") | $(ms "$best_p99") | ${best_cpu:-n/a} |" >> "$WORK/results.md"
  echo "- $target: ${ended:-no failure up to the highest rate tried}" >> "$WORK/ends.md"
  eval "MAX_$target=$best"
}

# field LINE KEY: the value of KEY in sip_rtt's "key=value …" line.
field() { tr ' ' '\n' <<< "$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# rtt_series TARGET PORT ROOT_PID: sip_rtt at RTT_RATES upwards until a call
# is lost, a status other than 302 comes back or p99 reaches the limit; adds
# rows to rtt.md and the target's row to rtt_results.md.
rtt_series() {
  local target=$1 port=$2 root=$3 best=0 best_line="" ended="" rate line verdict ticks0 ticks1
  for rate in $RTT_RATES; do
    sleep 1
    ticks0=$(tree_ticks "$root")
    line=$($BIN/examples/sip_rtt --target "127.0.0.1:$port" --numbers "$WORK/numbers.csv" --rate "$rate" \
      --duration "$RTT_DURATION" --warmup 1 2> "$WORK/$target-rtt-$rate.err") || { echo "sip_rtt failed: $(cat "$WORK/$target-rtt-$rate.err")" >&2; exit 1; }
    ticks1=$(tree_ticks "$root")
    local answered p99 cpu_us
    answered=$(field "$line" answered); p99=$(field "$line" p99_us)
    # CPU over warm-up and measured calls alike: (1 + RTT_DURATION) s of calls.
    cpu_us=$(awk -v d=$((ticks1 - ticks0)) -v hz="$HZ" -v r="$rate" -v t="$RTT_DURATION" \
      'BEGIN {printf "%.1f", d * 1e6 / hz / (r * (t + 1))}')
    if [ "$(field "$line" lost)" != 0 ]; then verdict="lost calls"
    elif [ "$(field "$line" other_status)" != 0 ]; then verdict="answers other than 302"
    elif [ "$p99" -ge "$P99_LIMIT_US" ]; then verdict="p99 ≥ 5 ms"
    else verdict=ok; fi
    echo "| $target | $rate | $(field "$line" achieved_cps) | $answered | $(field "$line" lost) | $(field "$line" p50_us) | $(field "$line" p90_us) | $p99 | $(field "$line" p999_us) | $(field "$line" max_us) | $cpu_us | $(field "$line" max_lag_us) | $verdict |" >> "$WORK/rtt.md"
    echo "   sip_rtt $rate cps: $verdict ($line)" >&2
    if [ "$verdict" != ok ]; then
      ended="$verdict at $rate cps"
      break
    fi
    best=$rate best_line=$line
  done
  echo "| $target | $best | $(field "$best_line" p50_us) | $(field "$best_line" p99_us) | $(field "$best_line" p999_us) |" >> "$WORK/rtt_results.md"
  echo "- $target (sip_rtt): ${ended:-no failure up to the highest rate tried}" >> "$WORK/ends.md"
  eval "RTT_MAX_$target=$best"
}

echo "== loading $NUMBERS routed DIDs" >&2
DB="$WORK/bench.db"
$BIN/examples/bench_load --database "$DB" --numbers "$NUMBERS" --accounts $ACCOUNTS --tokens "$WORK/tokens.txt" \
  --assign-and-forward --destinations "$DESTINATIONS" --routes "$WORK/routes.csv" >&2
[ "$(wc -l < "$WORK/routes.csv")" = "$NUMBERS" ] || { echo "expected $NUMBERS routes in $WORK/routes.csv" >&2; exit 1; }
# sipp's injection file: the DIDs as dialled, in random order per call.
{ echo RANDOM; cut -d';' -f1 "$WORK/routes.csv" | sed 's/$/;/'; } > "$WORK/numbers.csv"
# Kamailio's htable source: a db_text table of the same DIDs and contacts
# (":" is escaped in db_text values).
mkdir -p "$WORK/kamailio/db"
{
  echo "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)"
  awk -F';' '{gsub(/:/, "\\:", $2); print NR ":" $1 ":0:0:" $2 ":0"}' "$WORK/routes.csv"
} > "$WORK/kamailio/db/routes"
SAMPLES=$(awk -F';' -v n="$NUMBERS" 'NR == 1 || NR == int(n / 2) || NR == n {printf "%s ", $1}' "$WORK/routes.csv")
SIPP_PORT=$(free_port)

{
  echo "| target | offered cps | achieved cps | calls ok | failed | retransmissions | p50 ms | p99 ms | CPU µs/call | server CPU | sipp CPU | server socket drops | all UDP drops | verdict |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$WORK/steps.md"
{
  echo "| target | max cps without failure/retransmission | p50 ms | p99 ms | CPU µs/call |"
  echo "|---|---|---|---|---|"
} > "$WORK/results.md"
{
  echo "| target | offered cps | achieved cps | answered (302) | lost | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | CPU µs/offered call | client max lag µs | verdict |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$WORK/rtt.md"
{
  echo "| target | max cps, no lost call, p99 < 5 ms | p50 µs | p99 µs | p99.9 µs |"
  echo "|---|---|---|---|---|"
} > "$WORK/rtt_results.md"
: > "$WORK/ends.md"

# check_routes TARGET PORT: the sample DIDs answer 302 with the contact
# routes.csv gives, and an unknown number 404.
check_routes() {
  local answers number status contact
  answers=$(sip_probe "$2" $SAMPLES +33999999999) || { echo "$1 does not answer on udp 127.0.0.1:$2" >&2; exit 1; }
  while read -r number status contact; do
    local want="404 -"
    [ "$number" = +33999999999 ] || want="302 <$(grep -m1 "^$number;" "$WORK/routes.csv" | cut -d';' -f2)>"
    # The first Contact without its parameters (a failover list adds ;q=).
    [ "$contact" = - ] || contact="${contact%%>*}>"
    [ "$status $contact" = "$want" ] || { echo "$1: $number answered $status $contact, expected $want" >&2; exit 1; }
  done <<< "$answers"
  echo "   $1 routes the sample DIDs ($SAMPLES) as didhub's database says; unknown → 404" >&2
}

for target in $TARGETS; do
  port=$(free_port)
  case $target in
    kamailio)
      echo "== Kamailio $(kamailio -v | awk 'NR == 1 {print $3}') on udp 127.0.0.1:$port" >&2
      kamailio -f bench/sip/kamailio.cfg -DD -E -m 256 -M 128 -Y "$WORK/kamailio" -P "$WORK/kamailio/kamailio.pid" \
        -l "udp:127.0.0.1:$port" -A "ROUTES_DB=\"text://$WORK/kamailio/db\"" > "$WORK/kamailio.log" 2>&1 &
      ;;
    didhub)
      echo "== didhub on udp 127.0.0.1:$port" >&2
      $BIN/didhub --database "$DB" --log warn serve --listen 127.0.0.1:0 --sip-listen "127.0.0.1:$port" \
        --maintenance-interval-secs 0 > "$WORK/didhub.log" 2>&1 &
      ;;
    *) echo "unknown target $target (kamailio, didhub)" >&2; exit 1 ;;
  esac
  root=$!
  check_routes "$target" "$port"
  series "$target" "$port" "$root"
  rtt_series "$target" "$port" "$root"
  kill "$root"; wait "$root" 2>/dev/null || true
done

echo
echo "sipp steps (each ${DURATION} s of INVITE/302/ACK over UDP, $NUMBERS DIDs in random order; CPU: 100% = one core;"
echo "drops: datagrams the kernel dropped on a full receive buffer, the server's socket and all UDP sockets, sipp's included):"
echo
cat "$WORK/steps.md"
echo
echo "Highest rate with no failed call and no retransmission (sipp), on $(nproc) cores shared with sipp;"
echo "sipp's times are in 4 ms ticks:"
echo
cat "$WORK/results.md"
echo
echo "sip_rtt steps (each 1 s of warm-up then ${RTT_DURATION} s measured; response times of the 302 in µs;"
echo "client max lag: how far behind schedule sip_rtt's sender fell, i.e. whether the client kept up):"
echo
cat "$WORK/rtt.md"
echo
echo "Highest rate with no lost call and p99 under 5 ms (sip_rtt):"
echo
cat "$WORK/rtt_results.md"
echo
cat "$WORK/ends.md"
if [ -n "${MAX_didhub:-}" ] && [ -n "${MAX_kamailio:-}" ]; then
  awk -v a="$MAX_didhub" -v b="$MAX_kamailio" \
    'BEGIN { if (b > 0) printf "- didhub / Kamailio (sipp, max cps): %.0f%%\n", 100 * a / b; else print "- didhub / Kamailio (sipp): n/a" }'
fi
if [ -n "${RTT_MAX_didhub:-}" ] && [ -n "${RTT_MAX_kamailio:-}" ]; then
  awk -v a="$RTT_MAX_didhub" -v b="$RTT_MAX_kamailio" \
    'BEGIN { if (b > 0) printf "- didhub / Kamailio (sip_rtt, max cps at p99 < 5 ms): %.0f%%\n", 100 * a / b; else print "- didhub / Kamailio (sip_rtt): n/a" }'
fi
