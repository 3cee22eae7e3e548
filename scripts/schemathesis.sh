#!/usr/bin/env bash
# Runs Schemathesis (every check) over the whole OpenAPI document against a freshly started
# service: a `hazel-sync serve` on a free loopback port, a fresh SQLite file in a temporary
# directory, a bootstrap token, the Slack and Discord simulators as providers (no request leaves
# the machine), and seed data (an organization, a member, a channel, messages, connections,
# channel links, a notification) whose ids
# scripts/schemathesis_hooks.py puts into the generated requests, so that they reach past 404s
# and clear of the rules that depend on stored data. Zero failures are allowed. The service and
# the simulators are stopped and the temporary directory removed whatever happens.
#
# Environment:
#   HAZEL_SCHEMATHESIS_PROFILE   `debug` (default) or `release`: which build to run
#   HAZEL_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 100)
#   HAZEL_SCHEMATHESIS_WORKERS   concurrent workers (default 1: with more, Hypothesis parses
#                                source in threads at once, which CPython 3.11 can fail with
#                                "SystemError: AST constructor recursion depth mismatch", a
#                                tool error unrelated to the service)
# Arguments are passed on to `schemathesis run` (e.g. `--include-operation-id messageCreate`).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${HAZEL_SCHEMATHESIS_PROFILE:-debug}
examples=${HAZEL_SCHEMATHESIS_EXAMPLES:-100}
workers=${HAZEL_SCHEMATHESIS_WORKERS:-1}

if ! command -v schemathesis >/dev/null 2>&1; then
  python3 -m pip install --quiet 'schemathesis>=4.3,<5'
fi

case "$profile" in
  release) cargo build --quiet --release --bin hazel-sync --bin hazel-simulators ;;
  debug) cargo build --quiet --bin hazel-sync --bin hazel-simulators ;;
  *) echo "HAZEL_SCHEMATHESIS_PROFILE must be debug or release, got $profile" >&2; exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
binary="$target_dir/$profile/hazel-sync"
simulators="$target_dir/$profile/hazel-simulators"

