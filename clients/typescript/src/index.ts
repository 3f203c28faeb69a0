// The official TypeScript client for Engram's HTTP API (`engram serve`): one method per route, on the
// platform's `fetch` (Node 18+, browsers, Deno, Bun); no runtime dependency.
import type { Hit, Memory, Page, RememberResult, WorkingEntry } from "./models.js";

export type { Explain, Hit, Memory, Page, RememberResult, WorkingEntry } from "./models.js";

/**
 * Each route of the API (as openapi.json names it) and the method that calls it; a test fails when the
 * document has a route this table lacks.
 */
export const ROUTES: Record<string, string[]> = {
  "POST /v1/memories": ["remember", "rememberMany"],
  "GET /v1/memories": ["listPage", "list"],
  "POST /v1/memories/forget": ["forgetMatching"],
  "GET /v1/memories/{id}": ["get"],
  "PATCH /v1/memories/{id}": ["update"],
  "DELETE /v1/memories/{id}": ["forget"],
  "GET /v1/memories/{id}/history": ["history"],
  "POST /v1/memories/{id}/feedback": ["feedback"],
  "POST /v1/memories/{id}/quarantine": ["quarantine"],
  "POST /v1/memories/{id}/release": ["release"],
  "POST /v1/memories/purge": ["purge"],
  "GET /v1/audit": ["audit"],
  "GET /v1/audit/verify": ["auditVerify"],
  "POST /v1/recall": ["recall"],
  "POST /v1/search": ["search"],
  "GET /v1/count": ["count"],
  "GET /v1/stats": ["stats"],
  "GET /v1/index": ["indexStatus"],
  "POST /v1/index": ["buildIndex"],
  "DELETE /v1/index": ["dropIndex"],
  "GET /v1/working": ["workingList"],
  "POST /v1/working/promote": ["workingPromote"],
  "PUT /v1/working/{namespace}/{key}": ["workingSet"],
  "GET /v1/working/{namespace}/{key}": ["workingGet"],
  "DELETE /v1/working/{namespace}/{key}": ["workingDelete"],
  "GET /readyz": ["health"],
};

/** Routes a memory client has no use for: liveness, metrics, the document itself, MCP's endpoint. */
export const NOT_CLIENT_ROUTES = ["/healthz", "/metrics", "/openapi.json", "/mcp"];

/** A filter: `namespace` (a trailing `/` includes everything below), `kinds`, `tags_any`, `since`, ... */
export type Filter = Record<string, unknown>;

/** A memory to store: `content` and any other memory field (`cause`, `outcome`, `succeeded`, ...). */
export interface NewMemory {
  content: string;
  cause?: string | null;
  outcome?: string | null;
  succeeded?: boolean | null;
  namespace?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Options of a recall: `k`, `filter`, `mode`, a `vector` instead of a text, and the ranking options. */
export interface RecallOptions {
  k?: number;
  filter?: Filter;
  mode?: "hybrid" | "vector" | "keyword";
  vector?: number[];
  [option: string]: unknown;
}

/** Where the server is and how to talk to it. */
export interface EngramOptions {
  /** Default: `$ENGRAM_URL`, else http://127.0.0.1:8420. */
  url?: string;
  /** Default: `$ENGRAM_API_KEY`. */
  apiKey?: string;
  /** How often a 503 or 429 is retried (honouring `Retry-After`); default 3. */
  maxRetries?: number;
  /** The fetch to use; default the platform's. */
  fetch?: typeof fetch;
}

/** A refusal of the API: its HTTP `status`, the API's `code`, `message` and the `field` at fault. */
/** What an approximate index holds (`GET /v1/index`). */
export interface IndexStatus {
  lists: number;
  bits: number;
  probes: number;
  entries: number;
  memories: number;
  index_bytes: number;
  vector_bytes: number;
}

export class EngramError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(`${status} ${code}: ${field ? field + ": " : ""}${message}`);
    this.name = "EngramError";
  }
}

function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[name];
}

function segment(text: string): string {
  return encodeURIComponent(text);
}

function entryPath(namespace: string, key: string): string {
  return "/v1/working/" + namespace.split("/").map(segment).join("/") + "/" + segment(key);
}

