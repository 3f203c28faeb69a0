#!/usr/bin/env python3
"""Approximate indexes side by side on the same TEXMEX files: Engram's index, hnswlib, FAISS HNSW and
FAISS IVF with RaBitQ codes and exact re-ranking (and USearch when installed).

Every index is built with --build-threads threads and searched with one thread, one query at a time, at
a sweep of its search setting; recall@k is measured against the exact ground truth file. Prints a
markdown table (queries/s at the first setting reaching each recall target, build seconds, index
bytes), writes the raw points to ann-<n>.json and draws recall@k against queries/s per index to
ann-<n>.png, as ann-benchmarks does.

    python3 ann.py --data DIR --engram .build/release/engram [--build-threads 2] [--only engram,hnswlib]
"""
import argparse
import json
import os
import platform
import subprocess
import tempfile
import time

import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def recall(found, truth, k):
    return sum(len(set(map(int, f[:k])) & set(map(int, t[:k]))) for f, t in zip(found, truth)) / (len(truth) * k)


def sweep(search, queries, truth, k, settings, apply):
    """One point per setting: recall@k, queries/s and p50 of single queries after a warm-up."""
    points = []
    for s in settings:
        apply(s)
        for q in queries[:10]:
            search(q)
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            found.append(search(q))
            times.append(time.perf_counter() - t)
        points.append({"setting": s, "recall_at_k": recall(found, truth, k), "qps": len(queries) / sum(times),
                       "p50_ms": float(np.percentile(times, 50) * 1000)})
    return points


def run_hnswlib(xb, xq, gt, k, threads):
    import hnswlib
    index = hnswlib.Index(space="ip", dim=xb.shape[1])
    t = time.perf_counter()
    index.init_index(max_elements=len(xb), M=16, ef_construction=200)
    index.set_num_threads(threads)
    index.add_items(xb)
    build = time.perf_counter() - t
    index.set_num_threads(1)
    points = sweep(lambda q: index.knn_query(q, k=k)[0][0], xq, gt, k, [10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 960],
                   lambda ef: index.set_ef(ef))
    # hnswlib keeps the float vectors and M0 = 2M neighbours per node at level 0.
    size = len(xb) * (xb.shape[1] * 4 + 2 * 16 * 4 + 8)
    return {"name": "hnswlib HNSW M=16 efC=200", "build_s": build, "bytes": size, "points": points}


