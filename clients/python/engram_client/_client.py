"""Engram and AsyncEngram: one method per route of `engram serve`, written once as request specs that
the synchronous and the asynchronous client both run."""
from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator, Optional
from urllib.parse import quote

import httpx

from .models import Hit, Memory, Page, RememberResult, WorkingEntry

DEFAULT_URL = "http://127.0.0.1:8420"

# Each route of the API (as openapi.json names it) and the method that calls it; a test fails when the
# document has a route this table lacks.
ROUTES = {
    ("POST", "/v1/memories"): "remember, remember_many",
    ("GET", "/v1/memories"): "list_page, list",
    ("POST", "/v1/memories/forget"): "forget_matching",
    ("GET", "/v1/memories/{id}"): "get",
    ("PATCH", "/v1/memories/{id}"): "update",
    ("DELETE", "/v1/memories/{id}"): "forget",
    ("GET", "/v1/memories/{id}/history"): "history",
    ("POST", "/v1/memories/{id}/feedback"): "feedback",
    ("POST", "/v1/memories/{id}/quarantine"): "quarantine",
    ("POST", "/v1/memories/{id}/release"): "release",
    ("POST", "/v1/memories/purge"): "purge",
    ("GET", "/v1/audit"): "audit",
    ("GET", "/v1/audit/verify"): "audit_verify",
    ("POST", "/v1/recall"): "recall",
    ("POST", "/v1/search"): "search",
    ("GET", "/v1/count"): "count",
    ("GET", "/v1/stats"): "stats",
    ("GET", "/v1/index"): "index_status",
    ("POST", "/v1/index"): "build_index",
    ("DELETE", "/v1/index"): "drop_index",
    ("GET", "/v1/working"): "working_list",
    ("POST", "/v1/working/promote"): "working_promote",
    ("PUT", "/v1/working/{namespace}/{key}"): "working_set",
    ("GET", "/v1/working/{namespace}/{key}"): "working_get",
    ("DELETE", "/v1/working/{namespace}/{key}"): "working_delete",
    ("GET", "/readyz"): "health",
}
# Routes a memory client has no use for: liveness, metrics, the document itself, MCP's endpoint.
NOT_CLIENT_ROUTES = {"/healthz", "/metrics", "/openapi.json", "/mcp"}


