# Shell helpers shared by the SIP scripts (sourced, not run).

# A loopback port free for both UDP and TCP right now.
free_port() {
  python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break'
}

# start_demo_server SECONDS: starts `$BIN serve --demo` on $WORK/didhub.db with
# HTTP on a free port (written to $WORK/address) and SIP on $SIP_PORT, waiting
# up to SECONDS for it to listen; retries with another SIP port if that one was
# taken between free_port and the bind. Sets SERVER (the pid) and SIP_PORT;
# returns 1 if it never started.
start_demo_server() {
  local tenths=$(($1 * 10)) attempt
  for attempt in 1 2 3; do
    SIP_PORT=$(free_port)
    rm -f "$WORK/address"
    "$BIN" --database "$WORK/didhub.db" --log warn serve --demo --listen 127.0.0.1:0 \
      --address-file "$WORK/address" --sip-listen "127.0.0.1:$SIP_PORT" \
      --maintenance-interval-secs 0 > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 "$tenths"); do
      [ -s "$WORK/address" ] && return 0
      kill -0 "$SERVER" 2>/dev/null || break
      sleep 0.1
    done
    [ -s "$WORK/address" ] && return 0
    wait "$SERVER" 2>/dev/null || true
    SERVER=
  done
  return 1
}
