#!/usr/bin/env bash
# The README's demo: build engram in release mode, load the fixture memories into a scratch store,
# and ask it what a support or deploy agent would ask. Run it with `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

engram=$(swift build -c release --product engram --show-bin-path)/engram
store=${DEMO_STORE:-demo-store}
rm -rf "$store"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$engram" init --store "$store"
step "$engram" import --store "$store" fixtures/memories.jsonl
step "$engram" recall --store "$store" -k 3 "customer says checkout is slow"
step "$engram" recall --store "$store" -k 3 --namespace acme/platform/ "what fixed the flaky deploy?"
step "$engram" recall --store "$store" -k 2 --no-succeeded "flaky tests"
step "$engram" recall --store "$store" -k 2 --namespace assistant/prefs/user-42 "how should I contact this user"
step "$engram" search --store "$store" -k 2 "sandbox replay"
# Least privilege: a process confined to one user's preferences sees nothing else, and may not write.
step env ENGRAM_SCOPE=assistant/prefs/user-42 "$engram" recall --store "$store" -k 2 "how should I contact this user"
step env ENGRAM_SCOPE=assistant/prefs/user-42 "$engram" count --store "$store"
step env ENGRAM_SCOPE=assistant/prefs/user-42 "$engram" remember --store "$store" --namespace assistant/prefs/user-42 \
    --content "prefers Slack" || echo "(exit $?: the scope grants read only)"
step "$engram" working set --store "$store" --namespace acme/support current-ticket '"T-1042: checkout slow again"' --ttl 30m
step "$engram" working list --store "$store" --namespace acme/support
step "$engram" stats --store "$store"
step "$engram" health --store "$store"
printf '\nThe demo store is in %s; try: %s recall --store %s "your question"\n' "$store" "$engram" "$store"