def run_faiss_hnsw(xb, xq, gt, k, threads):
    import faiss
    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(xb.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    t = time.perf_counter()
    index.add(xb)
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    points = sweep(lambda q: index.search(q.reshape(1, -1), k)[1][0], xq, gt, k, [10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 960],
                   lambda ef: setattr(index.hnsw, "efSearch", ef))
    return {"name": "FAISS IndexHNSWFlat M=16", "build_s": build, "bytes": faiss.serialize_index(index).nbytes,
            "points": points}


def run_faiss_ivf_rabitq(xb, xq, gt, k, threads):
    import faiss
    faiss.omp_set_num_threads(threads)
    d = xb.shape[1]
    lists = int(2 * np.sqrt(len(xb)))
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFRaBitQ(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexRefineFlat(ivf)
    t = time.perf_counter()
    index.train(xb[np.random.default_rng(1).choice(len(xb), min(len(xb), lists * 48), replace=False)])
    index.add(xb)
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    index.k_factor = 10
    params = faiss.SearchParametersIVF()

    def apply(nprobe):
        ivf.nprobe = nprobe

    points = sweep(lambda q: index.search(q.reshape(1, -1), k)[1][0], xq, gt, k,
                   [4, 8, 16, 32, 64, 128, 256, 384, 512], apply)
    del params
    return {"name": f"FAISS IVF{lists}-RaBitQ + refine (k_factor 10)", "build_s": build,
            "bytes": faiss.serialize_index(index).nbytes, "points": points}


def run_usearch(xb, xq, gt, k, threads):
    from usearch.index import Index
    index = Index(ndim=xb.shape[1], metric="ip", dtype="f32", connectivity=16, expansion_add=200)
    t = time.perf_counter()
    index.add(np.arange(len(xb)), xb, threads=threads)
    build = time.perf_counter() - t

    def apply(ef):
        index.expansion_search = ef

    points = sweep(lambda q: index.search(q, k, threads=1).keys, xq, gt, k, [10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 960], apply)
    return {"name": "USearch HNSW M=16", "build_s": build, "bytes": index.memory_usage, "points": points}


def run_engram(data, engram, k, threads, probes):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [engram, "bench", "run", "--base", f"{data}/base.fvecs", "--query", f"{data}/query.fvecs",
             "--groundtruth", f"{data}/groundtruth.ivecs", "-k", str(k), "--threads", str(threads),
             "--approximate", "--sweep", ",".join(map(str, probes)), "--churn", "0", "--store", f"{tmp}/store",
             "--json"],
            check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    points = [{"setting": p["probes"], "recall_at_k": p["recall_at_k"], "qps": p["qps"], "p50_ms": p["p50_ms"]}
              for p in r["approx_curve"]]
    return {"name": f"Engram IVF{int(r['index_lists'])}, {int(r['index_bits'])}-bit residuals + re-score",
            "build_s": r["index_build_s"],
            "bytes": r["index_bytes"], "points": points, "exact": {"p50_ms": r["single_p50_ms"]}}


def plot(results, n, d, cpu, k, path):
    """Recall@k against queries/s (log scale), one line per index, as ann-benchmarks draws it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        ax.plot([p["recall_at_k"] for p in r["points"]], [p["qps"] for p in r["points"]], marker="o", label=r["name"])
    ax.set_xlabel(f"recall@{k}")
    ax.set_ylabel("queries/s (one thread)")
    ax.set_yscale("log")
    ax.set_title(f"{n:,} x {d}, {cpu}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def at_recall(points, target):
    ok = [p for p in points if p["recall_at_k"] >= target]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--engram", required=True)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--only", default="engram,hnswlib,faiss-hnsw,faiss-ivf-rabitq,usearch")
    parser.add_argument("--probes", default="8,12,16,24,32,48,64,96,128")
    parser.add_argument("--plot-only", metavar="JSON", help="redraw the plot of an earlier run's JSON and exit")
    args = parser.parse_args()
    if args.plot_only:
        raw = json.load(open(args.plot_only))
        plot(raw["results"], raw["n"], raw["d"], raw["cpu"], args.k, args.plot_only.replace(".json", ".png"))
        return
    xb = read_vecs(f"{args.data}/base.fvecs", np.float32)
    xq = read_vecs(f"{args.data}/query.fvecs", np.float32)
    gt = read_vecs(f"{args.data}/groundtruth.ivecs", np.int32)[:, :args.k]
    only = args.only.split(",")
    results = []
    runners = {
        "hnswlib": lambda: run_hnswlib(xb, xq, gt, args.k, args.build_threads),
        "faiss-hnsw": lambda: run_faiss_hnsw(xb, xq, gt, args.k, args.build_threads),
        "faiss-ivf-rabitq": lambda: run_faiss_ivf_rabitq(xb, xq, gt, args.k, args.build_threads),
        "usearch": lambda: run_usearch(xb, xq, gt, args.k, args.build_threads),
        "engram": lambda: run_engram(args.data, args.engram, args.k, args.build_threads,
                                     [int(p) for p in args.probes.split(",")]),
    }
    for name in only:
        try:
            results.append(runners[name]())
            print(f"done: {results[-1]['name']}", flush=True)
        except ImportError as error:
            print(f"skipped {name}: {error}", flush=True)
    raw = np.fromfile(f"{args.data}/base.fvecs", dtype=np.int32, count=1)
    n, d = len(xb), int(raw[0])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"\n{n} x {d}, {len(xq)} queries, k={args.k}, one search thread, builds on {args.build_threads}; {cpu}\n")
    print("| index | build s | bytes / raw vectors | q/s @ recall 0.95 | q/s @ 0.99 | p50 ms @ 0.99 |")
    print("|---|---|---|---|---|---|")
    for r in results:
        p95, p99 = at_recall(r["points"], 0.95), at_recall(r["points"], 0.99)
        fmt = lambda p: f"{p['qps']:.0f} ({p['recall_at_k']:.3f})" if p else "not reached"
        print(f"| {r['name']} | {r['build_s']:.1f} | {r['bytes'] / (n * d * 4):.2f} | {fmt(p95)} | {fmt(p99)} | "
              f"{p99['p50_ms']:.3f} |" if p99 else
              f"| {r['name']} | {r['build_s']:.1f} | {r['bytes'] / (n * d * 4):.2f} | {fmt(p95)} | {fmt(p99)} | - |")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"ann-{n}.json")
    with open(out, "w") as f:
        json.dump({"n": n, "d": d, "cpu": cpu, "results": results}, f, indent=1)
    plot(results, n, d, cpu, args.k, out.replace(".json", ".png"))


if __name__ == "__main__":
    main()