class EngramError(Exception):
    """An answer of the API that is not a success: its HTTP `status`, the API's `code`
    (`invalidArgument`, `notFound`, `permissionDenied`, `unauthenticated`, `tooLarge`, `overloaded`, ...),
    its `message`, and the `field` at fault when there is one."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        super().__init__(f"{status} {code}: " + (f"{field}: " if field else "") + message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass
class _Call:
    """One request and how to read its answer."""

    method: str
    path: str
    body: Any = None
    params: Optional[dict] = None
    parse: Callable[[Any], Any] = lambda body: body
    ok_statuses: tuple = ()  # non-2xx statuses that still carry an answer (readyz's 503)


def _drop_none(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _segment(text: str) -> str:
    return quote(text, safe="")


def _entry_path(namespace: str, key: str) -> str:
    return "/v1/working/" + "/".join(_segment(s) for s in namespace.split("/")) + "/" + _segment(key)


class _Calls:
    """The routes as request specs; `_do` runs one (synchronously or as a coroutine)."""

    def _do(self, call: _Call):  # pragma: no cover - provided by the clients
        raise NotImplementedError

    # Write

    def remember(self, content: str, *, cause: Optional[str] = None, outcome: Optional[str] = None,
                 succeeded: Optional[bool] = None, namespace: Optional[str] = None,
                 tags: Optional[list] = None, metadata: Optional[dict] = None, **more):
        """Stores one memory (what happened, why, what was done, whether it worked); returns its id
        (the existing memory's id for an exact duplicate). Other memory fields go in `more`."""
        body = _drop_none(dict(content=content, cause=cause, outcome=outcome, succeeded=succeeded,
                               namespace=namespace, tags=tags, metadata=metadata, **more))
        return self._do(_Call("POST", "/v1/memories", body, parse=lambda b: b["ids"][0]))

    def remember_many(self, memories: list, *, near_duplicate: Optional[float] = None):
        """Stores a batch atomically (all or none); returns a `RememberResult` per memory."""
        body = _drop_none({"memories": memories, "near_duplicate": near_duplicate})
        return self._do(_Call("POST", "/v1/memories", body,
                              parse=lambda b: [RememberResult.from_json(r) for r in b["results"]]))

    def update(self, id: str, **changes):
        """Stores a new version with the given fields changed (`None` clears cause, outcome,
        succeeded or expires_at); returns it. A changed text is embedded again."""
        return self._do(_Call("PATCH", f"/v1/memories/{_segment(id)}", changes, parse=Memory.from_json))

    def forget(self, id: str):
        """Forgets one memory for good."""
        return self._do(_Call("DELETE", f"/v1/memories/{_segment(id)}", parse=lambda b: None))

    def forget_matching(self, filter: dict, *, confirm: bool):
        """Forgets every memory matching `filter` (`{}`: every memory the key may reach); the API asks
        for `confirm=True`, since this cannot be undone. Returns how many were forgotten."""
        return self._do(_Call("POST", "/v1/memories/forget", {"filter": filter, "confirm": confirm},
                              parse=lambda b: b["forgotten"]))

    def feedback(self, id: str, helpful: bool):
        """Reports whether a recalled memory helped; helpful memories rank a little higher later."""
        return self._do(_Call("POST", f"/v1/memories/{_segment(id)}/feedback", {"helpful": helpful},
                              parse=lambda b: None))

    def quarantine(self, id: str):
        """Keeps a memory out of recall, lists and counts until released (the key needs the quarantine
        action). Returns how many memories changed (0 or 1)."""
        return self._do(_Call("POST", f"/v1/memories/{_segment(id)}/quarantine", None,
                              parse=lambda b: b["changed"]))

    def release(self, id: str):
        """Releases a quarantined memory back into recall. Returns how many memories changed."""
        return self._do(_Call("POST", f"/v1/memories/{_segment(id)}/release", None, parse=lambda b: b["changed"]))

    def purge(self, *, ids: Optional[list] = None, source: Optional[str] = None,
              derived_from: Optional[list] = None, filter: Optional[dict] = None, confirm: bool,
              reason: Optional[str] = None):
        """Removes memories and every trace of them from the store's files: by `ids`, `source`,
        `derived_from` (those memories and everything derived from them) or `filter`; the API asks for
        `confirm=True`. Returns the ids of every version removed."""
        body = _drop_none(dict(ids=ids, source=source, derived_from=derived_from, filter=filter,
                               confirm=confirm, reason=reason))
        return self._do(_Call("POST", "/v1/memories/purge", body, parse=lambda b: b["versions"]))

    def audit(self, since: Optional[str] = None, after: int = 0):
        """Audit entries (dicts: seq, at, actor, action, ids, detail, hash) from `since`, after entry
        number `after`, oldest first, at most 1000 (a whole-store key only)."""
        params = _drop_none(dict(since=since, after=after or None))
        return self._do(_Call("GET", "/v1/audit", None, params=params, parse=lambda b: b["entries"]))

    def audit_verify(self):
        """Checks the audit log's hash chain: a dict with intact, entries, head, first_bad, problem."""
        return self._do(_Call("GET", "/v1/audit/verify", None, parse=lambda b: b))

    # Read

    def recall(self, query: Optional[str] = None, *, vector: Optional[list] = None, k: int = 10,
               filter: Optional[dict] = None, mode: Optional[str] = None, **more):
        """The memories that best answer `query` (hybrid: meaning and keywords, by default; `mode`
        vector or keyword) or `vector` (exact cosine), best first, as `Hit`s. Text hits carry
        `explain` (the scores behind the rank). More options (`min_score`, `fusion`, `candidates`,
        `signals`, `neighbours`) go in `more`."""
        body = _drop_none(dict(query=query, vector=vector, k=k, filter=filter, mode=mode, **more))
        return self._do(_Call("POST", "/v1/recall", body, parse=lambda b: [Hit.from_json(h) for h in b["hits"]]))

    def search(self, query: str, *, k: int = 10, filter: Optional[dict] = None):
        """Keyword search (BM25), best first."""
        body = _drop_none(dict(query=query, k=k, filter=filter))
        return self._do(_Call("POST", "/v1/search", body, parse=lambda b: [Hit.from_json(h) for h in b["hits"]]))

    def get(self, id: str):
        """One memory by id."""
        return self._do(_Call("GET", f"/v1/memories/{_segment(id)}", parse=Memory.from_json))

    def history(self, id: str):
        """A memory's current version, then the older versions it replaced, newest first."""
        return self._do(_Call("GET", f"/v1/memories/{_segment(id)}/history",
                              parse=lambda b: [Memory.from_json(m) for m in b["versions"]]))

    def list_page(self, namespace: Optional[str] = None, *, limit: int = 100, cursor: Optional[str] = None):
        """One page of memories in creation order; pass its `next_cursor` as `cursor` for the next."""
        params = _drop_none({"namespace": namespace, "limit": limit, "cursor": cursor})
        return self._do(_Call("GET", "/v1/memories", params=params, parse=Page.from_json))

    def count(self, namespace: Optional[str] = None):
        """How many memories (in a namespace; a trailing '/' includes everything below it)."""
        return self._do(_Call("GET", "/v1/count", params=_drop_none({"namespace": namespace}),
                              parse=lambda b: b["count"]))

    def stats(self):
        """The store's figures, as far as the key may see them."""
        return self._do(_Call("GET", "/v1/stats"))

    def health(self):
        """The server's readiness report (`ready`, `checks`); a failing probe is a report, not an error."""
        return self._do(_Call("GET", "/readyz", ok_statuses=(503,)))

    # The approximate index

    def index_status(self):
        """What the store's approximate index holds (lists, bits, probes, entries, memories,
        index_bytes, vector_bytes), or None when it has none."""
        return self._do(_Call("GET", "/v1/index", ok_statuses=(404,),
                              parse=lambda b: None if isinstance(b, dict) and "error" in b else b))

    def build_index(self, *, lists: Optional[int] = None, bits: Optional[int] = None):
        """Builds the approximate index over every memory while writes go on (a key over every
        namespace); returns what it holds, with `build_s`. Answers when the build is done."""
        return self._do(_Call("POST", "/v1/index", _drop_none({"lists": lists, "bits": bits})))

    def drop_index(self):
        """Removes the approximate index; recalls scan exactly again."""
        return self._do(_Call("DELETE", "/v1/index", parse=lambda b: None))

    # Working memory

    def working_set(self, namespace: str, key: str, value: Any, *, ttl_seconds: float):
        """Keeps a short-lived value under a key for `ttl_seconds`."""
        return self._do(_Call("PUT", _entry_path(namespace, key), {"value": value, "ttl_seconds": ttl_seconds},
                              parse=lambda b: None))

    def working_get(self, namespace: str, key: str):
        """An unexpired entry (`EngramError` with code notFound when it is missing or expired)."""
        return self._do(_Call("GET", _entry_path(namespace, key), parse=WorkingEntry.from_json))

    def working_delete(self, namespace: str, key: str):
        """Deletes an entry."""
        return self._do(_Call("DELETE", _entry_path(namespace, key), parse=lambda b: None))

    def working_list(self, namespace: str):
        """Every unexpired entry of a namespace."""
        return self._do(_Call("GET", "/v1/working", params={"namespace": namespace},
                              parse=lambda b: [WorkingEntry.from_json(e) for e in b["entries"]]))

    def working_promote(self, namespace: str, key: str, *, kind: Optional[str] = None,
                        tags: Optional[list] = None):
        """Turns an entry into a long-term memory; returns its id."""
        body = _drop_none({"namespace": namespace, "key": key, "kind": kind, "tags": tags})
        return self._do(_Call("POST", "/v1/working/promote", body, parse=lambda b: b["id"]))


class _Transport:
    """What both clients share: where the server is, the key, and how answers and retries are read."""

    def __init__(self, url: Optional[str], api_key: Optional[str], max_retries: int):
        self.url = (url or os.environ.get("ENGRAM_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("ENGRAM_API_KEY")
        self.max_retries = max_retries

    def headers(self) -> dict:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        return headers

    @staticmethod
    def retry_delay(response: httpx.Response, attempt: int) -> Optional[float]:
        """Seconds to wait before retrying a 503 or 429 (the server's `Retry-After` when it gives one),
        or None when the answer is final (as is a wait of more than 30 s: a daily quota, say)."""
        if response.status_code not in (429, 503):
            return None
        after = response.headers.get("Retry-After")
        if after is not None:
            try:
                wait = max(float(after), 0.0)
                return None if wait > 30.0 else wait
            except ValueError:
                pass
        return min(0.25 * (2 ** attempt), 8.0) * (0.5 + random.random() / 2)

    @staticmethod
    def result(call: _Call, response: httpx.Response):
        status = response.status_code
        body = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if 200 <= status < 300 or status in call.ok_statuses:
            return call.parse(body)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise EngramError(status, error.get("code", "http"), error.get("message", response.text[:200]),
                          error.get("field"))


class Engram(_Calls):
    """A synchronous client. `url` defaults to `$ENGRAM_URL` (else http://127.0.0.1:8420) and `api_key`
    to `$ENGRAM_API_KEY`; 503 and 429 answers are retried up to `max_retries` times, honouring
    `Retry-After`."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0,
                 max_retries: int = 3, transport: Optional[httpx.BaseTransport] = None):
        self._t = _Transport(url, api_key, max_retries)
        self._http = httpx.Client(base_url=self._t.url, headers=self._t.headers(), timeout=timeout,
                                  transport=transport)

    def _do(self, call: _Call):
        attempt = 0
        while True:
            response = self._http.request(call.method, call.path, json=call.body, params=call.params)
            delay = _Transport.retry_delay(response, attempt)
            if delay is None or attempt >= self._t.max_retries:
                return _Transport.result(call, response)
            attempt += 1
            time.sleep(delay)

    def list(self, namespace: Optional[str] = None, *, page_size: int = 100) -> Iterator[Memory]:
        """Every memory (in a namespace), page after page, in creation order."""
        cursor = None
        while True:
            page = self.list_page(namespace, limit=page_size, cursor=cursor)
            yield from page.memories
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def close(self):
        """Closes the connections."""
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncEngram(_Calls):
    """The asynchronous client: the same methods as `Engram`, each a coroutine (`list` an async
    iterator)."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0,
                 max_retries: int = 3, transport: Optional[httpx.AsyncBaseTransport] = None):
        self._t = _Transport(url, api_key, max_retries)
        self._http = httpx.AsyncClient(base_url=self._t.url, headers=self._t.headers(), timeout=timeout,
                                       transport=transport)

    async def _do(self, call: _Call):
        attempt = 0
        while True:
            response = await self._http.request(call.method, call.path, json=call.body, params=call.params)
            delay = _Transport.retry_delay(response, attempt)
            if delay is None or attempt >= self._t.max_retries:
                return _Transport.result(call, response)
            attempt += 1
            await asyncio.sleep(delay)

    async def list(self, namespace: Optional[str] = None, *, page_size: int = 100) -> AsyncIterator[Memory]:
        """Every memory (in a namespace), page after page, in creation order."""
        cursor = None
        while True:
            page = await self.list_page(namespace, limit=page_size, cursor=cursor)
            for memory in page.memories:
                yield memory
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def aclose(self):
        """Closes the connections."""
        await self._http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
