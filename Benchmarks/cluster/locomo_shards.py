#!/usr/bin/env python3
"""Recall quality across shards: the LoCoMo dev split on a three-node cluster against one store.

Each conversation's sessions are dealt round-robin to three sub-namespaces (locomo/26/a, locomo/26/b,
locomo/26/c), and each sub-namespace is a shard on its own node, so every question's recall
(`"filter": {"namespace": "locomo/26/"}`) gathers from three shards that each rank with their own
statistics (BM25 document frequencies, min-max normalisation, fusion). The same memories, in the same
namespaces, go into one `engram serve` store; the same questions are asked of both, in every mode,
and turn-level recall@k is computed as ../shared/eval/locomo-dev/README.md says.

    python3 Benchmarks/cluster/locomo_shards.py [--data ../shared/eval/locomo-dev] [--engram .build/release/engram]

Needs the release build, MiniLM installed (`engram model install`), PostgreSQL 15 and psycopg. The
conversations are read at run time and never copied into the project.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "locomo"))
from cluster import Node, Postgres, wait_following  # noqa: E402
from locomo import convert  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
PARTS = "abc"


class Server(Node):
    """A plain `engram serve` over one store."""

    def __init__(self, engram, store):
        import re
        subprocess.run([engram, "init", "--store", store], check=True, stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen([engram, "serve", "--store", store, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(re.search(r":(\d+)\s*$", self.proc.stdout.readline()).group(1))


def split(memories):
    """Each memory into its conversation's sub-namespace: sessions dealt round-robin to a, b, c."""
    out = []
    for m in memories:
        m = dict(m)
        m["namespace"] = f"{m['namespace']}/{PARTS[(m['metadata']['session'] - 1) % len(PARTS)]}"
        out.append(m)
    return out


def store(node, memories):
    for i in range(0, len(memories), 100):
        node.call("/v1/memories", {"memories": memories[i:i + 100]})


def recall_at(hits, relevant, k):
    found = {h.get("metadata", {}).get("dia_id") for h in hits[:k]}
    return sum(1 for r in relevant if r in found) / len(relevant)


def measure(node, queries, mode):
    """Summed recall@k over `queries`, the rankings (as dia_ids) and each call's seconds."""
    figures = {k: 0.0 for k in (1, 5, 10, 20)}
    rankings, seconds = [], []
    for q in queries:
        started = time.perf_counter()
        answer = node.call("/v1/recall", {"query": q["query"], "k": 20, "mode": mode,
                                          "filter": {"namespace": q["namespace"] + "/"}})
        seconds.append(time.perf_counter() - started)
        hits = answer["hits"]
        rankings.append([h.get("metadata", {}).get("dia_id") for h in hits])
        for k in figures:
            figures[k] += recall_at(hits, q["relevant"], k)
    return figures, rankings, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "eval", "locomo-dev"))
    ap.add_argument("--engram", default=os.path.join(ROOT, ".build", "release", "engram"))
    ap.add_argument("--modes", default="vector,keyword,hybrid")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"locomo_shards.py: no LoCoMo data at {args.data}; nothing measured")
    memories, queries = [], []
    for f in sorted(f for f in os.listdir(args.data) if f.endswith(".json")):
        m, q = convert(os.path.join(args.data, f))
        memories += m
        queries += q
    memories = split(memories)
    conversations = sorted({m["namespace"].rsplit("/", 1)[0] for m in memories})
    work = tempfile.mkdtemp(prefix="engram-locomo-shards-")
    pg = Postgres()
    nodes, single = [], None
    try:
        subprocess.run([args.engram, "cluster", "init", pg.url, "--embedder", "minilm", "--copies", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        for i, part in enumerate(PARTS):
            for conversation in conversations:
                subprocess.run([args.engram, "cluster", "shard", pg.url, f"{conversation}/{part}",
                                "--nodes", f"n{i + 1}"], check=True, stdout=subprocess.DEVNULL)
        nodes = [Node(args.engram, pg.url, f"n{i + 1}", os.path.join(work, f"n{i + 1}")) for i in range(3)]
        wait_following(pg, [f"n{i + 1}" for i in range(3)])
        single = Server(args.engram, os.path.join(work, "single"))
        store(nodes[0], memories)
        store(single, memories)
        # Every node has applied every write (a recall with the newest token would do the same).
        time.sleep(2)
        print(f"{len(memories)} turns in {len(conversations)} conversations x {len(PARTS)} shards, "
              f"{len(queries)} questions", file=sys.stderr)
        result = {}
        def average(figures):
            return {f"recall@{k}": round(v / len(queries), 3) for k, v in figures.items()}

        for mode in args.modes.split(","):
            one, one_rank, one_seconds = measure(single, queries, mode)
            # Ask through each node in turn: every answer gathers the two other shards.
            gathered, ranks, seconds = {k: 0.0 for k in one}, [], []
            for i, node in enumerate(nodes):
                figures, r, s = measure(node, queries[i::3], mode)
                ranks += r
                seconds += s
                for k in gathered:
                    gathered[k] += figures[k]
            order = [r for i in range(3) for r in one_rank[i::3]]
            same = sum(1 for a, b in zip(order, ranks) if a[:10] == b[:10]) / len(queries)
            p50 = (statistics.median(one_seconds) * 1000, statistics.median(seconds) * 1000)
            result[mode] = {"one_store": average(one), "three_shards": average(gathered),
                            "same_top10": round(same, 3), "p50_ms": [round(p50[0], 1), round(p50[1], 1)]}
        print(json.dumps(result, indent=2))
    finally:
        for n in nodes:
            n.stop()
        if single:
            single.stop()
        pg.stop()


if __name__ == "__main__":
    main()
