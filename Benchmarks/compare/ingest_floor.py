#!/usr/bin/env python3
"""What SQLite alone costs for Engram's records: the floor under `engram bench run`'s ingest figure.

Creates a store with `engram init` (so the schema is the build's own: the memory table, its indexes and
the FTS5 table), then inserts N generated rows into a copy of that schema from Python's sqlite3
(`executemany`, C-level binding, no Engram code), WAL and `synchronous=full` as Engram's durable
ingest. Three ways, alternating rounds, medians:

- live indexes, a transaction per 10,000 rows (what `bench run` does);
- live indexes, one transaction for all rows;
- the secondary indexes dropped at the start of that transaction and created again at its end.

Full text is filled the way Engram does it (one INSERT ... SELECT per transaction). No vectors are
written: the figures are an upper bound for any ingest that keeps a row per memory, its indexes and
FTS5 in SQLite.

    python3 Benchmarks/compare/ingest_floor.py --engram .build/release/engram [--n 100000] [--rounds 3]
        [--no-full-text] [--no-journal]

`--no-full-text` leaves the FTS5 table empty (the records and their indexes alone); `--no-journal` runs
with `journal_mode=OFF` and `synchronous=OFF`, which no durable store can: together they bound what
any bulk path over this schema could reach, whatever it defers.
"""
import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time

COLUMNS = ("id", "slot", "namespace", "agent", "kind", "content", "cause", "outcome", "succeeded", "tags",
           "importance", "metadata", "created_at", "updated_at", "expires_at", "last_recalled_at",
           "recall_count", "supersedes", "scope_terms", "content_hash")


def engram_schema(engram):
    """The CREATE statements of a new store's memory table, its indexes and its full-text table."""
    with tempfile.TemporaryDirectory() as work:
        store = os.path.join(work, "store")
        subprocess.run([engram, "init", "--store", store, "--embedder", "custom", "--dimension", "8"], check=True,
                       capture_output=True)
        db = sqlite3.connect(f"file:{store}/memories.sqlite?mode=ro", uri=True)
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
                          "(tbl_name = 'memory' OR name = 'memory_fts') AND type != 'trigger'").fetchall()
        db.close()
    tables = [sql for kind, name, sql in rows if kind == "table"]
    indexes = {name: sql for kind, name, sql in rows if kind == "index"}
    return tables, indexes


def generated_rows(n):
    rng = random.Random(7)
    words = [f"w{i}" for i in range(2000)]
    rows = []
    for i in range(n):
        content = " ".join(rng.choice(words) for _ in range(12))
        rows.append((f"01JD{i:022d}", i, f"bench/ns{i % 100}", None, "fact", content, None, None, None, "", 0.5,
                     "{}", 1.7e9, 1.7e9, None, None, 0, None, "",
                     hashlib.sha256(content.encode()).hexdigest()))
    return rows


def ingest(tables, indexes, rows, batch, defer, full_text=True, journal=True):
    with tempfile.TemporaryDirectory() as work:
        db = sqlite3.connect(os.path.join(work, "t.sqlite"), isolation_level=None)
        db.execute("PRAGMA journal_mode=" + ("WAL" if journal else "OFF"))
        db.execute("PRAGMA synchronous=" + ("FULL" if journal else "OFF"))
        for sql in tables + list(indexes.values()):
            db.execute(sql)
        insert = f"INSERT INTO memory({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        start = time.perf_counter()
        for first in range(0, len(rows), batch):
            chunk = rows[first:first + batch]
            db.execute("BEGIN")
            if defer:
                for name in indexes:
                    db.execute(f"DROP INDEX {name}")
            db.executemany(insert, chunk)
            if defer:
                for sql in indexes.values():
                    db.execute(sql)
            if full_text:
                db.execute("INSERT INTO memory_fts(rowid, content, cause, outcome, tags, scope_terms) "
                           "SELECT rowid, content, cause, outcome, tags, scope_terms FROM memory "
                           "WHERE rowid BETWEEN ? AND ?", (first + 1, first + len(chunk)))
            db.execute("COMMIT")
        rate = len(rows) / (time.perf_counter() - start)
        db.close()
        return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engram", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-full-text", action="store_true", help="leave the full-text table empty")
    ap.add_argument("--no-journal", action="store_true", help="journal_mode=OFF, synchronous=OFF (not durable)")
    args = ap.parse_args()
    tables, indexes = engram_schema(args.engram)
    rows = generated_rows(args.n)
    ways = {"live indexes, 10,000 per transaction": (10_000, False),
            f"live indexes, one transaction": (args.n, False),
            f"indexes built after the rows, one transaction": (args.n, True)}
    rates = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, (batch, defer) in ways.items():
            rates[name].append(ingest(tables, indexes, rows, batch, defer, not args.no_full_text, not args.no_journal))
    print(f"SQLite {sqlite3.sqlite_version}, {args.n} rows {'without' if args.no_full_text else 'with'} full text, "
          f"{'no journal, no sync' if args.no_journal else 'WAL, synchronous=FULL'}, "
          f"secondary indexes {sorted(indexes)}")
    print("| rows/s (median of %d) | |" % args.rounds)
    print("|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} |")


if __name__ == "__main__":
    main()
