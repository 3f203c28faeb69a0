"""Engram as LangGraph's long-term memory: `EngramStore(client)` is a `BaseStore`.

    from engram_client import Engram
    from engram_client.langgraph import EngramStore
    store = EngramStore(Engram())
    store.put(("users", "alice"), "prefs", {"theme": "dark", "notes": "likes short answers"})
    store.search(("users",), query="what does alice like?")

Mapping: a LangGraph namespace `("users", "alice")` is the Engram namespace `users/alice` (its labels
must be valid Engram namespace segments); an item is one memory whose id is derived from its namespace
and key, whose text (embedded and keyword-indexed) is the value as JSON, and whose metadata is the
value plus `lg_key`. `search` with a query is Engram's hybrid recall in the namespace subtree; filters
(`{"field": value}`, `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`) are applied by this adapter to what
Engram returns, so a filtered search reads the whole subtree's candidates. TTLs are not supported.
Needs `langgraph` (not a dependency of engram-client).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, Iterable, Optional

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from ._client import Engram, EngramError
from .models import Memory

KEY_FIELD = "lg_key"
# Enough recall candidates for a filtered or offset search (Engram's recall is exact top-k).
QUERY_CANDIDATES = 1000


def _namespace(path: tuple) -> str:
    return "/".join(path)


def _item_id(namespace: tuple, key: str) -> str:
    """A stable memory id for (namespace, key): the item's address in Engram."""
    digest = bytearray(hashlib.sha256(("\x1f".join(namespace) + "\x1e" + key).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(digest)))


def _time(text: Optional[str]) -> datetime:
    return datetime.fromisoformat((text or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def _value(memory: Memory) -> dict:
    return {k: v for k, v in (memory.metadata or {}).items() if k != KEY_FIELD}


def _item(memory: Memory, cls=Item, **extra):
    return cls(
        namespace=tuple(memory.namespace.split("/")), key=(memory.metadata or {}).get(KEY_FIELD, ""),
        value=_value(memory), created_at=_time(memory.created_at), updated_at=_time(memory.updated_at), **extra)


def _matches(value: dict, filter: Optional[dict]) -> bool:
    for field, wanted in (filter or {}).items():
        actual = value.get(field)
        conditions = wanted.items() if isinstance(wanted, dict) and all(k.startswith("$") for k in wanted) \
            else [("$eq", wanted)]
        for op, operand in conditions:
            try:
                ok = {"$eq": lambda: actual == operand, "$ne": lambda: actual != operand,
                      "$gt": lambda: actual > operand, "$gte": lambda: actual >= operand,
                      "$lt": lambda: actual < operand, "$lte": lambda: actual <= operand}[op]()
            except TypeError:
                ok = False
            except KeyError:
                raise ValueError(f"unsupported filter operator {op}") from None
            if not ok:
                return False
    return True


def _namespace_matches(namespace: tuple, conditions) -> bool:
    for condition in conditions or ():
        path = tuple(condition.path)
        if len(path) > len(namespace):
            return False
        part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path):]
        if any(p != "*" and p != n for p, n in zip(path, part)):
            return False
    return True


class EngramStore(BaseStore):
    """LangGraph's `BaseStore` over an Engram server, through an `Engram` client."""

    def __init__(self, client: Engram):
        self.client = client

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Runs the reads in order against the store as it was before the batch, then the writes, the
        last one per (namespace, key) winning: LangGraph's own stores' batch semantics."""
        results: list[Result] = []
        puts: dict = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(tuple(op.namespace), op.key)] = op
                results.append(None)
            else:
                results.append(self._run(op))
        for op in puts.values():
            self._put(op.namespace, op.key, op.value)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        # The synchronous client under the event loop's default executor keeps one code path.
        import asyncio

        ops = list(ops)
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, ops)

    def _run(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op.namespace, op.key)
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise ValueError(f"unknown operation {type(op).__name__}")

    def _memory(self, namespace: tuple, key: str) -> Optional[Memory]:
        try:
            return self.client.get(_item_id(namespace, key))
        except EngramError as error:
            if error.status == 404:
                return None
            raise

    def _get(self, namespace: tuple, key: str) -> Optional[Item]:
        memory = self._memory(namespace, key)
        return _item(memory) if memory is not None else None

    def _put(self, namespace: tuple, key: str, value: Optional[dict]) -> None:
        # A new value replaces the item under the same id (Engram's update would give it a new id), as
        # LangGraph's own stores replace it.
        try:
            self.client.forget(_item_id(namespace, key))
        except EngramError as error:
            if error.status != 404:
                raise
        if value is None:
            return None
        value = dict(value)
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        self.client.remember(
            text, namespace=_namespace(namespace), metadata={**value, KEY_FIELD: key}, id=_item_id(namespace, key))
        return None

    def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = _namespace(op.namespace_prefix)
        namespace_filter = {"namespace": prefix + "/"} if prefix else None
        wanted = op.offset + op.limit
        if op.query:
            hits = self.client.recall(op.query, k=QUERY_CANDIDATES if op.filter or op.offset else max(wanted, 1),
                                      filter=namespace_filter)
            found = [_item(h, SearchItem, score=h.score) for h in hits if _matches(_value(h), op.filter)]
        else:
            memories = self.client.list(prefix + "/" if prefix else None)
            found = [_item(m, SearchItem) for m in memories if _matches(_value(m), op.filter)]
            found.sort(key=lambda item: item.updated_at, reverse=True)
        return found[op.offset: wanted]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple]:
        stats = self.client.stats()
        namespaces = {tuple(ns.split("/")) for ns, n in stats.get("by_namespace", {}).items() if n > 0}
        selected = set()
        for namespace in namespaces:
            if not _namespace_matches(namespace, op.match_conditions):
                continue
            selected.add(namespace[: op.max_depth] if op.max_depth is not None else namespace)
        return sorted(selected)[op.offset: op.offset + op.limit]
