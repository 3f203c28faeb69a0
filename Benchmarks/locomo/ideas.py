#!/usr/bin/env python3
"""Offline trials of ranking ideas on the LoCoMo dev split, before any of them goes into the engine.

Runs after `locomo.py --work DIR` (which builds DIR/store and DIR/queries.jsonl). Starts `engram serve` on
that store, asks every question once with the default hybrid recall (top --k), and re-ranks
the answers in Python to see what each idea would change; recall@10 by the protocol's definition.

  * neighbours: a memory's score plus alpha x the best score of the memories just before and after it in
    its namespace's time order (a conversation turn is often the answer to the turn that matched);
  * prf: pseudo-relevance feedback, the query plus the most distinctive words of the top 3 hits, asked
    again.

  python3 Benchmarks/locomo/ideas.py --work DIR [--engram .build/release/engram]
"""
import argparse, collections, json, math, os, re, socket, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STOP = set("""a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves""".split())


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/recall", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["hits"]  # each: the memory's fields, score, explain


def recall_at(ranked, relevant, k=10):
    return len(set(ranked[:k]) & relevant) / len(relevant)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--k", type=int, default=30, help="hits asked per question (the re-ranked pool; default 30, "
                                                         "the number of candidates per retriever)")
    p.add_argument("--engram", default=os.path.join(ROOT, ".build", "release", "engram"))
    args = p.parse_args()
    store = os.path.join(args.work, "store")
    memories = [json.loads(l) for l in open(os.path.join(args.work, "memories.jsonl"))]
    queries = [json.loads(l) for l in open(os.path.join(args.work, "queries.jsonl"))]
    # Time order per namespace: the memories file is in turn order.
    order = collections.defaultdict(list)
    for m in memories:
        order[m["namespace"]].append(m["metadata"]["dia_id"])
    position = {(ns, d): i for ns, ids in order.items() for i, d in enumerate(ids)}
    df = collections.Counter()
    for m in memories:
        df.update(set(w for w in re.findall(r"[a-z0-9']+", m["content"].lower()) if w not in STOP))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([args.engram, "serve", "--store", store, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        results = collections.defaultdict(list)
        for q in queries:
            ns, relevant = q["namespace"], set(q["relevant"])
            body = {"query": q["query"], "k": args.k, "filter": {"namespace": ns}}
            hits = post(port, body)
            ranked = [h["metadata"]["dia_id"] for h in hits]
            score = {h["metadata"]["dia_id"]: h["score"] for h in hits}
            results["hybrid (today)"].append(recall_at(ranked, relevant))
            ids = order[ns]
            for alpha in (0.1, 0.2, 0.3, 0.5):
                pool = set(score)
                for d in list(score):
                    i = position[(ns, d)]
                    pool.update(ids[j] for j in (i - 1, i + 1) if 0 <= j < len(ids))
                def boosted(d):
                    i = position[(ns, d)]
                    near = [score.get(ids[j], 0) for j in (i - 1, i + 1) if 0 <= j < len(ids)]
                    return score.get(d, 0) + alpha * max(near, default=0)
                rescored = sorted(pool, key=lambda d: (-boosted(d), ranked.index(d) if d in score else 1e9))
                results[f"neighbours alpha={alpha}"].append(recall_at(rescored, relevant))
            for n in (3, 6):
                words = collections.Counter()
                for h in hits[:3]:
                    for w in re.findall(r"[a-z0-9']+", h["content"].lower()):
                        if w not in STOP and len(w) > 2:
                            words[w] += math.log(len(memories) / (1 + df[w]))
                asked = set(re.findall(r"[a-z0-9']+", q["query"].lower()))
                extra = [w for w, _ in words.most_common() if w not in asked][:n]
                expanded = post(port, dict(body, query=q["query"] + " " + " ".join(extra)))
                results[f"prf +{n} words"].append(
                    recall_at([h["metadata"]["dia_id"] for h in expanded], relevant))
        for name, values in results.items():
            print(f"{name:26} recall@10 {sum(values) / len(values):.3f}  ({len(values)} questions)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
