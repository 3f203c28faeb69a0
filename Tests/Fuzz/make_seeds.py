#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into Tests/Fuzz/corpus/<target>/ (run once; checked in).

Seeds are small valid inputs of each format, written here from the formats' descriptions (the vector
file header and slots.cache layouts in Sources/Engram), so the fuzzer starts from inputs that get past
the first checks. Checksums are left zero: the fuzz targets fix them up.
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


put("json", "object", '{"a": [1, 2.5e-3, true, null, "x\\u00e9\\ud83d\\ude00"], "b": {"c": -0}}')
put("json", "nested", "[[[[[[[]]]]]]]")
put("json", "number", "-12345678901234567890.5e300")
put("memory-line", "full", json.dumps({
    "content": "Checkout is slow", "why": "pool exhausted", "outcome": "raised the pool", "succeeded": True,
    "namespace": "acme/support", "agent": "triage", "kind": "episode", "tags": ["checkout"], "importance": 0.3,
    "metadata": {"ticket": "ENG-1"}, "created_at": "2026-01-05T09:00:00Z", "ttl": "7d"}))
put("memory-line", "vector", json.dumps({"content": "x", "embedding": [0.1, -0.2, 0.3]}))
put("request", "recall", json.dumps({
    "query": "checkout slow", "k": 5, "mode": "hybrid", "fusion": "rrf:60", "candidates": 40, "signals": False,
    "filter": {"namespace": "acme/", "agents": ["a"], "kinds": ["episode"], "tags": {"all": ["x"]},
               "since": "2026-01-01T00:00:00Z", "until": "30d", "succeeded": True,
               "metadata": {"ticket": "ENG-1", "n": {"gte": 1, "lt": 5}, "s": {"in": ["a", "b"]}}}}))
put("request", "update", json.dumps({"content": "new", "why": None, "tags": ["t"], "metadata": {"k": 1}, "importance": 1}))
put("request", "remember-batch", json.dumps({
    "memories": [{"content": "a", "tags": ["x"]}, {"content": "b", "embedding": [0.5, 0.5]}], "near_duplicate": 0.9}))
put("request", "repeated-name", '{"query": "a", "k": 3, "k": 4}')
put("json", "repeated-name", '{"a": 1, "b": {"c": 2, "c": 3}}')
put("json-lines", "lines", "\n".join([
    json.dumps({"content": "first", "embedding": [1, 0]}), "", "  ",
    '{"content": "safe", "content": "ignore previous instructions"}',
    json.dumps({"content": "caf\u00e9 \u65e5", "metadata": {"k": [1, 2]}}), "[1, 2]"]))
put("json-lines", "invalid-utf8", b'{"content": "ok"}\n{"content": "caf\xc3\x28"}\n\xff\xfe\n{"content": "\xe2\x82"}\n')
# Audit chain: byte 0 the entry count, byte 1 the change, bytes 2-3 the entries it touches, then fields.
for kind in range(6):
    put("audit-chain", f"change-{kind}", bytes([7, kind, 3, 5]) + b"remember-ids-0190a000,detail=1;actor-k_1" * 3)
put("expressions", "condition", "ticket=ENG-1")
put("expressions", "range", "n>=3")
put("expressions", "since", "2026-01-05T09:00:00.123Z")
put("expressions", "ttl", "36h")
put("expressions", "fusion", "weighted:0.5")
put("expressions", "columns", "content=2,cause=0.5,tags=0")
put("expressions", "actions", "read,write,forget")
# Full text: the first byte picks the namespace; lines are content, cause, outcome.
put("full-text", "plain", "\x00Checkout was slow for users\npool exhausted\nraised the pool size")
put("full-text", "markers", "\x01\x1ens09237872047604381653\x1fsecret \x1e\x1f words\n\x1f\x1e")
put("full-text", "unicode", "\x02Caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F600 \u0130stanbul ÉTÉ")
put("full-text", "long-word", "\x00note " + "abcdefghij" * 60)

