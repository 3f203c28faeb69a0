#!/usr/bin/env python3
"""Real text embeddings for the similarity benchmarks: every WordNet 3.0 gloss (117,659 definitions from
Debian's `wordnet-base`), embedded with Engram's MiniLM (all-MiniLM-L6-v2, 384 dimensions), and 1,000
queries made of synsets' words ("physical entity"), which are not in the base.

Writes DIR/base.fvecs, DIR/query.fvecs and DIR/groundtruth.ivecs (exact top-100 by inner product of the
unit vectors, in float64), the TEXMEX files `engram bench run` and Benchmarks/compare/ann.py read.
Engram itself embeds the texts (`engram import` into a scratch store, `engram export --with-embeddings`),
so the vectors are the ones an Engram store of these texts holds.

    apt-get install wordnet-base          # once; `make` does not need it
    engram model install                  # once: the MiniLM weights
    python3 Benchmarks/corpus/wordnet.py --engram .build/release/engram --out Benchmarks/corpus/data/wordnet
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np

WORDNET = "/usr/share/wordnet"


def synsets():
    """(words, gloss) of every synset, in file order."""
    for pos in ["noun", "verb", "adj", "adv"]:
        with open(f"{WORDNET}/data.{pos}", encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                count = int(fields[3], 16)
                words = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
                yield words, gloss.strip()


def write_vecs(path, rows, dtype):
    rows = np.asarray(rows, dtype=dtype)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    out[:, 0] = rows.shape[1]
    out[:, 1:] = rows.view(np.int32)
    out.tofile(path)


def embed(engram, texts, work):
    """The embeddings Engram stores for `texts`, in order (an exact duplicate is embedded once)."""
    os.makedirs(work, exist_ok=True)
    store = os.path.join(work, "store")
    lines = os.path.join(work, "texts.jsonl")
    with open(lines, "w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"content": text, "metadata": {"i": i}}) + "\n")
    subprocess.run([engram, "init", "--store", store, "--embedder", "minilm"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([engram, "import", lines, "--store", store], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([engram, "export", "--store", store, "--with-embeddings"], check=True,
                         capture_output=True, text=True).stdout
    vectors = {}
    for line in out.splitlines():
        m = json.loads(line)
        vectors[int(m["metadata"]["i"])] = m["embedding"]
    return vectors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engram", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    all_synsets = list(synsets())
    step = len(all_synsets) // args.queries
    chosen = set(range(0, step * args.queries, step))
    glosses = [g for _, g in all_synsets]
    queries = [", ".join(all_synsets[i][0]) for i in sorted(chosen)]
    with tempfile.TemporaryDirectory() as work:
        base = embed(args.engram, glosses, os.path.join(work, "base"))
    with tempfile.TemporaryDirectory() as work:
        query = embed(args.engram, queries, os.path.join(work, "query"))
    # Duplicate glosses were stored once: keep each text's first occurrence.
    xb = np.array([base[i] for i in sorted(base)], dtype=np.float32)
    xq = np.array([query[i] for i in sorted(query)], dtype=np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    scores = xq.astype(np.float64) @ xb.astype(np.float64).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :100].astype(np.int32)
    write_vecs(f"{args.out}/base.fvecs", xb, np.float32)
    write_vecs(f"{args.out}/query.fvecs", xq, np.float32)
    write_vecs(f"{args.out}/groundtruth.ivecs", top, np.int32)
    with open(f"{args.out}/README", "w") as f:
        f.write(f"WordNet 3.0 glosses ({len(xb)} unique of {len(glosses)}) and {len(xq)} word queries, "
                "embedded by Engram's all-MiniLM-L6-v2; made by Benchmarks/corpus/wordnet.py\n")
    print(f"wrote {len(xb)} base and {len(xq)} query vectors of dimension {xb.shape[1]} to {args.out}")


if __name__ == "__main__":
    main()
