#!/usr/bin/env bash
# Runs Schemathesis (every check) over the whole OpenAPI document against a freshly started
# service: a `hazel-sync serve` on a free loopback port, a fresh SQLite file in a temporary
# directory, a bootstrap token, and seed data (an organization, a channel, a member, a message)
# whose ids are passed as the `orgId`, `channelId` and `messageId` path parameters so that the
# generated requests reach past 404s. Zero failures are allowed. The service is stopped and the
# temporary directory removed whatever happens.
#
# Environment:
#   HAZEL_SCHEMATHESIS_PROFILE   `debug` (default) or `release`: which build of the binary to run
#   HAZEL_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 40)
#   HAZEL_SCHEMATHESIS_SEED      the generation seed (default 20261130)
#   HAZEL_SCHEMATHESIS_WORKERS   concurrent workers (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${HAZEL_SCHEMATHESIS_PROFILE:-debug}
examples=${HAZEL_SCHEMATHESIS_EXAMPLES:-40}
seed=${HAZEL_SCHEMATHESIS_SEED:-20261130}
workers=${HAZEL_SCHEMATHESIS_WORKERS:-2}

if ! command -v schemathesis >/dev/null 2>&1; then
  python3 -m pip install --quiet 'schemathesis>=4.3,<5'
fi

case "$profile" in
  release) cargo build --quiet --release --bin hazel-sync ;;
  debug) cargo build --quiet --bin hazel-sync ;;
  *) echo "HAZEL_SCHEMATHESIS_PROFILE must be debug or release, got $profile" >&2; exit 2 ;;
esac
binary="target/$profile/hazel-sync"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A free loopback port: bound by the kernel's choice, then released for the service.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"

export HAZEL_DATABASE_URL="sqlite://$work/hazel.db"
export HAZEL_LISTEN="127.0.0.1:$port"
# Provider calls must never leave the machine: port 9 on loopback refuses connections.
export HAZEL_SLACK_API_URL="http://127.0.0.1:9/api"
export HAZEL_DISCORD_API_URL="http://127.0.0.1:9/api/v10"
export HAZEL_TEAMS_API_URL="http://127.0.0.1:9/teams"
export RUST_LOG=${RUST_LOG:-warn}

token=$("$binary" bootstrap --email fuzz@example.com --name Fuzz 2>/dev/null)
"$binary" serve >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

api() {
  curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$2" "$base/api/v1$1"
}
org=$(api /organizations '{"name":"Fuzz"}' | jq -r .data.id)
channel=$(api "/organizations/$org/channels" '{"name":"general","type":"public"}' | jq -r .data.id)
api "/organizations/$org/members" '{"email":"member@example.com","name":"Member","role":"member"}' >/dev/null
message=$(api "/channels/$channel/messages" '{"content":"hello"}' | jq -r .data.id)

config="$work/schemathesis.toml"
cat >"$config" <<EOF
[parameters]
"path.orgId" = "$org"
"path.channelId" = "$channel"
"path.messageId" = "$message"
EOF

echo "schemathesis over $base (seed $seed, $examples examples per operation, $profile build)"
started=$(date +%s)
status=0
schemathesis --config-file "$config" run openapi/openapi.json \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$examples" \
  --seed "$seed" \
  --generation-deterministic \
  --workers "$workers" \
  --request-timeout 10 \
  --no-color || status=$?
echo "schemathesis finished in $(($(date +%s) - started)) s with status $status"
if [[ $status -ne 0 ]]; then
  echo "--- service log (last 50 lines) ---" >&2
  tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
