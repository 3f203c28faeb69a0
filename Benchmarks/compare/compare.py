#!/usr/bin/env python3
"""Runs numpy, FAISS IndexFlatIP, sqlite-vec and `engram bench run` on the same TEXMEX files.

Each engine runs in this process except Engram (its own CLI, which prints JSON). Rounds interleave
the engines so that machine noise hits them alike; figures are medians over rounds. Prints a markdown
table and writes the raw figures as JSON beside the data (results-<threads>t.json).
"""
import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
from threadpoolctl import threadpool_limits


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def recall(found, truth, k):
    hits = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


def timed_single(search, queries, k, warmup=10):
    for q in queries[:warmup]:
        search(q, k)
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(search(q, k))
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99)), results


def run_numpy(xb, xq, gt, k):
    def search(q, k):
        s = xb @ q
        top = np.argpartition(-s, k)[:k]
        return top[np.argsort(-s[top])]

    p50, p99, found = timed_single(search, xq, k)
    t = time.perf_counter()
    scores = xq @ xb.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    batch_s = time.perf_counter() - t
    return {"single_p50_ms": p50, "single_p99_ms": p99, "batch_qps": len(xq) / batch_s,
            "recall_at_k": recall(found, gt, k)}


def run_faiss(xb, xq, gt, k, threads):
    import faiss
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(xb)
    add_s = time.perf_counter() - t
    p50, p99, found = timed_single(lambda q, k: index.search(q[None, :], k)[1][0], xq, k)
    t = time.perf_counter()
    _, ids = index.search(xq, k)
    batch_s = time.perf_counter() - t
    return {"single_p50_ms": p50, "single_p99_ms": p99, "batch_qps": len(xq) / batch_s,
            "recall_at_k": recall(found, gt, k), "ingest_per_s": len(xb) / add_s,
            "batch_recall_at_k": recall(ids, gt, k)}


def run_sqlite_vec(xb, xq, gt, k):
    import sqlite_vec
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "vec.db"))
        db.enable_load_extension(True)
        sqlite_vec.load(db)
        db.enable_load_extension(False)
        db.execute(f"create virtual table items using vec0(embedding float[{xb.shape[1]}] distance_metric=cosine)")
        t = time.perf_counter()
        with db:
            db.executemany("insert into items(rowid, embedding) values (?, ?)",
                           ((i, v.tobytes()) for i, v in enumerate(xb)))
        ingest_s = time.perf_counter() - t

        def search(q, k):
            rows = db.execute("select rowid from items where embedding match ? and k = ? order by distance",
                              (q.tobytes(), k)).fetchall()
            return [r[0] for r in rows]

        p50, p99, found = timed_single(search, xq, k, warmup=3)
        db.close()
    return {"single_p50_ms": p50, "single_p99_ms": p99, "recall_at_k": recall(found, gt, k),
            "ingest_per_s": len(xb) / ingest_s}


def run_engram(binary, data, k, threads, namespaces):
    out = subprocess.run(
        [binary, "bench", "run", "--base", f"{data}/base.fvecs", "--query", f"{data}/query.fvecs",
         "--groundtruth", f"{data}/groundtruth.ivecs", "-k", str(k), "--threads", str(threads),
         "--namespaces", str(namespaces), "--json"],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def faiss_simd_level():
    """The SIMD level FAISS dispatches to ($FAISS_SIMD_LEVEL forces one, e.g. AVX2)."""
    import faiss
    if not hasattr(faiss, "SIMDConfig"):
        return "unknown"
    level = faiss.SIMDConfig.get_level()
    names = [n for n in dir(faiss) if n.startswith("SIMDLevel_") and getattr(faiss, n) == level]
    return names[0].removeprefix("SIMDLevel_") if names else str(level)


def other_cores_busy():
    """Fraction of the machine's CPU time used by anything, from /proc/loadavg (1 minute)."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--engram", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()

    xb = read_vecs(f"{args.data}/base.fvecs", np.float32)
    xq = read_vecs(f"{args.data}/query.fvecs", np.float32)
    gt = read_vecs(f"{args.data}/groundtruth.ivecs", np.int32)[:, :args.k]
    runs = {"numpy": [], "faiss IndexFlatIP": [], "sqlite-vec": [], "engram": []}
    load = []
    with threadpool_limits(limits=args.threads):
        for _ in range(args.rounds):
            load.append(other_cores_busy())
            runs["numpy"].append(run_numpy(xb, xq, gt, args.k))
            runs["faiss IndexFlatIP"].append(run_faiss(xb, xq, gt, args.k, args.threads))
            runs["engram"].append(run_engram(args.engram, args.data, args.k, args.threads, args.namespaces))
            runs["sqlite-vec"].append(run_sqlite_vec(xb, xq, gt, args.k))

    def median(engine, key):
        values = [r[key] for r in runs[engine] if key in r]
        return statistics.median(values) if values else None

    metrics = [("single_p50_ms", "single query p50 (ms)", "lower"),
               ("single_p99_ms", "single query p99 (ms)", "lower"),
               ("batch_qps", f"batch of {len(xq)} queries (QPS)", "higher"),
               ("ingest_per_s", "ingest (vectors/s)", "higher"),
               ("recall_at_k", f"recall@{args.k}", "higher")]
    engines = list(runs)
    print(f"{len(xb):,} x {xb.shape[1]}, {len(xq)} queries, k={args.k}, {args.threads} thread(s), "
          f"{args.rounds} round(s), {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
          f"{platform.processor() or platform.machine()}, load avg at start {load}")
    print()
    print("| metric | " + " | ".join(engines) + " | Engram vs numpy | vs FAISS | vs sqlite-vec |")
    print("|---|" + "---|" * (len(engines) + 3))
    for key, label, better in metrics:
        cells = []
        for e in engines:
            v = median(e, key)
            cells.append("—" if v is None else (f"{v:.4f}" if key == "recall_at_k" else f"{v:,.2f}" if v < 100 else f"{v:,.0f}"))
        ratios = []
        mine = median("engram", key)
        for peer in ["numpy", "faiss IndexFlatIP", "sqlite-vec"]:
            theirs = median(peer, key)
            if mine is None or theirs is None or key == "recall_at_k" or mine == 0 or theirs == 0:
                ratios.append("—")
            else:
                r = theirs / mine if better == "lower" else mine / theirs
                ratios.append(f"{r:.2f}x")
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    e = runs["engram"][-1]
    print()
    print(f"Engram only: open {median('engram', 'open_ms'):.1f} ms, filtered p50 "
          f"{median('engram', 'filtered_p50_ms'):.3f} ms at 1/{args.namespaces} selectivity "
          f"({median('engram', 'single_p50_ms') / median('engram', 'filtered_p50_ms'):.1f}x faster than unfiltered, "
          f"recall {median('engram', 'filtered_recall_at_k'):.4f}), kernels {e.get('kernels', '?')}, "
          f"BLAS core {e['blas_core']}; FAISS SIMD level {faiss_simd_level()}. Ratios > 1 mean Engram is better.")
    with open(f"{args.data}/results-{args.threads}t.json", "w") as f:
        json.dump({"runs": runs, "load": load}, f, indent=1)


if __name__ == "__main__":
    main()
