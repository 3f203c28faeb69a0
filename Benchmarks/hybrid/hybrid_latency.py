#!/usr/bin/env python3
"""Text-recall latency by mode on a generated store, with `engram eval`'s per-mode p50 / p99.

Makes N memories of Zipf-distributed words (a 5,000-word vocabulary) in 100 namespaces, imports them
into a store with the hashing embedder (whose embedding costs microseconds, so the figures are the
retrieval's), compacts it as after any bulk load, then asks the same queries unrestricted and restricted to one namespace (1 %).

  python3 Benchmarks/hybrid/hybrid_latency.py [--n 100000] [--queries 1000] [--engram .build/release/engram] [--sql] [--fill]

--sql also times Engram's keyword statement alone in SQLite (Benchmarks/hybrid/keyword_sql.c, built with
cc against the system SQLite) on the MATCH expressions Engram writes for the same queries, to separate
what the restriction saves inside SQLite from a recall's fixed costs. --fill times filling the
full-text index from the store's memories with plain porter and with the engram tokenizer
(Benchmarks/hybrid/fulltext_fill.c, on a copy of the database).
"""
import argparse, hashlib, json, os, random, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--engram", default=os.path.join(ROOT, ".build", "release", "engram"))
    p.add_argument("--work", default=None)
    p.add_argument("--sql", action="store_true", help="also time the keyword statement alone (needs cc)")
    p.add_argument("--fill", action="store_true",
                   help="also time filling the full-text index per tokenizer, on a copy of the store (needs cc)")
    p.add_argument("--function-words", action="store_true",
                   help="make the most frequent words (about 140) English function words (as in real text; the "
                        "keyword query drops them), instead of content words")
    args = p.parse_args()
    rng = random.Random(42)
    vocabulary = [f"w{i}" for i in range(5000)]
    if args.function_words:
        function = ("the of and to a in is it you that he was for on are with as i his they be at one have this "
                    "from or had by not but what some we can out other were all there when up use your how said an "
                    "each she which do their if will way about many then them would like so these her see him has "
                    "more could go come did my no most who over down only may after where just me our its been "
                    "into than any too very those both should because off does again few further here once own "
                    "same such through under until while why whom yourself am being below between doing during "
                    "having herself himself itself myself nor ourselves themselves above against before theirs "
                    "hers ours yours yourselves d ll m re s t ve don further").split()
        function = list(dict.fromkeys(function))
        vocabulary = function + vocabulary[len(function):]
    weights = [1 / (i + 1) for i in range(5000)]
    work = args.work or tempfile.mkdtemp(prefix="engram-hybrid-")
    os.makedirs(work, exist_ok=True)
    store = os.path.join(work, "store")
    # Generated every time, so that the queries below come from the same random state either way.
    memories = [json.dumps({"content": " ".join(rng.choices(vocabulary, weights, k=rng.randint(8, 30))),
                            "namespace": f"tenant/{i % 100}", "metadata": {"n": i}}) for i in range(args.n)]
    if not os.path.isdir(store):
        with open(os.path.join(work, "memories.jsonl"), "w") as f:
            f.write("\n".join(memories) + "\n")
        subprocess.run([args.engram, "init", "--store", store, "--embedder", "hashing", "--dimension", "384"],
                       check=True, stdout=sys.stderr)
        subprocess.run([args.engram, "import", "--store", store, os.path.join(work, "memories.jsonl")],
                       check=True, stdout=sys.stderr)
    # As after any bulk load: compaction also merges the full-text index's per-commit segments (and a
    # store kept from an older build is upgraded by this first writable open).
    subprocess.run([args.engram, "compact", "--store", store], check=True, stdout=sys.stderr)
    results = {}
    for label, namespace in [("whole store", None), ("one namespace (1 %)", "tenant/7")]:
        path = os.path.join(work, f"queries-{namespace is not None}.jsonl")
        with open(path, "w") as f:
            for q in range(args.queries):
                line = {"query": " ".join(rng.choices(vocabulary, weights, k=6)), "relevant_key": "n",
                        "relevant": [rng.randrange(args.n)]}
                if namespace:
                    line["namespace"] = namespace
                f.write(json.dumps(line) + "\n")
        out = subprocess.run([args.engram, "eval", "--store", store, "--queries", path, "--json"],
                             check=True, capture_output=True, text=True).stdout
        results[label] = {m: v["latency_p50_ms"] for m, v in json.loads(out)["modes"].items()}
        results[label + " p99"] = {m: v["latency_p99_ms"] for m, v in json.loads(out)["modes"].items()}
    for label, modes in results.items():
        print(f"{label:28} " + "  ".join(f"{m} {v:8.2f} ms" for m, v in modes.items()))
    whole, small = results["whole store"], results["one namespace (1 %)"]
    print(f"hybrid / vector p50 (whole store): {whole['hybrid'] / whole['vector']:.2f}x")
    print(f"keyword whole / keyword in 1 % namespace p50: {whole['keyword'] / small['keyword']:.1f}x")
    if args.sql:
        statement_alone(work, store)
    if args.fill:
        fill(work, store)