function dropUndefined<T extends Record<string, unknown>>(values: T): T {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client of one Engram server. */
export class Engram {
  readonly url: string;
  private readonly apiKey?: string;
  private readonly maxRetries: number;
  private readonly fetcher: typeof fetch;

  constructor(options: EngramOptions = {}) {
    this.url = (options.url ?? environment("ENGRAM_URL") ?? "http://127.0.0.1:8420").replace(/\/+$/, "");
    this.apiKey = options.apiKey ?? environment("ENGRAM_API_KEY");
    this.maxRetries = options.maxRetries ?? 3;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Sends one request; retries a 503 or 429; returns the JSON answer (undefined for none). */
  async request<T>(method: string, path: string, body?: unknown, params?: Record<string, unknown>, okStatuses: number[] = []): Promise<T> {
    let url = this.url + path;
    if (params) {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.set(k, String(v));
      const text = query.toString();
      if (text) url += "?" + text;
    }
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.apiKey) headers.Authorization = "Bearer " + this.apiKey;
    for (let attempt = 0; ; attempt++) {
      const response = await this.fetcher(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let json: unknown = undefined;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const after = Number(response.headers.get("Retry-After"));
      // A wait of more than 30 s (a daily quota, say) is a final answer, not one to sleep through.
      const tooLong = response.headers.has("Retry-After") && Number.isFinite(after) && after > 30;
      if ((response.status === 503 || response.status === 429) && attempt < this.maxRetries && !tooLong) {
        const delay = Number.isFinite(after) && response.headers.has("Retry-After")
          ? Math.min(after, 30) * 1000 : Math.min(250 * 2 ** attempt, 8000) * (0.5 + Math.random() / 2);
        await sleep(delay);
        continue;
      }
      if (response.ok || okStatuses.includes(response.status)) return json as T;
      const error = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
      throw new EngramError(response.status, error?.code ?? "http", error?.message ?? text.slice(0, 200), error?.field);
    }
  }

  // Write

  /** Stores one memory; returns its id (the existing one's for an exact duplicate). */
  async remember(memory: NewMemory): Promise<string> {
    const answer = await this.request<{ ids: string[] }>("POST", "/v1/memories", dropUndefined(memory));
    return answer.ids[0];
  }

  /** Stores a batch atomically (all or none); a result per memory. */
  async rememberMany(memories: NewMemory[], options: { nearDuplicate?: number } = {}): Promise<RememberResult[]> {
    const body = dropUndefined({ memories, near_duplicate: options.nearDuplicate });
    return (await this.request<{ results: RememberResult[] }>("POST", "/v1/memories", body)).results;
  }

  /** A new version with the given fields changed (`null` clears cause, outcome, succeeded, expires_at). */
  update(id: string, changes: Record<string, unknown>): Promise<Memory> {
    return this.request("PATCH", `/v1/memories/${segment(id)}`, changes);
  }

  /** Forgets one memory for good. */
  async forget(id: string): Promise<void> {
    await this.request("DELETE", `/v1/memories/${segment(id)}`);
  }

  /** Forgets every memory matching `filter`; the API asks for `confirm: true`. Returns how many. */
  async forgetMatching(filter: Filter, options: { confirm: boolean }): Promise<number> {
    const body = { filter, confirm: options.confirm };
    return (await this.request<{ forgotten: number }>("POST", "/v1/memories/forget", body)).forgotten;
  }

  /** Reports whether a recalled memory helped. */
  async feedback(id: string, helpful: boolean): Promise<void> {
    await this.request("POST", `/v1/memories/${segment(id)}/feedback`, { helpful });
  }

  /** Keeps a memory out of recall until released (the key needs the quarantine action); how many changed. */
  async quarantine(id: string): Promise<number> {
    return (await this.request<{ changed: number }>("POST", `/v1/memories/${segment(id)}/quarantine`)).changed;
  }

  /** Releases a quarantined memory back into recall; how many changed. */
  async release(id: string): Promise<number> {
    return (await this.request<{ changed: number }>("POST", `/v1/memories/${segment(id)}/release`)).changed;
  }

  /** Removes memories and every trace of them (by ids, source, derived_from or filter); the API asks for
   * `confirm: true`. Returns the ids of every version removed. */
  async purge(target: { ids?: string[]; source?: string; derived_from?: string[]; filter?: Filter; reason?: string },
    options: { confirm: boolean }): Promise<string[]> {
    const body = dropUndefined({ ...target, confirm: options.confirm });
    return (await this.request<{ versions: string[] }>("POST", "/v1/memories/purge", body)).versions;
  }

  /** Audit entries from `since`, after entry `after`, oldest first (a whole-store key only). */
  async audit(options: { since?: string; after?: number } = {}): Promise<Record<string, unknown>[]> {
    return (await this.request<{ entries: Record<string, unknown>[] }>("GET", "/v1/audit", undefined, options)).entries;
  }

  /** Checks the audit log's hash chain: intact, entries, head, first_bad, problem. */
  auditVerify(): Promise<Record<string, unknown>> {
    return this.request("GET", "/v1/audit/verify");
  }

  // Read

  /** The memories that best answer `query` (hybrid by default), or `options.vector` (exact cosine). */
  async recall(query: string | null, options: RecallOptions = {}): Promise<Hit[]> {
    const body = dropUndefined({ k: 10, ...options, query: query ?? undefined });
    return (await this.request<{ hits: Hit[] }>("POST", "/v1/recall", body)).hits;
  }

  /** Keyword search (BM25). */
  async search(query: string, options: { k?: number; filter?: Filter } = {}): Promise<Hit[]> {
    const body = dropUndefined({ query, k: options.k ?? 10, filter: options.filter });
    return (await this.request<{ hits: Hit[] }>("POST", "/v1/search", body)).hits;
  }

  /** One memory by id. */
  get(id: string): Promise<Memory> {
    return this.request("GET", `/v1/memories/${segment(id)}`);
  }

  /** The current version, then the older ones, newest first. */
  async history(id: string): Promise<Memory[]> {
    return (await this.request<{ versions: Memory[] }>("GET", `/v1/memories/${segment(id)}/history`)).versions;
  }

  /** One page in creation order; pass `next_cursor` as `cursor` for the next. */
  listPage(options: { namespace?: string; limit?: number; cursor?: string } = {}): Promise<Page> {
    return this.request("GET", "/v1/memories", undefined, { limit: 100, ...options });
  }

  /** Every memory (in a namespace), page after page. */
  async *list(options: { namespace?: string; pageSize?: number } = {}): AsyncGenerator<Memory> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage({ namespace: options.namespace, limit: options.pageSize ?? 100, cursor });
      for (const memory of page.memories) yield memory;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** How many memories (in a namespace). */
  async count(namespace?: string): Promise<number> {
    return (await this.request<{ count: number }>("GET", "/v1/count", undefined, { namespace })).count;
  }

  /** The store's figures, as far as the key may see them. */
  stats(): Promise<Record<string, unknown>> {
    return this.request("GET", "/v1/stats");
  }

  /** What the store's approximate index holds, or null when it has none. */
  async indexStatus(): Promise<IndexStatus | null> {
    const answer = await this.request<IndexStatus | { error: unknown }>("GET", "/v1/index", undefined, undefined, [404]);
    return "error" in answer ? null : answer;
  }

  /** Builds the approximate index over every memory while writes go on (a key over every namespace). */
  buildIndex(options: { lists?: number; bits?: 4 | 8 } = {}): Promise<IndexStatus & { build_s: number }> {
    return this.request("POST", "/v1/index", dropUndefined(options));
  }

  /** Removes the approximate index; recalls scan exactly again. */
  async dropIndex(): Promise<void> {
    await this.request("DELETE", "/v1/index");
  }

  /** The readiness report (`ready`, `checks`); a failing probe is a report, not an error. */
  health(): Promise<{ ready: boolean; checks: { name: string; passed: boolean; detail: string }[] }> {
    return this.request("GET", "/readyz", undefined, undefined, [503]);
  }

  // Working memory

  /** Keeps a short-lived value under a key for `ttlSeconds`. */
  async workingSet(namespace: string, key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.request("PUT", entryPath(namespace, key), { value, ttl_seconds: ttlSeconds });
  }

  /** An unexpired entry (an `EngramError` with code notFound otherwise). */
  workingGet(namespace: string, key: string): Promise<WorkingEntry> {
    return this.request("GET", entryPath(namespace, key));
  }

  /** Deletes an entry. */
  async workingDelete(namespace: string, key: string): Promise<void> {
    await this.request("DELETE", entryPath(namespace, key));
  }

  /** Every unexpired entry of a namespace. */
  async workingList(namespace: string): Promise<WorkingEntry[]> {
    return (await this.request<{ entries: WorkingEntry[] }>("GET", "/v1/working", undefined, { namespace })).entries;
  }

  /** Turns an entry into a long-term memory; returns its id. */
  async workingPromote(namespace: string, key: string, options: { kind?: string; tags?: string[] } = {}): Promise<string> {
    const body = dropUndefined({ namespace, key, kind: options.kind, tags: options.tags });
    return (await this.request<{ id: string }>("POST", "/v1/working/promote", body)).id;
  }
}
