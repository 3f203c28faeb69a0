#!/usr/bin/env bash
# Engram beside numpy, FAISS IndexFlatIP and sqlite-vec on the same TEXMEX files, in one sitting.
#   Benchmarks/compare/compare.sh [--n 100000] [--d 384] [--nq 200] [--threads 1] [--namespaces 100] [--rounds 1]
# Creates its own virtual environment (numpy, faiss-cpu, sqlite-vec, threadpoolctl from PyPI), builds
# engram in release mode, generates the data set with `engram bench generate` when missing, and prints
# one markdown table with each engine's figures and Engram's ratio to each peer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
n=100000 d=384 nq=200 threads=1 namespaces=100 rounds=1
while [ $# -gt 0 ]; do
    case "$1" in
        --n) n=$2 ;; --d) d=$2 ;; --nq) nq=$2 ;; --threads) threads=$2 ;;
        --namespaces) namespaces=$2 ;; --rounds) rounds=$2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
    shift 2
done

# Debian's python3 links the system SQLite with extension loading (pyenv builds may lack it).
python=${PYTHON:-/usr/bin/python3}
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q numpy faiss-cpu sqlite-vec threadpoolctl scipy safetensors tokenizers
fi

(cd "$root" && swift build -c release --product engram >&2)
engram="$root/.build/release/engram"
data="$here/data/n$n-d$d-q$nq"
if [ ! -f "$data/groundtruth.ivecs" ]; then
    "$engram" bench generate --n "$n" --d "$d" --nq "$nq" --out "$data" >&2
fi
exec "$venv/bin/python" "$here/compare.py" --data "$data" --engram "$engram" --threads "$threads" \
    --namespaces "$namespaces" --rounds "$rounds"