def keyword_terms(text, stop_words):
    """KeywordQuery.terms: unicode61's words, lower-cased, distinct, stop words dropped unless all are."""
    distinct = list(dict.fromkeys(re.findall(r"[^\W_]+", text.lower())))
    content = [w for w in distinct if w not in stop_words]
    return content or distinct


def namespace_term(namespace):
    """FullText.namespaceTerm: "ns" and the SHA-256's first eight bytes as 20 decimal digits."""
    return "ns%020d" % int.from_bytes(hashlib.sha256(namespace.encode()).digest()[:8], "big")


def build(work, name):
    """Compiles Benchmarks/hybrid/NAME.c with Engram's full-text C sources, against the system SQLite."""
    binary = os.path.join(work, name)
    full_text = os.path.join(ROOT, "Sources", "CFullText")
    subprocess.run(["cc", "-O2", "-o", binary, os.path.join(ROOT, "Benchmarks", "hybrid", name + ".c"),
                    os.path.join(full_text, "bm25.c"), os.path.join(full_text, "scoped.c"),
                    "-I", os.path.join(full_text, "include"), "-I", full_text, "-lsqlite3", "-lm"], check=True)
    return binary


def fill(work, store):
    binary = build(work, "fulltext_fill")
    copy = os.path.join(work, "fill.sqlite")
    shutil.copyfile(os.path.join(store, "memories.sqlite"), copy)
    try:
        print(subprocess.run([binary, copy, "3"], check=True, capture_output=True, text=True).stdout.rstrip())
    finally:
        os.remove(copy)


def statement_alone(work, store):
    # The stop words from the Swift source itself, so that this never drifts from KeywordQuery.
    source = open(os.path.join(ROOT, "Sources", "Engram", "Ranking", "KeywordQuery.swift")).read()
    stop_words = set(re.findall(r'"([a-z]+)"', source[source.index("static let stopWords"):]))
    binary = build(work, "keyword_sql")
    medians = {}
    for restricted in (False, True):
        patterns = os.path.join(work, f"patterns-{restricted}.txt")
        with open(os.path.join(work, f"queries-{restricted}.jsonl")) as queries, open(patterns, "w") as out:
            for line in queries:
                query = json.loads(line)
                terms = [t.replace('"', '""') for t in keyword_terms(query["query"], stop_words)]
                if restricted:
                    # FullText.pattern(anyOf:scopedTo:): each word under the namespace's term, between the
                    # markers of the engram tokenizer (Sources/CFullText/scoped.c).
                    scope = "\x1e" + namespace_term(query["namespace"]) + "\x1f"
                    out.write(" OR ".join('"%s%s"' % (scope, t) for t in terms) + "\n")
                else:
                    out.write(" OR ".join('"%s"' % t for t in terms) + "\n")
        result = subprocess.run([binary, os.path.join(store, "memories.sqlite"), patterns, "5"],
                                check=True, capture_output=True, text=True).stdout.strip()
        print(f"keyword statement alone, {'one namespace (1 %)' if restricted else 'whole store'}: {result}")
        medians[restricted] = float(result.split()[0])
    print(f"keyword statement alone, whole / 1 % namespace: {medians[False] / medians[True]:.1f}x")


if __name__ == "__main__":
    main()
