"""EngramStore against LangGraph's documented BaseStore contract, each check run on LangGraph's own
InMemoryStore too (the oracle: what it does, EngramStore must do), against a live `engram serve`."""
import asyncio
import uuid

import pytest
from langgraph.store.base import GetOp, Item, ListNamespacesOp, PutOp, SearchItem, SearchOp
from langgraph.store.memory import InMemoryStore

from engram_client import Engram
from engram_client.langgraph import EngramStore

from test_client import server  # noqa: F401  (the module's live server fixture)


@pytest.fixture(params=["in-memory", "engram"])
def store(request, server):  # noqa: F811
    if request.param == "in-memory":
        yield InMemoryStore()
    else:
        with Engram(server["url"], server["admin"]) as client:
            yield EngramStore(client)


@pytest.fixture()
def root():
    """A namespace root of this test's own, so tests sharing the server do not see each other."""
    return ("lg" + uuid.uuid4().hex[:10],)


def test_put_get_overwrite_delete(store, root):
    ns = root + ("users", "alice")
    assert store.get(ns, "prefs") is None
    store.put(ns, "prefs", {"theme": "dark", "size": 3})
    item = store.get(ns, "prefs")
    assert isinstance(item, Item)
    assert (item.namespace, item.key, item.value) == (ns, "prefs", {"theme": "dark", "size": 3})
    store.put(ns, "prefs", {"theme": "light"})
    again = store.get(ns, "prefs")
    assert again.value == {"theme": "light"}  # a put replaces the item (InMemoryStore's times restart too)
    assert again.updated_at >= item.updated_at
    store.delete(ns, "prefs")
    assert store.get(ns, "prefs") is None
    store.delete(ns, "prefs")  # deleting what is gone is fine


def test_keys_are_per_namespace(store, root):
    store.put(root + ("a",), "k", {"v": 1})
    store.put(root + ("b",), "k", {"v": 2})
    assert store.get(root + ("a",), "k").value == {"v": 1}
    assert store.get(root + ("b",), "k").value == {"v": 2}


def test_search_by_prefix_filter_limit_offset(store, root):
    for i in range(6):
        store.put(root + ("docs", "team" if i % 2 else "solo"), f"d{i}", {"n": i, "kind": "even" if i % 2 == 0 else "odd"})
    everything = store.search(root)
    assert all(isinstance(r, SearchItem) for r in everything)
    assert sorted(r.key for r in everything) == [f"d{i}" for i in range(6)]
    team = store.search(root + ("docs", "team"))
    assert sorted(r.key for r in team) == ["d1", "d3", "d5"]
    assert sorted(r.key for r in store.search(root, filter={"kind": "even"})) == ["d0", "d2", "d4"]
    assert sorted(r.key for r in store.search(root, filter={"n": {"$gte": 4}})) == ["d4", "d5"]
    assert sorted(r.key for r in store.search(root, filter={"n": {"$lt": 2}, "kind": "odd"})) == ["d1"]
    assert sorted(r.key for r in store.search(root, filter={"kind": {"$ne": "odd"}})) == ["d0", "d2", "d4"]
    page1 = store.search(root, limit=4)
    page2 = store.search(root, limit=4, offset=4)
    assert len(page1) == 4 and len(page2) == 2
    assert {r.key for r in page1} | {r.key for r in page2} == {f"d{i}" for i in range(6)}
    assert store.search(root + ("nothing",)) == []


def test_search_with_a_query_ranks_and_scores(request, store, root):
    store.put(root + ("kb",), "checkout", {"text": "checkout is slow because the payment pool is exhausted"})
    store.put(root + ("kb",), "deploy", {"text": "deploy failed: a missing environment variable"})
    results = store.search(root, query="payment pool exhausted at checkout", limit=2)
    assert len(results) == 2
    if "engram" in request.node.name:  # the in-memory store without an index has no scores
        assert results[0].key == "checkout"
        assert results[0].score is not None and results[0].score >= results[1].score
    filtered = store.search(root, query="deploy", filter={"text": "deploy failed: a missing environment variable"})
    assert [r.key for r in filtered] == ["deploy"]


def test_list_namespaces(store, root):
    for path in [("users", "alice", "prefs"), ("users", "bob", "prefs"), ("docs", "v1"), ("docs", "v2", "draft")]:
        store.put(root + path, "k", {"x": 1})
    mine = [ns for ns in store.list_namespaces(prefix=root)]
    assert mine == sorted([root + p for p in [("docs", "v1"), ("docs", "v2", "draft"), ("users", "alice", "prefs"),
                                              ("users", "bob", "prefs")]])
    assert store.list_namespaces(prefix=root + ("users",)) == [root + ("users", "alice", "prefs"),
                                                               root + ("users", "bob", "prefs")]
    assert store.list_namespaces(prefix=root, suffix=("prefs",)) == [root + ("users", "alice", "prefs"),
                                                                    root + ("users", "bob", "prefs")]
    assert store.list_namespaces(prefix=root + ("*", "alice")) == [root + ("users", "alice", "prefs")]
    assert store.list_namespaces(prefix=root, max_depth=2) == [root + ("docs",), root + ("users",)]
    assert store.list_namespaces(prefix=root, limit=1, offset=1) == [root + ("docs", "v2", "draft")]


def test_batch_reads_before_its_writes_and_the_last_write_wins(store, root):
    ns = root + ("batch",)
    store.put(ns, "old", {"v": 0})
    results = store.batch([
        PutOp(ns, "a", {"v": 1}), PutOp(ns, "b", {"v": 2}), GetOp(ns, "a"), GetOp(ns, "old"),
        SearchOp(ns, filter={"v": 0}), ListNamespacesOp(match_conditions=None),
        PutOp(ns, "a", None), PutOp(ns, "old", {"v": 9}),
    ])
    assert results[0] is None and results[1] is None
    assert results[2] is None and results[3].value == {"v": 0}  # reads see the store before the batch
    assert [r.key for r in results[4]] == ["old"]
    assert ns in results[5]
    assert results[6] is None and results[7] is None
    assert store.get(ns, "a") is None  # put then delete in one batch: the delete won
    assert store.get(ns, "b").value == {"v": 2}
    assert store.get(ns, "old").value == {"v": 9}


def test_async_methods(store, root):
    async def run():
        ns = root + ("async",)
        await store.aput(ns, "k", {"v": "async"})
        assert (await store.aget(ns, "k")).value == {"v": "async"}
        assert [r.key for r in await store.asearch(ns)] == ["k"]
        await store.adelete(ns, "k")
        assert await store.aget(ns, "k") is None

    asyncio.run(run())
