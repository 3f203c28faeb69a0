#!/usr/bin/env python3
"""LoCoMo dev split -> Engram's eval format, then `engram eval` on it, per mode and per category.

Follows the protocol in ../shared/eval/locomo-dev/README.md exactly:
  * every dialogue turn is one memory, content "<speaker>: <text>", namespace locomo/<conversation>,
    kind episode, created_at the session's date and time plus one second per turn, metadata
    {dia_id, session, row}; imported with `engram import`;
  * every scored question (category 5 and questions without valid evidence left out) is asked once in
    its conversation's namespace with the default text recall, k = 20;
  * turn-level recall@k: the share of a question's evidence turns among the first k hits.

Usage:
  python3 Benchmarks/locomo/locomo.py [--data ../shared/eval/locomo-dev] [--engram .build/release/engram]
                                      [--work DIR] [--json] [--modes vector,keyword,hybrid]
The data is read at run time and never copied into the project.
"""
import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def session_time(text):
    # "1:56 pm on 8 May, 2023"
    m = re.match(r"\s*(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})", text)
    if not m:
        raise ValueError(f"unrecognised session time {text!r}")
    hour, minute, half, day, month, year = m.groups()
    hour = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    month = dt.datetime.strptime(month[:3], "%b").month
    return dt.datetime(int(year), month, int(day), hour, int(minute), tzinfo=dt.timezone.utc)


def convert(path):
    """(memories, queries) of one conversation file, in Engram's import and eval formats."""
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path) as f:
        conversation = json.load(f)
    namespace = f"locomo/{name}"
    memories, turn_ids = [], set()
    sessions = sorted(
        (int(k.split("_")[1]) for k in conversation if re.fullmatch(r"session_\d+", k)))
    for s in sessions:
        base = session_time(conversation[f"session_{s}_date_time"])
        for row, turn in enumerate(conversation[f"session_{s}"]):
            created = base + dt.timedelta(seconds=row)
            memories.append({
                "content": f"{turn['speaker']}: {turn['text']}",
                "namespace": namespace,
                "kind": "episode",
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "metadata": {"dia_id": turn["dia_id"], "session": s, "row": row},
            })
            turn_ids.add(turn["dia_id"])
    queries = []
    for qa in conversation["qa"]:
        if qa.get("category") == 5:
            continue
        evidence = []
        for item in qa.get("evidence", []):
            for token in re.split(r"[;\s]+", str(item)):
                token = token.strip()
                if token in turn_ids and token not in evidence:
                    evidence.append(token)
        if not evidence:
            continue
        queries.append({
            "query": qa["question"], "namespace": namespace, "relevant_key": "dia_id",
            "relevant": evidence, "group": f"category {qa['category']}",
        })
    return memories, queries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "eval", "locomo-dev"))
    parser.add_argument("--engram", default=os.path.join(ROOT, ".build", "release", "engram"))
    parser.add_argument("--work", help="folder for the store and the JSONL files (default: a temporary one)")
    parser.add_argument("--modes", default="vector,keyword,hybrid")
    parser.add_argument("--json", action="store_true", help="print engram eval's JSON")
    parser.add_argument("--convert-only", action="store_true", help="write the JSONL files and stop")
    args, extra = parser.parse_known_args()

    if not os.path.isdir(args.data):
        sys.exit(f"locomo.py: no LoCoMo data at {args.data} (expected ../shared/eval/locomo-dev beside the "
                 "project); nothing measured")
    files = sorted(f for f in os.listdir(args.data) if f.endswith(".json"))
    if not files:
        sys.exit(f"locomo.py: {args.data} holds no conversation files; nothing measured")
    memories, queries = [], []
    for f in files:
        m, q = convert(os.path.join(args.data, f))
        memories += m
        queries += q
    work = args.work or tempfile.mkdtemp(prefix="engram-locomo-")
    os.makedirs(work, exist_ok=True)
    mem_path, query_path = os.path.join(work, "memories.jsonl"), os.path.join(work, "queries.jsonl")
    with open(mem_path, "w") as f:
        f.writelines(json.dumps(m) + "\n" for m in memories)
    with open(query_path, "w") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    print(f"{len(files)} conversations, {len(memories)} turns, {len(queries)} scored questions -> {work}",
          file=sys.stderr)
    if args.convert_only:
        return
    if not os.access(args.engram, os.X_OK):
        sys.exit(f"locomo.py: no engram executable at {args.engram} (swift build -c release --product engram)")
    store = os.path.join(work, "store")
    if not os.path.isdir(store):
        subprocess.run([args.engram, "init", "--store", store], check=True, stdout=sys.stderr)
        subprocess.run([args.engram, "import", "--store", store, mem_path], check=True, stdout=sys.stderr)
    command = [args.engram, "eval", "--store", store, "--queries", query_path, "--modes", args.modes,
               "--by-group"] + (["--json"] if args.json else []) + extra
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
