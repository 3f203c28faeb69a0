package import Engram
package import EngramService
import Foundation
import Hummingbird
import Synchronization

/// What every route does, written once over the library's scoped handles: a request runs through
/// `store.scoped(to: its key's scope)`, so the server holds no access rules of its own.
///
/// Blocking work (embedding, scans, SQLite) runs on the ``WorkPool``; vector recalls and query
/// embeddings are coalesced into batches (``BatchCoalescer``).
package final class EngramAPI: Sendable {
    struct RecallKey: Hashable, Sendable {
        var scope: Scope
        var k: Int
        var filter: MemoryFilter
        var minScore: Float?
    }

    let store: MemoryStore
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let pool: WorkPool
    let keys: KeyRing
    let embedders: EmbedderCache
    private let recalls: BatchCoalescer<RecallKey, [Float], [RecallHit]>
    private let queryEmbeddings: BatchCoalescer<Int, String, [Float]>
    private let readiness = Locked<(checked: ContinuousClock.Instant, report: HealthReport)?>(nil)

    package init(store: MemoryStore, configuration: ServerConfiguration, resolver: EmbedderResolver) throws {
        self.store = store
        self.configuration = configuration
        let metrics = ServerMetrics(hitThreshold: store.options.hitThreshold)
        let pool = WorkPool(workers: configuration.workers, depth: configuration.queueDepth, metrics: metrics)
        let embedders = EmbedderCache(store: store, resolver: resolver)
        self.metrics = metrics
        self.pool = pool
        self.embedders = embedders
        keys = try KeyRing(path: configuration.keysPath)
        recalls = BatchCoalescer(pool: pool, maxBatch: 128) { key, queries in
            let started = ContinuousClock.now
            let results = try store.scoped(to: key.scope).recall(
                batch: queries, k: key.k, filter: key.filter, minScore: key.minScore)
            metrics.recalled(batch: queries.count, seconds: (ContinuousClock.now - started).seconds, hits: results)
            return results
        }
        queryEmbeddings = BatchCoalescer(pool: pool, maxBatch: 64) { _, texts in
            let embedder = try embedders.embedder()
            let started = ContinuousClock.now
            let vectors = try embedder.embed(texts)
            metrics.embedded(count: texts.count, seconds: (ContinuousClock.now - started).seconds)
            return vectors
        }
    }

    package func shutdown() async throws { try await pool.shutdown() }

    // MARK: Write

    /// `POST /v1/memories`: one memory object, or `{"memories": [...], "near_duplicate": cosine}`,
    /// stored atomically (all or none) after every memory is checked.
    package func remember(_ body: JSONObject, scope: Scope) async throws -> JSONValue {
        let handle = store.scoped(to: scope)
        let now = Date()
        let items: [JSONValue]
        let isBatch = body.fields["memories"] != nil
        var nearDuplicateThreshold: Float?
        if isBatch {
            try body.rejectUnknown(["memories", "near_duplicate"])
            guard case .array(let list)? = body["memories"] else {
                throw EngramError.invalid("memories", "must be an array of memory objects")
            }
            items = list
            if let t = try body.number("near_duplicate") {
                guard (-1...1).contains(t) else { throw EngramError.invalid("near_duplicate", "must be a cosine from -1 to 1") }
                nearDuplicateThreshold = Float(t)
            }
        } else {
            items = [.object(body.fields)]
        }
        guard !items.isEmpty else { throw EngramError.invalid("memories", "must hold at least one memory") }
        guard items.count <= configuration.maxBatch else {
            throw APIError(
                status: .contentTooLarge, code: "tooLarge",
                message: "a batch holds at most \(configuration.maxBatch) memories", field: "memories")
        }
        var memories = try items.enumerated().map { i, item in
            let field = isBatch ? "memories[\(i)]" : nil
            return try Self.naming(field) {
                let memory = try MemoryJSON.newMemory(from: item, now: now)
                try handle.validateFields(memory)
                return memory
            }
        }
        let unembedded = memories.indices.filter { memories[$0].embedding.isEmpty }
        if !unembedded.isEmpty {
            let texts = unembedded.map { EmbeddingText.of(memories[$0]) }
            let vectors = try await pool.run { [embedders, metrics] in
                let embedder = try embedders.embedder()
                let started = ContinuousClock.now
                let vectors = try embedder.embed(texts)
                metrics.embedded(count: texts.count, seconds: (ContinuousClock.now - started).seconds)
                return vectors
            }
            for (i, vector) in zip(unembedded, vectors) { memories[i].embedding = vector }
        }
        let stored = memories
        let nearDuplicate = nearDuplicateThreshold
        let results = try await pool.run { try handle.remember(stored, nearDuplicates: nearDuplicate) }
        return .object([
            "ids": .array(results.map { .string($0.id.description) }),
            "results": .array(results.map(MemoryJSON.object)),
        ])
    }

    /// `PATCH /v1/memories/{id}`: a new version with the given fields changed; a changed text is
    /// embedded again unless the body brings an `embedding`.
    package func update(_ id: MemoryID, _ body: JSONObject, scope: Scope) async throws -> JSONValue {
        let handle = store.scoped(to: scope)
        var changes = try MemoryJSON.changes(from: body)
        let textChanged = changes.content != nil || changes.cause != nil || changes.outcome != nil
        if textChanged && changes.embedding == nil {
            let old = try await pool.run { try handle.memory(id) }
            try handle.requireWritable(namespace: old.namespace)
            let text = EmbeddingText.compose(
                content: changes.content ?? old.content, cause: changes.cause ?? old.cause, outcome: changes.outcome ?? old.outcome)
            changes.embedding = try await embedQuery(text)
        }
        let final = changes
        let memory = try await pool.run { try handle.update(id, with: final) }
        return MemoryJSON.object(memory)
    }

    package func forget(_ id: MemoryID, scope: Scope) async throws {
        try await pool.run { try self.store.scoped(to: scope).forget(id) }
    }

    /// `POST /v1/memories/forget`: every memory matching a filter; needs `"confirm": true`.
    package func forget(matching body: JSONObject, scope: Scope) async throws -> JSONValue {
        try body.rejectUnknown(["filter", "confirm"])
        guard try body.bool("confirm") == true else {
            throw EngramError.invalid("confirm", "must be true: forgetting by filter cannot be undone")
        }
        guard body["filter"] != nil else { throw EngramError.invalid("filter", "is required (use {} to mean every memory in scope)") }
        let filter = try FilterParsing.filter(json: body["filter"], now: Date())
        let n = try await pool.run { try self.store.scoped(to: scope).forget(matching: filter) }
        return .object(["forgotten": .number(Double(n))])
    }

    package func feedback(_ id: MemoryID, _ body: JSONObject, scope: Scope) async throws {
        try body.rejectUnknown(["helpful"])
        guard let helpful = try body.bool("helpful") else { throw EngramError.invalid("helpful", "is required: true or false") }
        try await pool.run { try self.store.scoped(to: scope).feedback(id, helpful: helpful) }
    }

    // MARK: Read

    /// `POST /v1/recall`: `{"query": text}` (hybrid by default) or `{"vector": [...]}` (exact cosine).
    package func recall(_ body: JSONObject, scope: Scope) async throws -> JSONValue {
        try body.rejectUnknown([
            "query", "vector", "k", "filter", "min_score", "mode", "fusion", "candidates", "signals", "neighbours",
        ])
        let k = try body.int("k") ?? 10
        let filter = try FilterParsing.filter(json: body["filter"], now: Date())
        let minScore = try body.number("min_score").map(Float.init)
        let handle = store.scoped(to: scope)
        try scope.require(.read, "read")
        let hits: [RecallHit]
        if let vectorJSON = body["vector"] {
            guard body["query"] == nil else { throw EngramError.invalid("query", "give a query or a vector, not both") }
            for name in ["mode", "fusion", "candidates", "signals", "neighbours"] where body[name] != nil {
                throw EngramError.invalid(name, "applies to a text query, not a vector")
            }
            let vector = try MemoryJSON.vector(vectorJSON, field: "vector")
            guard vector.count == store.dimension else {
                throw EngramError(.dimensionMismatch, "has \(vector.count) dimensions; the store's vectors have \(store.dimension)", field: "vector")
            }
            guard (1...Limits.maxK).contains(k) else { throw EngramError.invalid("k", "must be from 1 to \(Limits.maxK)") }
            if let minScore, !minScore.isFinite { throw EngramError.invalid("min_score", "must be a number") }
            hits = try await recalls.submit(vector, key: RecallKey(scope: scope, k: k, filter: filter, minScore: minScore))
        } else {
            guard let query = try body.string("query") else { throw EngramError.invalid("query", "give a query text or a vector") }
            let options = try RankingParsing.options(body)
            try Limits.validateText(query, field: "query", required: true)
            let embedder: (any Embedder)? =
                options.mode == .keyword ? nil : PrecomputedEmbedder(identifier: store.embedderID, vector: try await embedQuery(query))
            hits = try await pool.run { [metrics] in
                let started = ContinuousClock.now
                let hits = try handle.recall(text: query, embedder: embedder, k: k, filter: filter, minScore: minScore, options: options)
                metrics.recalled(batch: 1, seconds: (ContinuousClock.now - started).seconds, hits: [hits])
                return hits
            }
        }
        return .object(["hits": .array(hits.map(MemoryJSON.object))])
    }

    /// `POST /v1/search`: keyword search (BM25) with a filter.
    package func search(_ body: JSONObject, scope: Scope) async throws -> JSONValue {
        try body.rejectUnknown(["query", "k", "filter"])
        guard let query = try body.string("query") else { throw EngramError.invalid("query", "is required") }
        let k = try body.int("k") ?? 10
        let filter = try FilterParsing.filter(json: body["filter"], now: Date())
        let hits = try await pool.run { try self.store.scoped(to: scope).search(text: query, k: k, filter: filter) }
        return .object(["hits": .array(hits.map { MemoryJSON.object($0.memory, score: Float($0.score)) })])
    }

    package func memory(_ id: MemoryID, scope: Scope) async throws -> JSONValue {
        let memory = try await pool.run { try self.store.scoped(to: scope).memory(id) }
        return MemoryJSON.object(memory)
    }

    package func history(_ id: MemoryID, scope: Scope) async throws -> JSONValue {
        let versions = try await pool.run { () throws -> [Memory] in
            let handle = self.store.scoped(to: scope)
            let current = try handle.memory(id)
            return [current] + (try handle.history(of: id))
        }
        return .object(["versions": .array(versions.map { MemoryJSON.object($0) })])
    }

    /// `GET /v1/memories?namespace=&limit=&cursor=`: a page in id (creation) order.
    package func list(namespace: String?, limit: Int, cursor: MemoryID?, scope: Scope) async throws -> JSONValue {
        let filter = MemoryFilter(namespace: namespace.map(FilterParsing.namespace))
        let page = try await pool.run { try self.store.scoped(to: scope).list(filter: filter, after: cursor, limit: limit) }
        return .object([
            "memories": .array(page.memories.map { MemoryJSON.object($0) }),
            "next_cursor": page.nextCursor.map { .string($0.description) } ?? .null,
        ])
    }

    package func count(namespace: String?, scope: Scope) async throws -> JSONValue {
        let filter = MemoryFilter(namespace: namespace.map(FilterParsing.namespace))
        let n = try await pool.run { try self.store.scoped(to: scope).count(matching: filter) }
        return .object(["count": .number(Double(n))])
    }

    /// `GET /v1/stats`: the whole store's figures for a key over every namespace; for a key limited to
    /// some namespaces only the memories inside them (by namespace), nothing about the rest.
    package func stats(scope: Scope) async throws -> JSONValue {
        try scope.require(.read, "read")
        let stats = try await pool.run { try self.store.stats() }
        if scope.isUnrestrictedNamespaces {
            return try JSONValue(parsing: try StatsJSON.data(stats, pretty: false), field: "stats")
        }
        let visible = stats.byNamespace.filter { scope.contains(namespace: $0.key) }
        return .object([
            "memories": .number(Double(visible.values.reduce(0, +))),
            "by_namespace": .object(visible.mapValues { .number(Double($0)) }),
            "dimension": .number(Double(stats.dimension)), "embedder": .string(stats.embedder),
        ])
    }

    // MARK: Working memory

    package func workingSet(namespace: String, key: String, _ body: JSONObject, scope: Scope) async throws {
        try body.rejectUnknown(["value", "ttl_seconds"])
        guard let value = body.fields["value"] else { throw EngramError.invalid("value", "is required") }
        guard let ttl = try body.number("ttl_seconds") else { throw EngramError.invalid("ttl_seconds", "is required") }
        try await pool.run { try self.store.scoped(to: scope).working.set(key, value, namespace: namespace, ttl: ttl) }
    }

    package func workingGet(namespace: String, key: String, scope: Scope) async throws -> JSONValue {
        guard let entry = try await pool.run({ try self.store.scoped(to: scope).working.get(key, namespace: namespace) }) else {
            throw EngramError(.notFound, "no working-memory entry with this key", field: "key")
        }
        return Self.json(entry)
    }

    package func workingDelete(namespace: String, key: String, scope: Scope) async throws {
        guard try await pool.run({ try self.store.scoped(to: scope).working.delete(key, namespace: namespace) }) else {
            throw EngramError(.notFound, "no working-memory entry with this key", field: "key")
        }
    }

    package func workingList(namespace: String, scope: Scope) async throws -> JSONValue {
        let entries = try await pool.run { try self.store.scoped(to: scope).working.list(namespace: namespace) }
        return .object(["entries": .array(entries.map(Self.json))])
    }

    /// `POST /v1/working/promote`: the entry becomes a long-term memory (its value embedded).
    package func workingPromote(_ body: JSONObject, scope: Scope) async throws -> JSONValue {
        try body.rejectUnknown(["namespace", "key", "kind", "tags"])
        guard let namespace = try body.string("namespace") else { throw EngramError.invalid("namespace", "is required") }
        guard let key = try body.string("key") else { throw EngramError.invalid("key", "is required") }
        let kind = try body.string("kind").map(MemoryKind.init(rawValue:)) ?? .note
        let tags = try body.strings("tags") ?? []
        let working = store.scoped(to: scope).working
        guard let entry = try await pool.run({ try working.get(key, namespace: namespace) }) else {
            throw EngramError(.notFound, "no working-memory entry with this key", field: "key")
        }
        try store.scoped(to: scope).requireWritable(namespace: namespace)
        let vector = try await embedQuery(entry.value.stringValue ?? entry.value.jsonText)
        let id = try await pool.run { try working.promote(key, namespace: namespace, embedding: vector, kind: kind, tags: tags) }
        return .object(["id": .string(id.description)])
    }

    static func json(_ entry: WorkingEntry) -> JSONValue {
        .object([
            "namespace": .string(entry.namespace), "key": .string(entry.key), "value": entry.value,
            "created_at": .string(TimeParsing.format(entry.createdAt)),
            "expires_at": .string(TimeParsing.format(entry.expiresAt)),
        ])
    }

    // MARK: Operations

    /// `GET /readyz`: the store is open and its semantic probe passes; the report is reused for 10 s
    /// so that a busy prober does not write a probe memory per call.
    func ready() async throws -> Response {
        let cached = readiness.withLock { state -> HealthReport? in
            guard let state, ContinuousClock.now - state.checked < .seconds(10) else { return nil }
            return state.report
        }
        let report: HealthReport
        if let cached {
            report = cached
        } else {
            report = try await pool.run { try self.store.health() }
            readiness.withLock { $0 = (.now, report) }
        }
        let checks: [JSONValue] = report.checks.map {
            .object(["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)])
        }
        return JSONResponse.make(
            .object(["ready": .bool(report.healthy), "checks": .array(checks)]),
            status: report.healthy ? .ok : .serviceUnavailable)
    }

    func metricsText() async throws -> Response {
        let (stats, working) = try await pool.run { (try self.store.stats(), try self.store.working.count()) }
        metrics.storeGauges(stats, workingItems: working, scanned: store.vectorsScanned)
        metrics.queueDepth(pool.queued)
        return JSONResponse.make(text: metrics.exposition(), contentType: "text/plain; version=0.0.4")
    }

    // MARK: Helpers

    /// One query text's embedding, batched with concurrent ones.
    func embedQuery(_ text: String) async throws -> [Float] {
        try await queryEmbeddings.submit(text, key: 0)
    }

    /// Runs `body`, prefixing the field of any error it throws with `prefix` (`memories[3].content`).
    static func naming<T>(_ prefix: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngramError where prefix != nil {
            let field = error.field.map { "\(prefix ?? "").\($0)" } ?? prefix
            throw EngramError(error.code, error.message, field: field)
        }
    }
}
