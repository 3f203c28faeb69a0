"""engram-client against a real `engram serve` on loopback, started here with API keys.

The binary is $ENGRAM_BINARY (default: the repository's debug build)."""
import asyncio
import concurrent.futures
import os
import re
import subprocess
import tempfile
import time

import httpx
import pytest

from engram_client import AsyncEngram, Engram, EngramError, Hit, Memory
from engram_client._client import _Call

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BINARY = os.environ.get("ENGRAM_BINARY", os.path.join(ROOT, ".build", "debug", "engram"))


def engram_cli(*args):
    env = dict(os.environ, ENGRAM_MODELS="/nonexistent")
    return subprocess.run([BINARY, *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.fixture(scope="module")
def server():
    """A store with the hashing embedder served on a free port, an admin key and a read-only key for
    the `team` namespace; at most 5 memories per batch, one worker and a queue of 4 (so that concurrent
    callers meet 503s)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        engram_cli("init", "--store", store, "--embedder", "hashing")
        admin = engram_cli("keys", "create", "--store", store, "--all-namespaces", "--actions",
                           "read,write,forget", "--name", "admin")
        reader = engram_cli("keys", "create", "--store", store, "--namespace", "team", "--actions", "read",
                            "--name", "reader")
        process = subprocess.Popen(
            [BINARY, "serve", "--store", store, "--port", "0", "--max-batch", "5", "--workers", "1", "--queue-depth", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, ENGRAM_MODELS="/nonexistent", ENGRAM_LOG_LEVEL="error"))
        line = process.stdout.readline()
        match = re.search(r"at (http://\S+)", line)
        assert match, line
        try:
            yield {"url": match.group(1), "admin": admin, "reader": reader}
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture()
def client(server):
    with Engram(server["url"], server["admin"]) as engram:
        yield engram


def test_remember_recall_feedback_forget_round_trip(client):
    memory_id = client.remember(
        "Customer says checkout is slow", cause="payment DB pool exhausted",
        outcome="raised the pool to 80", succeeded=True, namespace="team/support", tags=["checkout"],
        metadata={"ticket": "T-1"})
    hits = client.recall("checkout is slow", k=3, filter={"namespace": "team/"})
    assert isinstance(hits[0], Hit)
    assert hits[0].id == memory_id and hits[0].score > 0 and hits[0].content == "Customer says checkout is slow"
    assert hits[0].explain is not None and hits[0].explain.fused is not None
    client.feedback(memory_id, helpful=True)
    memory = client.get(memory_id)
    assert isinstance(memory, Memory) and memory.helpful_count == 1 and memory.metadata == {"ticket": "T-1"}
    client.forget(memory_id)
    with pytest.raises(EngramError) as error:
        client.get(memory_id)
    assert error.value.status == 404 and error.value.code == "notFound" and error.value.field == "id"
    assert all(hit.id != memory_id for hit in client.recall("checkout is slow", k=5))


def test_every_method(client):
    results = client.remember_many(
        [{"content": "deploy failed: missing env var", "namespace": "team/ops"},
         {"content": "deploy failed: missing env var", "namespace": "team/ops"}])
    assert [r.status for r in results] == ["stored", "duplicate"] and results[0].id == results[1].id
    original = results[0].id
    updated = client.update(original, outcome="added it to the manifest", succeeded=True)
    assert updated.supersedes == original and updated.outcome == "added it to the manifest"
    versions = client.history(updated.id)
    assert [v.id for v in versions] == [updated.id, original]
    assert client.search("manifest", k=5)[0].id == updated.id
    vector_hits = client.recall(vector=[0.1] * 384, k=1)
    assert len(vector_hits) == 1 and vector_hits[0].explain is None
    assert client.count("team/ops") == 1
    stats = client.stats()
    assert stats["memories"] >= 1 and stats["dimension"] == 384
    assert client.health()["ready"] is True
    assert client.index_status() is None
    built = client.build_index(lists=1)
    assert built["lists"] == 1 and built["memories"] >= 1 and built["build_s"] >= 0
    assert client.index_status()["entries"] == built["entries"]
    client.drop_index()
    assert client.index_status() is None

    client.working_set("team/ops", "plan", {"step": 1}, ttl_seconds=60)
    entry = client.working_get("team/ops", "plan")
    assert entry.value == {"step": 1} and entry.namespace == "team/ops"
    assert [e.key for e in client.working_list("team/ops")] == ["plan"]
    client.working_delete("team/ops", "plan")
    with pytest.raises(EngramError) as missing:
        client.working_get("team/ops", "plan")
    assert missing.value.code == "notFound"
    client.working_set("team/ops", "note", "check the manifest first", ttl_seconds=60)
    promoted = client.working_promote("team/ops", "note", tags=["lesson"])
    assert client.get(promoted).content == "check the manifest first"

    assert client.forget_matching({"namespace": "team/ops"}, confirm=True) == 2
    assert client.count("team/ops") == 0


def test_list_pages_through_every_memory(client):
    ids = [client.remember(f"page test {i}", namespace="team/pages") for i in range(7)]
    first = client.list_page("team/pages", limit=3)
    assert len(first.memories) == 3 and first.next_cursor is not None
    assert [m.id for m in client.list("team/pages", page_size=3)] == ids
    client.forget_matching({"namespace": "team/pages"}, confirm=True)


def test_errors_carry_status_code_and_field(server, client):
    with pytest.raises(EngramError) as bad_body:  # 400: the body is not a JSON object
        client._do(_Call("POST", "/v1/recall", "not an object"))
    assert bad_body.value.status == 400 and bad_body.value.field == "body"
    with pytest.raises(EngramError) as unknown_key:
        Engram(server["url"], "egk_not_a_key").count()
    assert unknown_key.value.status == 401
    with Engram(server["url"], server["reader"]) as reader:
        with pytest.raises(EngramError) as refused:
            reader.remember("outside my rights", namespace="team/x")
        assert refused.value.status == 403 and refused.value.code == "permissionDenied"
        with pytest.raises(EngramError) as outside:
            reader.recall("anything", filter={"namespace": "elsewhere"})
        assert outside.value.status == 403 and outside.value.field == "filter.namespace"
    with pytest.raises(EngramError) as not_found:
        client.get("00000000-0000-7000-8000-000000000000")
    assert not_found.value.status == 404
    with pytest.raises(EngramError) as too_large:
        client.remember_many([{"content": f"m{i}"} for i in range(6)])
    assert too_large.value.status == 413 and too_large.value.code == "tooLarge"
    with pytest.raises(EngramError) as invalid:
        client.remember("", namespace="team/x")
    assert invalid.value.status == 422 and invalid.value.field == "content"
    with pytest.raises(EngramError) as unconfirmed:
        client.forget_matching({}, confirm=False)
    assert unconfirmed.value.status == 422 and unconfirmed.value.field == "confirm"


def test_503_is_retried_with_retry_after():
    answers = iter([
        httpx.Response(503, headers={"Retry-After": "0"}, json={"error": {"code": "overloaded", "message": "busy"}}),
        httpx.Response(503, headers={"Retry-After": "0"}, json={"error": {"code": "overloaded", "message": "busy"}}),
        httpx.Response(200, json={"count": 7}),
    ])
    seen = []

    def handler(request):
        seen.append(request.url.path)
        return next(answers)

    assert Engram("http://engram.test", transport=httpx.MockTransport(handler)).count() == 7
    assert len(seen) == 3
    always = httpx.MockTransport(lambda r: httpx.Response(
        429, headers={"Retry-After": "0"}, json={"error": {"code": "rateLimited", "message": "slow down"}}))
    with pytest.raises(EngramError) as gave_up:
        Engram("http://engram.test", transport=always, max_retries=2).count()
    assert gave_up.value.status == 429 and gave_up.value.code == "rateLimited"
    busy = httpx.MockTransport(lambda r: httpx.Response(
        503, headers={"Retry-After": "0"}, json={"error": {"code": "overloaded", "message": "retry shortly"}}))
    with pytest.raises(EngramError) as overloaded:
        Engram("http://engram.test", transport=busy, max_retries=1).count()
    assert overloaded.value.status == 503 and overloaded.value.code == "overloaded"


def test_a_long_retry_after_is_final():
    """A daily quota answers 429 with hours to wait: the client reports it at once instead of sleeping."""
    seen = []

    def handler(request):
        seen.append(request.url.path)
        return httpx.Response(429, headers={"Retry-After": "3600"},
                              json={"error": {"code": "quotaExceeded", "message": "come back tomorrow"}})

    started = time.monotonic()
    with pytest.raises(EngramError) as final:
        Engram("http://engram.test", transport=httpx.MockTransport(handler)).count()
    assert final.value.code == "quotaExceeded" and len(seen) == 1 and time.monotonic() - started < 5


def test_a_full_queue_is_retried_until_served(server):
    """Many concurrent recalls against the server: whatever 503s its queue gives, every call succeeds."""
    statuses = []
    with Engram(server["url"], server["admin"], max_retries=20) as engram:
        engram._http.event_hooks["response"] = [lambda response: statuses.append(response.status_code)]
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda i: engram.recall(f"query {i}", k=1), range(200)))
    assert len(results) == 200
    assert set(statuses) <= {200, 503}
    assert 503 in statuses, "the queue of 4 never filled: the retry path was not exercised"


def test_async_client(server):
    async def run():
        async with AsyncEngram(server["url"], server["admin"]) as engram:
            memory_id = await engram.remember("async memory", namespace="team/async")
            hits = await engram.recall("async memory", k=1, filter={"namespace": "team/async"})
            assert hits[0].id == memory_id
            listed = [m.id async for m in engram.list("team/async", page_size=1)]
            assert listed == [memory_id]
            await engram.forget(memory_id)
            with pytest.raises(EngramError):
                await engram.get(memory_id)

    asyncio.run(run())


def test_environment_supplies_url_and_key(server, monkeypatch):
    monkeypatch.setenv("ENGRAM_URL", server["url"])
    monkeypatch.setenv("ENGRAM_API_KEY", server["admin"])
    with Engram() as engram:
        assert engram.count() >= 0


def test_models_are_generated_from_the_current_schema():
    script = os.path.join(ROOT, "clients", "generate_models.py")
    result = subprocess.run(["python3", script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_route_of_the_document_has_a_method():
    import json

    from engram_client._client import NOT_CLIENT_ROUTES, ROUTES

    with open(os.path.join(ROOT, "Sources", "EngramServer", "openapi.json")) as f:
        paths = json.load(f)["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() if path not in NOT_CLIENT_ROUTES
                  for method in item if method in ("get", "put", "post", "patch", "delete")}
    assert documented == set(ROUTES), (documented ^ set(ROUTES))
    for names in ROUTES.values():
        for name in names.split(", "):
            assert callable(getattr(Engram, name)) and callable(getattr(AsyncEngram, name)), name
