#!/usr/bin/env bash
# Contract test: schemathesis (all checks) against /openapi.json of a running
# `didhub serve --demo`. SQLite by default; with a PostgreSQL URL as the first
# argument (or DIDHUB_CONTRACT_POSTGRES_URL) it runs on a temporary database there.
# Exits non-zero on any failure. Examples per operation: SCHEMATHESIS_EXAMPLES.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-30}"
SEED="${SCHEMATHESIS_SEED:-}"
POSTGRES_URL="${1:-${DIDHUB_CONTRACT_POSTGRES_URL:-}}"

if ! command -v st >/dev/null || [ "$(st --version 2>/dev/null | awk '{print $3}')" != "$SCHEMATHESIS_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin didhub
work=$(mktemp -d)
server_pid=""
temp_db=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$temp_db" ]; then
    psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS $temp_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$POSTGRES_URL" ]; then
  temp_db="didhub_contract_$$_$RANDOM"
  psql -q -v ON_ERROR_STOP=1 "$POSTGRES_URL" -c "CREATE DATABASE $temp_db" >/dev/null
  database="${POSTGRES_URL%/*}/$temp_db"
  backend=postgres
else
  database="$work/didhub.db"
  backend=sqlite
fi

routing_key="contract-routing-key-$RANDOM$RANDOM"
# High failure allowances: schemathesis logs in with made-up passwords and calls
# with made-up tokens, and the throttles' 429 (documented) would hide what the
# server answers otherwise. The environment variables also reach the per-address
# limits of builds that have them; others ignore them.
DIDHUB_LOGIN_MAX_FAILURES_PER_USER=1000000 \
DIDHUB_AUTH_MAX_FAILURES_PER_ADDRESS=1000000 \
DIDHUB_LOGIN_MAX_PER_ADDRESS=1000000 \
./target/debug/didhub serve --demo \
  --database "$database" \
  --listen 127.0.0.1:0 --address-file "$work/address" \
  --sip-listen off \
  --routing-key "$routing_key" \
  --login-max-failures 1000000 \
  --maintenance-interval-secs 0 \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  [ -s "$work/address" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.5
done
base="http://$(cat "$work/address")"

# The demo account logs in (schemathesis does the same, see schemathesis.toml)
# and buys two numbers, one forwarded, so that the routing lookups also answer
# 200 and their documents are checked: half of the numbers schemathesis looks up
# are these two.
token=$(curl -sf -X POST "$base/api/login" -d username=demo -d password=demo-password |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["account_token"])') ||
  { echo "demo login failed"; cat "$work/server.log"; exit 1; }
api() { curl -sf -X POST -H "Authorization: Bearer $token" "$base/api/$1" "${@:2}"; }
read -r first_id first_number second_id second_number < <(api did/available -d country=FR -d limit=2 |
  python3 -c 'import json, sys; d = json.load(sys.stdin)["dids"]; print(*(v for x in d for v in (x["did_id"], x["did_number"])))')
api did/assign -d did_id="$first_id" >/dev/null
api did/assign -d did_id="$second_id" >/dev/null
api did/forward -d did_id="$first_id" -d type=pstn -d destination=+33612345678 >/dev/null
config="$work/schemathesis.toml"
cp tests/contract/schemathesis.toml "$config"
cat >>"$config" <<TOML

[dictionaries.owned_numbers]
values = ["$first_number", "$second_number"]

[parameters]
"path.number" = { dictionary = "owned_numbers", probability = 0.5 }
"body.Caller-Destination-Number" = { dictionary = "owned_numbers", probability = 0.5 }
TOML

echo "== schemathesis $SCHEMATHESIS_VERSION on $backend ($EXAMPLES examples per operation)"
start=$(date +%s)
status=0
# From the scratch directory: schemathesis keeps a cache (.schemathesis) where it runs.
# The admin API (/admin/v1) is left out: it is driven with operator keys by
# tests/api/admin.rs, role by role, on both backends.
(cd "$work" && DIDHUB_CONTRACT_USERNAME=demo DIDHUB_CONTRACT_PASSWORD=demo-password DIDHUB_CONTRACT_ROUTING_KEY="$routing_key" \
  st --config-file "$config" run "$base/openapi.json" \
  --checks all \
  --exclude-path-regex '^/admin/' \
  --max-examples "$EXAMPLES" \
  ${SEED:+--seed "$SEED"} \
  --workers 2 \
  --generation-database none \
  --request-timeout 10 \
  --no-color ${SCHEMATHESIS_EXTRA_ARGS:-}) || status=$?
echo "== schemathesis on $backend: exit $status in $(( $(date +%s) - start )) s"
if grep -q "panicked" "$work/server.log"; then
  grep -n "panicked" "$work/server.log"
  status=1
fi
if [ "$status" != 0 ]; then
  echo "== server log (last 40 lines)"
  tail -n 40 "$work/server.log"
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "== the server is no longer running"; fi
fi
exit "$status"
