#!/usr/bin/env bash
# Writes the golden CLI outputs in this folder with the engram binary given (run once, with the build the
# outputs must stay equal to; GoldenOutputTests compares every later build's output with them).
# Every command runs on a fresh store holding memories.jsonl (fixed ids and times, the hashing embedder),
# so that no output depends on the clock or on an earlier command's recall counts.
set -euo pipefail
engram=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ENGRAM_MODELS=/nonexistent
while IFS='|' read -r name args; do
    store="$work/$name"
    "$engram" init --store "$store" --embedder hashing > /dev/null
    if [ "$name" != import ]; then "$engram" import "$here/memories.jsonl" --store "$store" > /dev/null; fi
    eval "set -- $args"
    "$engram" "$@" --store "$store" > "$here/$name.out" || true
done < "$here/commands.txt"
