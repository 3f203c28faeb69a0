package import Engram
package import Foundation
import Synchronization

/// Every operation of Engram's front ends, written once and free of any transport: the CLI, `engram
/// serve` and `engram mcp` each turn their input into a typed request (`Requests.swift`), call this,
/// and render the result. A call runs through `store.scoped(to: scope)`, so access rules live in the
/// library alone; a scope over every namespace and action is the whole store.
///
/// Blocking work (embedding, scans, SQLite) runs on the ``WorkPool``, never on the caller's thread;
/// vector recalls and query embeddings are coalesced into batches (``BatchCoalescer``). Errors are
/// ``EngramError`` (bad input, refusals) or the service's own; ``ServiceError/init(_:)`` gives any of
/// them the one code each front end maps.
package final class MemoryService: Sendable {
    /// How the service runs: its worker threads, admission limit and largest batch.
    package struct Limits: Sendable {
        /// Worker threads for embedding, scanning and SQLite.
        package var workers = 2
        /// Requests waiting for or holding a worker before new ones are refused (`overloaded`).
        package var queueDepth = 256
        /// Most memories in one remember request (`tooLarge` beyond).
        package var maxBatch = Engram.Limits.maxBatch

        package init(workers: Int = 2, queueDepth: Int = 256, maxBatch: Int = Engram.Limits.maxBatch) {
            self.workers = workers
            self.queueDepth = queueDepth
            self.maxBatch = maxBatch
        }
    }

    struct RecallKey: Hashable, Sendable {
        var scope: Scope
        var k: Int
        var filter: MemoryFilter
        var minScore: Float?
        var exact = false
    }

    package let store: MemoryStore
    /// On a cluster node: the system of record writes go to and the shards recalls gather from; `store`
    /// is then this node's replica of its shards.
    package let cluster: (any ClusterBackend)?
    package let limits: Limits
    let metrics: any ServiceMetrics
    let pool: WorkPool
    let embedders: EmbedderCache
    private let recalls: BatchCoalescer<RecallKey, [Float], [RecallHit]>
    private let queryEmbeddings: BatchCoalescer<Int, String, [Float]>
    private let readiness = Locked<(checked: ContinuousClock.Instant, report: HealthReport)?>(nil)

    package init(
        store: MemoryStore, limits: Limits = Limits(), resolver: EmbedderResolver,
        metrics: any ServiceMetrics = NoServiceMetrics(), cluster: (any ClusterBackend)? = nil
    ) {
        self.store = store
        self.cluster = cluster
        self.limits = limits
        self.metrics = metrics
        let pool = WorkPool(workers: limits.workers, depth: limits.queueDepth, metrics: metrics)
        let embedders = EmbedderCache(store: store, resolver: resolver)
        self.pool = pool
        self.embedders = embedders
        recalls = BatchCoalescer(pool: pool, maxBatch: 128) { key, queries in
            let started = ContinuousClock.now
            let results = try store.scoped(to: key.scope).recall(
                batch: queries, k: key.k, filter: key.filter, minScore: key.minScore, exact: key.exact)
            metrics.recalled(
                batch: queries.count, seconds: (ContinuousClock.now - started).seconds, hits: results)
            return results
        }
        queryEmbeddings = BatchCoalescer(pool: pool, maxBatch: 64) { _, texts in
            try Self.embed(texts, with: embedders, metrics: metrics)
        }
    }

    /// Stops the worker threads once no request is in flight.
    package func shutdown() async throws { try await pool.shutdown() }

    // MARK: Write

    /// Checks one memory's fields and the scope's right to write it, before anything is embedded or
    /// stored (an import checks every line first).
    package func check(_ memory: NewMemory, scope: Scope) throws {
        let handle = store.scoped(to: scope)
        if memory.embedding.isEmpty {
            try handle.validateFields(memory)
        } else {
            try handle.validate(memory)
        }
    }

    /// Fails, with the error naming why, when the store has no embedder Engram can run (a memory
    /// without an embedding cannot be stored then); loads the embedder otherwise.
    package func requireTextEmbedder() throws {
        _ = try embedders.embedder()
    }

    /// Stores the memories atomically after checking every one (errors name `memories[i].field` in a
    /// batch of more than one); those without an embedding are embedded together first. Exact
    /// duplicates of a namespace's memories are not stored twice.
    package func remember(_ request: RememberRequest, scope: Scope) async throws -> [RememberResult] {
        guard !request.memories.isEmpty else {
            throw EngramError.invalid("memories", "must hold at least one memory")
        }
        guard request.memories.count <= limits.maxBatch else {
            throw ServiceError(
                .tooLarge, "a batch holds at most \(limits.maxBatch) memories", field: "memories")
        }
        if let t = request.nearDuplicate, !(t.isFinite && (-1...1).contains(t)) {
            throw EngramError.invalid("near_duplicate", "must be a cosine from -1 to 1")
        }
        if cluster != nil, request.nearDuplicate != nil {
            throw Self.notOnCluster("near_duplicate", "near-duplicate detection")
        }
        if request.merge {
            guard request.nearDuplicate != nil else {
                throw EngramError.invalid("merge", "needs a near-duplicate threshold")
            }
            guard request.memories.count == 1 else { throw EngramError.invalid("merge", "takes one memory") }
        }
        let handle = store.scoped(to: scope)
        var memories = request.memories
        for (i, memory) in memories.enumerated() {
            try Self.naming(request.isBatch ? "memories[\(i)]" : nil) { try handle.validateFields(memory) }
        }
        let unembedded = memories.indices.filter { memories[$0].embedding.isEmpty }
        if !unembedded.isEmpty {
            let texts = unembedded.map { EmbeddingText.of(memories[$0]) }
            let vectors = try await pool.run { [embedders, metrics] in
                try Self.embed(texts, with: embedders, metrics: metrics)
            }
            for (i, vector) in zip(unembedded, vectors) { memories[i].embedding = vector }
        }
        let stored = memories
        if let cluster {
            // What the memories derive from caps their trust, as on one store.
            let sources = Array(Set(stored.flatMap(\.derivedFrom)))
            let levels = sources.isEmpty ? [:] : try await cluster.trust(of: sources, scope: scope)
            let drafts = try handle.drafts(stored, sourceTrust: levels)
            return try Self.recording(await cluster.remember(drafts, scope: scope))
        }
        return try await pool.run {
            if request.merge, let threshold = request.nearDuplicate {
                return [try handle.remember(stored[0], mergingAbove: threshold)]
            }
            return try handle.remember(stored, nearDuplicates: request.nearDuplicate)
        }
    }

    /// A new version with the given fields changed; a changed text is embedded again unless the
    /// request brings an embedding.
    package func update(_ request: UpdateRequest, scope: Scope) async throws -> UpdateResult {
        let handle = store.scoped(to: scope)
        var changes = request.changes
        var keptEmbedding = false
        let textChanged = changes.content != nil || changes.cause != nil || changes.outcome != nil
        if textChanged && changes.embedding == nil {
            let old: Memory
            if let cluster {
                old = try await cluster.memory(request.id, scope: scope)
            } else {
                old = try await pool.run { try handle.memory(request.id) }
            }
            try handle.requireWritable(namespace: old.namespace)  // before the cost of embedding
            if request.keepsEmbeddingWithoutEmbedder, try !embedders.hasBuiltInEmbedder() {
                keptEmbedding = true
            } else {
                let text = EmbeddingText.compose(
                    content: changes.content ?? old.content, cause: changes.cause ?? old.cause,
                    outcome: changes.outcome ?? old.outcome)
                changes.embedding = try await embedQuery(text)
            }
        }
        let final = changes
        if let cluster {
            let written = try await cluster.update(request.id, scope: scope) {
                try handle.draftVersion(of: $0, with: final)
            }
            return UpdateResult(memory: Self.recording(written), keptEmbedding: keptEmbedding)
        }
        let memory = try await pool.run { try handle.update(request.id, with: final) }
        return UpdateResult(memory: memory, keptEmbedding: keptEmbedding)
    }

    /// Forgets one memory.
    package func forget(_ id: MemoryID, scope: Scope) async throws {
        if let cluster {
            guard try Self.recording(await cluster.forget([id], scope: scope)) == 1 else {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
            return
        }
        try await pool.run { try self.store.scoped(to: scope).forget(id) }
    }

    /// Forgets the given memories that lie inside the scope (others are left alone, as unknown ids
    /// are); returns how many were forgotten.
    package func forget(ids: [MemoryID], scope: Scope) async throws -> Int {
        if let cluster { return try Self.recording(await cluster.forget(ids, scope: scope)) }
        return try await pool.run { try self.store.scoped(to: scope).forget(ids) }
    }

    /// Quarantines (or releases) the memories among `ids` inside the scope; returns how many changed.
    package func setQuarantined(_ ids: [MemoryID], _ quarantined: Bool, scope: Scope) async throws -> Int {
        if let cluster {
            return try Self.recording(await cluster.setQuarantined(ids, quarantined, scope: scope))
        }
        return try await pool.run {
            let handle = self.store.scoped(to: scope)
            return try quarantined ? handle.quarantine(ids) : handle.release(ids)
        }
    }

    /// Purges memories inside the scope so that nothing of them remains in the store's files.
    package func purge(_ target: PurgeTarget, reason: String, scope: Scope) async throws -> PurgeResult {
        try refuseOnCluster("purge")
        return try await pool.run {
            let handle = self.store.scoped(to: scope)
            return switch target {
            case .ids(let ids): try handle.purge(ids, reason: reason)
            case .source(let source): try handle.purge(source: source, reason: reason)
            case .derivedFrom(let roots): try handle.purge(derivedFrom: roots, reason: reason)
            case .filter(let filter): try handle.purge(matching: filter, reason: reason)
            }
        }
    }

    /// Ends the validity of the memories among `ids` inside the scope; returns how many changed.
    package func endValidity(_ ids: [MemoryID], at time: Date?, scope: Scope) async throws -> Int {
        try refuseOnCluster("ending validity")
        return try await pool.run { try self.store.scoped(to: scope).endValidity(ids, at: time) }
    }

    /// Tombstones of purged memories inside the scope.
    package func tombstones(scope: Scope) async throws -> [Tombstone] {
        try refuseOnCluster("tombstones")
        return try await pool.run { try self.store.scoped(to: scope).tombstones() }
    }

    /// Checks the audit log's chain (the whole store's scope only).
    package func verifyAudit(scope: Scope) async throws -> AuditVerification {
        try await pool.run { try self.store.scoped(to: scope).verifyAudit() }
    }

    /// Audit entries from `since`, after entry `after`, at most `limit` (the whole store's scope only).
    package func auditEntries(since: Date?, after: Int, limit: Int, scope: Scope) async throws -> [AuditEntry]
    {
        try await pool.run {
            try self.store.scoped(to: scope).auditEntries(since: since, after: after, limit: limit)
        }
    }

    /// Records requests made with API keys since the last call (key name -> count), one entry each.
    package func recordKeyUse(_ uses: [String: Int], over seconds: Double) async throws {
        guard !uses.isEmpty else { return }
        try await pool.run {
            for (key, count) in uses.sorted(by: { $0.key < $1.key }) {
                try self.store.scoped(to: Scope.unrestricted.acting(as: key)).recordAudit(
                    action: "key-use", detail: "requests=\(count);seconds=\(Int(seconds.rounded()))")
            }
        }
    }

    /// Forgets every memory matching `filter` within the scope; returns how many.
    package func forget(matching filter: MemoryFilter, scope: Scope) async throws -> Int {
        try refuseOnCluster("forgetting by filter")
        return try await pool.run { try self.store.scoped(to: scope).forget(matching: filter) }
    }

    /// Records whether a recalled memory helped.
    package func feedback(_ id: MemoryID, helpful: Bool, scope: Scope) async throws {
        try refuseOnCluster("feedback")
        return try await pool.run { try self.store.scoped(to: scope).feedback(id, helpful: helpful) }
    }

    // MARK: Read

    /// The best memories for a text (hybrid by default) or a vector (exact cosine, coalesced with
    /// concurrent vector recalls of the same scope, k and filter).
    package func recall(_ request: RecallRequest, scope: Scope) async throws -> [RecallHit] {
        try await recallExplained(request, scope: scope).hits
    }

    /// ``recall(_:scope:)`` with how the vectors were searched, when the request asks (`explainsPlan`)
    /// and the recall has a vector side. A vector recall that asks is served alone, not coalesced.
    package func recallExplained(_ request: RecallRequest, scope: Scope) async throws -> (
        hits: [RecallHit], plan: RecallPlan?
    ) {
        guard let cluster else { return try await localRecall(request, scope: scope) }
        try scope.require(.read, "read")
        if request.forwarded?.isShare == true {  // another node's gather: this node's share only
            try await cluster.awaitApplied(request.token)
            return try await localRecall(request, scope: scope)
        }
        var request = request
        if case .text(let text, let options) = request.query, options.mode != .keyword {
            try Engram.Limits.validateText(text, field: "query", required: true)
            request.queryEmbedding = try await embedQuery(text)
        }
        return try await cluster.recall(request, scope: scope) {
            try await self.localRecall($0, scope: scope)
        }
    }

    /// A recall over this service's store.
    private func localRecall(_ request: RecallRequest, scope: Scope) async throws -> (
        hits: [RecallHit], plan: RecallPlan?
    ) {
        let handle = store.scoped(to: scope)
        try scope.require(.read, "read")
        switch request.query {
        case .vector(let vector):
            guard vector.count == store.dimension else {
                throw EngramError(
                    .dimensionMismatch,
                    "has \(vector.count) dimensions; the store's vectors have \(store.dimension)",
                    field: request.vectorField)
            }
            guard (1...Engram.Limits.maxK).contains(request.k) else {
                throw EngramError.invalid("k", "must be from 1 to \(Engram.Limits.maxK)")
            }
            if let minScore = request.minScore, !minScore.isFinite {
                throw EngramError.invalid("min_score", "must be a number")
            }
            if request.explainsPlan {
                return try await pool.run { [metrics] in
                    let started = ContinuousClock.now
                    let (hits, plan) = try handle.recallExplained(
                        vector, k: request.k, filter: request.filter, minScore: request.minScore,
                        exact: request.exact)
                    metrics.recalled(batch: 1, seconds: (ContinuousClock.now - started).seconds, hits: [hits])
                    return (hits, plan)
                }
            }
            let key = RecallKey(
                scope: scope, k: request.k, filter: request.filter, minScore: request.minScore,
                exact: request.exact)
            return (try await recalls.submit(vector, key: key), nil)
        case .text(let text, let options):
            try Engram.Limits.validateText(text, field: "query", required: true)
            // A cluster's gathering node embedded the text already; its vector came with the request.
            var vector = request.queryEmbedding
            if options.mode != .keyword, vector == nil { vector = try await embedQuery(text) }
            let embedder: (any Embedder)? = vector.map {
                PrecomputedEmbedder(identifier: store.embedderID, vector: $0)
            }
            return try await pool.run { [metrics] in
                let started = ContinuousClock.now
                var options = options
                options.exact = options.exact || request.exact
                let (hits, plan) = try handle.recallExplained(
                    text: text, embedder: embedder, k: request.k, filter: request.filter,
                    minScore: request.minScore, options: options)
                metrics.recalled(batch: 1, seconds: (ContinuousClock.now - started).seconds, hits: [hits])
                return (hits, request.explainsPlan ? plan : nil)
            }
        }
    }

    /// Keyword search (BM25) with a filter.
    package func search(_ request: SearchRequest, scope: Scope) async throws -> [KeywordHit] {
        try refuseOnCluster("keyword search")
        return try await pool.run {
            try self.store.scoped(to: scope).search(text: request.text, k: request.k, filter: request.filter)
        }
    }

    /// One memory by id.
    package func memory(_ id: MemoryID, scope: Scope) async throws -> Memory {
        if let cluster { return try await cluster.memory(id, scope: scope) }
        return try await pool.run { try self.store.scoped(to: scope).memory(id) }
    }

    /// Stored embeddings of the memories inside the scope (export, `show --with-embedding`).
    package func embeddings(of ids: [MemoryID], scope: Scope) async throws -> [MemoryID: [Float]] {
        try refuseOnCluster("export")
        return try await pool.run { try self.store.scoped(to: scope).embeddings(of: ids) }
    }

    /// A memory's current version followed by the older versions it replaced, newest first.
    package func history(_ id: MemoryID, scope: Scope) async throws -> [Memory] {
        try refuseOnCluster("history")
        return try await pool.run {
            let handle = self.store.scoped(to: scope)
            let current = try handle.memory(id)
            return [current] + (try handle.history(of: id))
        }
    }

    /// A page in id (creation) order.
    package func list(_ request: ListRequest, scope: Scope) async throws -> MemoryPage {
        try refuseOnCluster("listing")
        return try await pool.run {
            try self.store.scoped(to: scope).list(
                filter: request.filter, after: request.cursor, limit: request.limit)
        }
    }

    /// How many memories match `filter` within the scope.
    package func count(matching filter: MemoryFilter, scope: Scope) async throws -> Int {
        try refuseOnCluster("counting")
        return try await pool.run { try self.store.scoped(to: scope).count(matching: filter) }
    }

    /// The store's figures as the scope may see them.
    package func stats(scope: Scope) async throws -> StatsResult {
        try scope.require(.read, "read")
        let stats = try await pool.run { try self.store.stats() }
        if scope.isUnrestrictedNamespaces { return .whole(stats) }
        let visible = stats.byNamespace.filter { scope.contains(namespace: $0.key) }
        return .visible(
            memories: visible.values.reduce(0, +), byNamespace: visible, dimension: stats.dimension,
            embedder: stats.embedder)
    }

    // MARK: The approximate index

    /// What the store's approximate index holds, or nil when it has none.
    package func indexStatus(scope: Scope) async throws -> IndexStatus? {
        try refuseOnCluster("the approximate index")
        return try await pool.run { try self.store.scoped(to: scope).indexStatus() }
    }

    /// Builds the approximate index (``MemoryStore/buildIndex(lists:bits:threads:progress:)``: from a snapshot,
    /// while writes go on) and writes it beside the vectors; needs a scope over the whole store. Returns
    /// what it holds and the seconds the build took. One pool thread is busy for the build's length.
    package func buildIndex(lists: Int?, bits: Int, scope: Scope) async throws -> (
        IndexStatus, seconds: Double
    ) {
        try refuseOnCluster("the approximate index")
        return try await pool.run {
            let started = ContinuousClock.now
            let status = try self.store.scoped(to: scope).buildIndex(lists: lists, bits: bits)
            return (status, (ContinuousClock.now - started).seconds)
        }
    }

    /// Removes the approximate index; recalls scan exactly again. Needs a scope over the whole store.
    package func dropIndex(scope: Scope) async throws {
        try refuseOnCluster("the approximate index")
        try await pool.run { try self.store.scoped(to: scope).dropIndex() }
    }

    // MARK: Working memory

    /// Writes a working-memory entry that expires after its TTL.
    package func workingSet(_ request: WorkingSetRequest, scope: Scope) async throws {
        try refuseOnCluster("working memory")
        return try await pool.run {
            try self.store.scoped(to: scope).working.set(
                request.key, request.value, namespace: request.namespace, ttl: request.ttl)
        }
    }

    /// An unexpired entry.
    /// - Throws: `notFound` (field `key`) when it is missing or expired.
    package func workingGet(namespace: String, key: String, scope: Scope) async throws -> WorkingEntry {
        try refuseOnCluster("working memory")
        let entry = try await pool.run {
            try self.store.scoped(to: scope).working.get(key, namespace: namespace)
        }
        guard let entry else { throw Self.noEntry }
        return entry
    }

    /// Deletes an entry.
    /// - Throws: `notFound` (field `key`) when there was none.
    package func workingDelete(namespace: String, key: String, scope: Scope) async throws {
        try refuseOnCluster("working memory")
        let deleted = try await pool.run {
            try self.store.scoped(to: scope).working.delete(key, namespace: namespace)
        }
        guard deleted else { throw Self.noEntry }
    }

    /// Every unexpired entry of a namespace.
    package func workingList(namespace: String, scope: Scope) async throws -> [WorkingEntry] {
        try refuseOnCluster("working memory")
        return try await pool.run { try self.store.scoped(to: scope).working.list(namespace: namespace) }
    }

    /// Turns an entry into a long-term memory (its value embedded); returns the memory's id.
    package func workingPromote(_ request: PromoteRequest, scope: Scope) async throws -> MemoryID {
        try refuseOnCluster("working memory")
        let handle = store.scoped(to: scope)
        let working = handle.working
        let entry = try await pool.run { try working.get(request.key, namespace: request.namespace) }
        guard let entry else { throw Self.noEntry }
        try handle.requireWritable(namespace: request.namespace)
        let vector = try await embedQuery(entry.value.stringValue ?? entry.value.jsonText)
        return try await pool.run {
            try working.promote(
                request.key, namespace: request.namespace, embedding: vector, kind: request.kind,
                tags: request.tags)
        }
    }

    private static let noEntry = EngramError(.notFound, "no working-memory entry with this key", field: "key")

    // MARK: Operations

    /// The store's file checks and semantic probe. With `maxAge`, a report at most that old is reused,
    /// so that a busy prober does not write a probe memory per call.
    package func health(maxAge: Duration = .zero) async throws -> HealthReport {
        let cached = readiness.withLock { state -> HealthReport? in
            guard let state, ContinuousClock.now - state.checked < maxAge else { return nil }
            return state.report
        }
        var report: HealthReport
        if let cached {
            report = cached
        } else {
            report = try await pool.run { try self.store.health() }
            readiness.withLock { $0 = (.now, report) }
        }
        if let figures = cluster?.figures {  // never cached: a node falls behind between probes
            report.checks.append(.init("replication", passed: figures.ready, detail: figures.detail))
        }
        return report
    }

    /// What a metrics scrape reads: the store's figures, working-memory entries, vector rows scanned
    /// so far and the requests in the queue.
    package func gauges() async throws -> (stats: StoreStats, workingItems: Int, scanned: Int, queued: Int) {
        let (stats, working) = try await pool.run { (try self.store.stats(), try self.store.working.count()) }
        return (stats, working, store.vectorsScanned, pool.queued)
    }

    // MARK: Helpers

    /// A cluster write's value, its token kept for the front end's answer (``WriteToken``).
    private static func recording<T>(_ written: Written<T>) -> T {
        WriteToken.record(written.token)
        return written.value
    }

    private func refuseOnCluster(_ operation: String) throws {
        guard cluster != nil else { return }
        throw Self.notOnCluster(nil, operation)
    }

    private static func notOnCluster(_ field: String?, _ operation: String) -> EngramError {
        EngramError(
            .notOnCluster, "\(operation) is not served by a cluster node yet; use a single store's server",
            field: field)
    }

    /// One query text's embedding, batched with concurrent ones.
    func embedQuery(_ text: String) async throws -> [Float] {
        try await queryEmbeddings.submit(text, key: 0)
    }

    private static func embed(
        _ texts: [String], with embedders: EmbedderCache, metrics: any ServiceMetrics
    ) throws -> [[Float]] {
        let embedder = try embedders.embedder()
        let started = ContinuousClock.now
        let vectors = try embedder.embed(texts)
        metrics.embedded(count: texts.count, seconds: (ContinuousClock.now - started).seconds)
        return vectors
    }

    /// Runs `body`, prefixing the field of any error it throws with `prefix` (`memories[3].content`).
    package static func naming<T>(_ prefix: String?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngramError where prefix != nil {
            let field = error.field.map { "\(prefix ?? "").\($0)" } ?? prefix
            throw EngramError(error.code, error.message, field: field)
        }
    }
}
