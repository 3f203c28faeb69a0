#!/usr/bin/env python3
"""The cluster's targets on one machine: bootstrap rate, replication lag under a steady write rate, and
scatter-gather recall against one node holding everything. Starts its own PostgreSQL 15 (as the
`postgres` user under root) on loopback and `engram serve --cluster` nodes (the release build).

    python3 Benchmarks/cluster/cluster.py [--memories 200000] [--rate 1000] [--seconds 20]

Needs psycopg (`pip install "psycopg[binary]"`) to load PostgreSQL with COPY. Phases:

1. bootstrap: N memories of 384 dimensions loaded straight into PostgreSQL (COPY, in the rows' own
   format), then a node started on an empty store; the time from its start to following (it logs the
   copy's own seconds too) gives memories/s and seconds per million (the time to replace a dead node).
2. lag: four writers send RATE memories/s in all (batches of 10) through node A for SECONDS; a watcher asks node B,
   without a token, for every 20th memory's exact vector until it comes back: acknowledgement to
   visibility on the other node, p50 and p99.
3. gather: three shards (bench/0, bench/1, bench/2) on three nodes and a fourth node holding all three;
   k=10 vector recalls through a shard node (which asks the two others) and through the node holding all,
   alternating; medians and their ratio.
"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG = "/usr/lib/postgresql/15/bin"
DIM = 384


def as_postgres(args):
    return (["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] if os.getuid() == 0 else []) + args


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="engram-bench-pg-")
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(as_postgres([f"{PG}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, cwd="/tmp")
        self.port = free_port()
        # Durable commits (fsync on): the figures are for a real system of record.
        self.proc = subprocess.Popen(as_postgres([f"{PG}/postgres", "-D", f"{self.dir}/data", "-p", str(self.port), "-k", self.dir,
                                                  "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                                                  "-c", "shared_buffers=1GB"]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        for _ in range(100):
            try:
                psycopg.connect(self.dsn).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise SystemExit("PostgreSQL did not start")

    @property
    def dsn(self):
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    def __init__(self, engram, url, name, store):
        self.log = store + ".log"
        self.proc = subprocess.Popen([engram, "serve", "--cluster", url, "--node", name, "--store", store, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            raise SystemExit(f"node {name} did not start: {line!r}")
        self.port = int(m.group(1))

    def call(self, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"}, method="POST" if body else "GET")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def unit(rng):
    v = [rng.gauss(0, 1) for _ in range(DIM)]
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def load(pg, n, shards):
    """N memories straight into PostgreSQL, in the rows' own format (record JSON, little-endian float32)."""
    rng = random.Random(1)
    base = [unit(rng) for _ in range(256)]  # noise around a few hundred centres; the bytes are what count
    now = "2026-12-07T00:00:00.000Z"
    with psycopg.connect(pg.dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY engram_memory (id, namespace, version, live, content_hash, record, embedding) FROM STDIN") as copy:
            for i in range(n):
                ns = f"bench/{i % shards}"
                mid = str(uuid.uuid7()) if hasattr(uuid, "uuid7") else str(uuid.uuid4())
                record = {"id": mid, "namespace": ns, "content": f"memory {i}", "created_at": now, "updated_at": now}
                v = base[i % 256]
                vec = [x + rng.uniform(-0.01, 0.01) for x in v[:8]] + v[8:]
                copy.write_row((mid, ns, 1, True, f"h{i}", json.dumps(record), struct.pack(f"<{DIM}f", *vec)))
        conn.commit()


def wait_following(pg, names, timeout=3600):
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = conn.execute("SELECT name FROM engram_node WHERE state = 'following' AND lease_until > now()").fetchall()
            if set(names) <= {r[0] for r in rows}:
                return
            time.sleep(0.05)
    raise SystemExit("nodes did not start following")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engram", default=os.path.join(ROOT, ".build", "release", "engram"))
    ap.add_argument("--memories", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="engram-bench-cluster-")
    pg = Postgres()
    nodes = []
    try:
        subprocess.run([args.engram, "cluster", "init", pg.url, "--embedder", "custom", "--dimension", str(DIM), "--copies", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("UPDATE engram_shard SET nodes = '{all,a}' WHERE prefix = ''")
            conn.execute("INSERT INTO engram_shard VALUES ('bench/0', '{a,all}', 2), ('bench/1', '{b,all}', 2), ('bench/2', '{c,all}', 2)")
        started = time.time()
        load(pg, args.memories, 3)
        print(f"loaded {args.memories} memories into PostgreSQL in {time.time() - started:.1f} s")

        # 1. Bootstrap: the node holding everything, from an empty store.
        started = time.time()
        nodes.append(Node(args.engram, pg.url, "all", f"{work}/all"))
        wait_following(pg, ["all"])
        seconds = time.time() - started
        with open(nodes[0].log) as log:
            for line in log:
                if "copied a snapshot" in line:
                    print("  node log:", line.strip().split(" engram.server: ")[-1])
        print(f"bootstrap: {args.memories} memories in {seconds:.1f} s = {args.memories / seconds:,.0f} memories/s "
              f"({seconds / args.memories * 1e6:.0f} s per million, process start to following)")
        for name in ["a", "b", "c"]:
            nodes.append(Node(args.engram, pg.url, name, f"{work}/{name}"))
        wait_following(pg, ["a", "b", "c"])
        everything, a = nodes[0], nodes[1]

        # 3. Gather: through a shard node (asks two others) and through the node holding everything.
        rng = random.Random(5)
        queries = [unit(rng) for _ in range(args.queries)]
        for q in queries[:20]:
            a.call("/v1/recall", {"vector": q, "k": 10})
            everything.call("/v1/recall", {"vector": q, "k": 10})
        shares, gathered, single = [], [], []
        for q in queries:
            t = time.perf_counter(); ha = a.call("/v1/recall", {"vector": q, "k": 10}); gathered.append(time.perf_counter() - t)
            t = time.perf_counter(); hb = everything.call("/v1/recall", {"vector": q, "k": 10}); single.append(time.perf_counter() - t)
            assert [h["id"] for h in ha["hits"]] == [h["id"] for h in hb["hits"]], "gathered top k differs from one node's"
            req = urllib.request.Request(f"http://127.0.0.1:{nodes[2].port}/v1/recall", data=json.dumps({"vector": q, "k": 10}).encode(),
                                         headers={"Content-Type": "application/json", "Engram-Share": "1"}, method="POST")
            t = time.perf_counter(); urllib.request.urlopen(req).read(); shares.append(time.perf_counter() - t)
        g, s = statistics.median(gathered) * 1e3, statistics.median(single) * 1e3
        print(f"  one shard's share from one node (what the gather asks for): p50 {statistics.median(shares) * 1e3:.2f} ms")
        print(f"gather over 3 shards: p50 {g:.2f} ms; one node holding all: p50 {s:.2f} ms; ratio {g / s:.2f}x "
              f"(every answer equal to the one node's)")

        # 2. Lag: RATE writes/s through node a (batches of 10) for SECONDS; node b watched without a token.
        b = nodes[2]
        acked = {}
        written = [0]
        lags = []
        stop = threading.Event()

        writers = 4  # concurrent clients, each at a quarter of the rate

        def writer(w):
            wrng = random.Random(9 + w)
            period = 10 * writers / args.rate
            next_at = time.perf_counter()
            i = 0
            while not stop.is_set():
                batch = []
                for _ in range(10):
                    i += 1
                    batch.append({"content": f"lag {w}-{i}", "namespace": "bench/1", "embedding": unit(wrng)})
                answer = a.call("/v1/memories", {"memories": batch})
                now = time.perf_counter()
                written[0] += len(batch)
                if i % 20 == 0:
                    acked[answer["ids"][-1]] = (now, batch[-1]["embedding"])
                next_at += period
                time.sleep(max(0, next_at - time.perf_counter()))

        def watcher():
            # One sample at a time: the newest acknowledged write, asked for until it is visible (so the
            # watcher's own speed never queues samples up).
            while not stop.is_set():
                if not acked:
                    time.sleep(0.002)
                    continue
                mid, (at, vec) = max(acked.items(), key=lambda kv: kv[1][0])
                acked.clear()
                while True:
                    hits = b.call("/v1/recall", {"vector": vec, "k": 1})["hits"]
                    if hits and hits[0]["id"] == mid:
                        lags.append(time.perf_counter() - at)
                        break

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)] + [threading.Thread(target=watcher)]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop_time = time.time()
        stop.set()
        for t in threads:
            t.join()
        lags.sort()
        p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] * 1e3
        print(f"writes: {written[0] / args.seconds:,.0f}/s achieved of {args.rate}/s asked")
        print(f"lag at {args.rate} writes/s through another node: {len(lags)} samples, p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms "
              f"(acknowledgement to visible on the other node, without a token)")
    finally:
        for n in nodes:
            n.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