work=$(mktemp -d)
server_pid=""
simulators_pid=""
stop() {
  if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
    kill -INT "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop "$server_pid"
  stop "$simulators_pid"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Free loopback ports: chosen by the kernel, then released for the processes.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_for() { # <pid> <log> <command...>: polls the command until it succeeds (10 s at most)
  local pid=$1 log=$2
  shift 2
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  "$@"
}

"$simulators" --slack "127.0.0.1:$(free_port)" --discord "127.0.0.1:$(free_port)" \
  >"$work/simulators.out" 2>"$work/simulators.log" &
simulators_pid=$!
wait_for "$simulators_pid" "$work/simulators.log" grep -q HAZEL_DEMO_DISCORD_BOT_TOKEN "$work/simulators.out"
# The simulators print `export HAZEL_SLACK_API_URL=...`, `export HAZEL_DISCORD_API_URL=...` and
# their demo workspaces' ids and bot tokens (`HAZEL_DEMO_*`), which the seed data and the hooks use.
eval "$(grep '^export HAZEL_' "$work/simulators.out")"

port=$(free_port)
base="http://127.0.0.1:$port"
export HAZEL_DATABASE_URL="sqlite://$work/hazel.db"
export HAZEL_LISTEN="127.0.0.1:$port"
export RUST_LOG=${RUST_LOG:-warn}

token=$("$binary" bootstrap --email fuzz@example.com --name Fuzz 2>/dev/null)
"$binary" serve >"$work/serve.log" 2>&1 &
server_pid=$!
wait_for "$server_pid" "$work/serve.log" curl -fsS "$base/healthz"

api() { # <path> <json>: POSTs as the bootstrap user; a refusal stops the run, naming the request
  local answer
  if ! answer=$(curl -sS --fail-with-body -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$2" "$base/api/v1$1"); then
    echo "seeding failed: POST /api/v1$1 answered: $answer" >&2
    return 1
  fi
  printf '%s\n' "$answer"
}
org=$(api /organizations '{"name":"Fuzz"}' | jq -r .data.id)
channel=$(api "/organizations/$org/channels" '{"name":"general","type":"public"}' | jq -r .data.id)
member=$(api "/organizations/$org/members" '{"email":"member@example.com","name":"Member","role":"member"}' | jq -r .data.id)
message=$(api "/channels/$channel/messages" '{"content":"hello","attachments":[{"url":"https://example.com/plan.pdf","name":"plan.pdf"}]}' | jq -r .data.id)
doomed=$(api "/channels/$channel/messages" '{"content":"to be deleted"}' | jq -r .data.id)
# The simulators' demo workspaces (see hazel-simulators).
slack_credentials="{\"botToken\":\"$HAZEL_DEMO_SLACK_BOT_TOKEN\",\"signingSecret\":\"s3cret\"}"
discord_credentials="{\"botToken\":\"$HAZEL_DEMO_DISCORD_BOT_TOKEN\"}"
connection=$(api /connections "{\"organizationId\":\"$org\",\"provider\":\"slack\",
  \"externalWorkspaceId\":\"$HAZEL_DEMO_SLACK_TEAM\",\"credentials\":$slack_credentials}" | jq -r .data.id)
doomed_connection=$(api /connections "{\"organizationId\":\"$org\",\"provider\":\"discord\",
  \"externalWorkspaceId\":\"$HAZEL_DEMO_DISCORD_GUILD\",\"credentials\":$discord_credentials}" | jq -r .data.id)
link=$(api "/connections/$connection/channel-links" \
  "{\"hazelChannelId\":\"$channel\",\"externalChannelId\":\"C0GENERAL\"}" | jq -r .data.id)
other_channel=$(api "/organizations/$org/channels" '{"name":"random","type":"public"}' | jq -r .data.id)
doomed_link=$(api "/connections/$connection/channel-links" \
  "{\"hazelChannelId\":\"$other_channel\",\"externalChannelId\":\"C0RANDOM\"}" | jq -r .data.id)
notification=$(api /notifications "{\"memberId\":\"$member\"}" | jq -r .data.id)

export HAZEL_FUZZ_ORG_ID="$org" HAZEL_FUZZ_MEMBER_ID="$member" HAZEL_FUZZ_CHANNEL_ID="$channel"
export HAZEL_FUZZ_MESSAGE_ID="$message" HAZEL_FUZZ_DOOMED_MESSAGE_ID="$doomed"
export HAZEL_FUZZ_CONNECTION_ID="$connection" HAZEL_FUZZ_DOOMED_CONNECTION_ID="$doomed_connection"
export HAZEL_FUZZ_LINK_ID="$link" HAZEL_FUZZ_DOOMED_LINK_ID="$doomed_link"
export HAZEL_FUZZ_NOTIFICATION_ID="$notification"
export HAZEL_FUZZ_SPEC="$PWD/openapi/openapi.json"
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks

echo "schemathesis over $base ($examples examples per operation, $profile build)"
started=$(date +%s)
status=0
spec="$PWD/openapi/openapi.json"
# Run from the temporary directory: Schemathesis keeps its state (replayed failures) in
# ./.schemathesis, and every run starts from a fresh service.
cd "$work"
# An explicit (empty) configuration, so no schemathesis.toml found above the directory applies.
: >schemathesis.toml
schemathesis --config-file schemathesis.toml run "$spec" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$examples" \
  --generation-deterministic \
  --workers "$workers" \
  --request-timeout 10 \
  --no-color "$@" || status=$?
echo "schemathesis finished in $(($(date +%s) - started)) s with status $status"
if [[ $status -ne 0 ]]; then
  echo "--- service log (last 50 lines) ---" >&2
  tail -n 50 "$work/serve.log" >&2
  echo "--- simulators log (last 20 lines) ---" >&2
  tail -n 20 "$work/simulators.log" >&2
fi
exit "$status"
