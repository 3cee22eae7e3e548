#!/usr/bin/env bash
# Architecture guard: hazel-domain must stay free of IO crates (runtime, database, HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(tokio|sea-orm|sea-query|sqlx|sqlx-core|poem|poem-openapi|reqwest|hyper|hyper-util|tungstenite|tokio-tungstenite|serde_json) '
tree=$(cargo tree -p hazel-domain -e normal --prefix none --no-dedupe 2>/dev/null | sort -u)
if offenders=$(grep -E "$forbidden" <<<"$tree"); then
  echo "hazel-domain depends on IO crates (see docs/ARCHITECTURE.md, Architecture Invariants):" >&2
  echo "$offenders" >&2
  exit 1
fi
echo "hazel-domain dependency guard: ok ($(wc -l <<<"$tree") crates, none of them IO)"