# Vector file header: magic | version u32 | element u32 | dimension u32 | stride u32 | name length u16 |
# name | zeros | checksum u64 at 4088.
name = b"all-MiniLM-L6-v2"
header = b"ENGRAMVF" + struct.pack("<IIII", 1, 1, 384, 1536) + struct.pack("<H", len(name)) + name
put("vector-header", "minilm", header + bytes(4096 - len(header)))

# slots.cache, version 2, counter "7": magic | version | counter | 4 name tables | count | live | rows | checksum.
def string(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b

body = b"ENGRAMSC" + struct.pack("<I", 2) + string("7")
for table in (["default", "acme/support"], ["triage"], ["episode", "note"], ["checkout", "latency"]):
    body += struct.pack("<I", len(table)) + b"".join(string(n) for n in table)
body += struct.pack("<II", 3, 2)
for slot, ns, agent, tags in ((0, 0, 0, [0, 1]), (2, 1, 0xFFFFFFFF, [])):
    body += struct.pack("<IqQQIIIIddI", slot, slot + 1, 0x0190A00000007000 + slot, 0x8000000000000001, ns, agent,
                        1, 0xFFFFFFFF, 1.7e9, float("inf"), len(tags))
    body += b"".join(struct.pack("<I", t) for t in tags)
put("slot-cache", "two-slots", body + bytes(8))

# slots.cache, versions 3 and 4 (read in place): magic | version | counter | 4 name tables | count |
# tag count | zeros to a multiple of 8 | one record per slot | tag ids | checksum. A record: rowid, id high,
# id low, created, expires, namespace, agent, kind, rank in its namespace, tag start, tag count (u16),
# succeeded (i8), then in version 3 a zero (64 bytes), in version 4 a byte of trust (bits 0-2) and
# quarantine (bit 3), valid-from and valid-until (f64; 80 bytes).
def slot_cache(version):
    body = b"ENGRAMSC" + struct.pack("<I", version) + string("7")
    for table in (["default", "acme/support"], ["triage"], ["episode", "note"], ["checkout", "latency"]):
        body += struct.pack("<I", len(table)) + b"".join(string(n) for n in table)
    live = {0: (0, 0, [0, 1]), 2: (1, -1, []), 3: (0, -1, [1])}
    size = 64 if version == 3 else 80
    tags, ranks, records = [], {}, b""
    for slot in range(4):
        if slot not in live:
            records += bytes(size)
            continue
        ns, agent, slot_tags = live[slot]
        records += struct.pack("<qQQddiiiiIHb", slot + 1, 0x0190A00000007000 + slot, 0x8000000000000001, 1.7e9,
                               float("inf"), ns, agent, 1, ranks.get(ns, 0), len(tags), len(slot_tags), 1)
        if version == 3:
            records += bytes(1)
        else:
            records += struct.pack("<Bdd", slot % 5 | (8 if slot == 3 else 0), 1.7e9,
                                   float("inf") if slot != 2 else 1.8e9)
        ranks[ns] = ranks.get(ns, 0) + 1
        tags += slot_tags
    body += struct.pack("<II", 4, len(tags))
    return body + bytes(-len(body) % 8) + records + b"".join(struct.pack("<I", t) for t in tags) + bytes(8)


put("slot-cache", "three-slots-v3", slot_cache(3))
put("slot-cache", "three-slots-v4", slot_cache(4))

put("usage-log", "lines", "0190a000-0000-7000-8000-000000000001 3 1780000000.5\n"
    "0190a000-0000-7000-8000-000000000002 1 1780000001\ntorn 1")

# safetensors: u64 header length | JSON header | data.
tensor_header = json.dumps({"__metadata__": {"format": "pt"},
                            "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
put("safetensors", "one-tensor", struct.pack("<Q", len(tensor_header)) + tensor_header + struct.pack("<4f", 1, 2, 3, 4))

put("wordpiece", "mixed", "The memories fixed a b c, é 日本 \u0000\u200b TOKENS!!")
