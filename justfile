# Hazel Sync — developer tasks. `just ci` runs what CI runs (.ci/run).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run the service on the embedded default (SQLite file under ./data).
run:
    cargo run --release --bin hazel-sync -- serve

# Run the whole test suite (PostgreSQL variants run when HAZEL_TEST_POSTGRES_URL is set).
test:
    cargo test --workspace

# Run the tests against the local PostgreSQL too.
test-all:
    HAZEL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test --workspace

# Check formatting.
fmt:
    cargo fmt --all -- --check

# Lint everything, warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# The domain crate must not depend on IO crates.
domain-guard:
    scripts/check-domain-deps.sh

# Regenerate the committed OpenAPI document.
openapi:
    cargo run --quiet --bin hazel-sync -- openapi > openapi/openapi.json

# Fail when the committed OpenAPI document differs from the code.
openapi-check:
    diff -u openapi/openapi.json <(cargo run --quiet --bin hazel-sync -- openapi)

# Run Schemathesis (every check) over the whole OpenAPI document against a fresh service.
schemathesis:
    scripts/schemathesis.sh

# Everything CI runs, in CI's order (prepares PostgreSQL like CI does).
ci:
    bash .ci/run

# Benchmark message creates through the HTTP stack against raw commits (SQLite; PostgreSQL too when HAZEL_TEST_POSTGRES_URL is set).
bench-store:
    cargo run --release --quiet -p hazel-bench --bin bench-store

# Benchmark inbound events through the sync engine against the fake provider, beside raw commits (SQLite; PostgreSQL too when HAZEL_TEST_POSTGRES_URL is set).
bench-engine:
    cargo run --release --quiet -p hazel-bench --bin bench-engine

# Benchmark Slack → Hazel → Discord end to end through a real `hazel-sync serve` (SQLite; PostgreSQL too when HAZEL_TEST_POSTGRES_URL is set): table and JSON.
bench:
    cargo build --release --quiet -p hazel-app --bin hazel-sync -p hazel-bench --bin bench
    "${CARGO_TARGET_DIR:-target}/release/bench"

# Start the service beside the Slack and Discord simulators and show messages crossing every way (Slack ⇄ Hazel ⇄ Discord).
demo:
    cargo run --quiet -p hazel-testkit --bin hazel-demo
