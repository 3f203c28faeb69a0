#!/usr/bin/env python3
"""The Python client's per-call overhead: the same recall sent through `engram_client.Engram` and with
plain `httpx`, alternating, against one `engram serve` on loopback.

    python3 Benchmarks/server/client_overhead.py [--engram PATH] [--calls 500] [--rounds 7]

Needs engram-client installed (`pip install -e clients/python`). The store holds 2,000 short memories
(hashing embedder); each call is a keyword recall of k=10 (about the cheapest recall, so the client's
share is as large as it gets). Prints the median time per call of each way and their ratio.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

import httpx

from engram_client import Engram

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = os.path.join(ROOT, ".build", "release", "engram")
    ap.add_argument("--engram", default=default if os.path.exists(default) else os.path.join(ROOT, ".build", "debug", "engram"))
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    env = dict(os.environ, ENGRAM_MODELS="/nonexistent", ENGRAM_LOG_LEVEL="error")
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        subprocess.run([args.engram, "init", "--store", store, "--embedder", "hashing"], check=True,
                       capture_output=True, env=env)
        lines = "\n".join(f'{{"content": "ticket {i}: checkout slow in region {i % 17}", "namespace": "bench"}}'
                          for i in range(2000))
        subprocess.run([args.engram, "import", "-", "--store", store], input=lines, text=True, check=True,
                       capture_output=True, env=env)
        server = subprocess.Popen([args.engram, "serve", "--store", store, "--port", "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env)
        url = re.search(r"at (http://\S+)", server.stdout.readline()).group(1)
        body = {"query": "checkout slow region 5", "k": 10, "mode": "keyword"}
        try:
            client = Engram(url)
            raw = httpx.Client(base_url=url, headers={"Accept": "application/json"})

            def through_client():
                return client.recall(body["query"], k=10, mode="keyword")

            def plain():
                return raw.post("/v1/recall", json=body).json()["hits"]

            for way in (through_client, plain):  # warm both connections and the server
                for _ in range(50):
                    way()
            per_call = {"client": [], "httpx": []}
            for _ in range(args.rounds):
                for name, way in (("client", through_client), ("httpx", plain)):
                    started = time.perf_counter()
                    for _ in range(args.calls):
                        way()
                    per_call[name].append((time.perf_counter() - started) / args.calls * 1e3)
            c, h = statistics.median(per_call["client"]), statistics.median(per_call["httpx"])
            print(f"engram-client recall: {c:.3f} ms/call; plain httpx: {h:.3f} ms/call (medians of {args.rounds} "
                  f"rounds of {args.calls}); ratio {c / h:.3f}")
            print("rounds:", {k: [round(x, 3) for x in v] for k, v in per_call.items()})
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
