import Foundation
import Synchronization

extension MemoryStore {
    /// The memories most similar to a query vector, best first.
    ///
    /// Exact search unless the store has an approximate index (``buildIndex(lists:bits:threads:progress:)``) and the
    /// filter admits many memories: the result then equals a brute-force cosine scan (up to float rounding
    /// among near-ties). The filter is applied before scoring (inside the index scan on the index path), so
    /// `k` hits come back whenever `k` memories match. ``recallExplained(_:k:filter:minScore:embedder:exact:)``
    /// says which path ran.
    ///
    /// - Parameters:
    ///   - query: a vector of the store's dimension (normalised here; only its direction matters).
    ///   - k: how many hits to return, 1...100000.
    ///   - filter: which memories to consider.
    ///   - minScore: drop hits whose cosine similarity is below this value.
    ///   - embedder: the id of the embedder that made `query`; when given it must be the store's.
    ///   - exact: scan every matching vector even when the index would serve the recall.
    /// - Complexity: exact: O(n × dimension) for n matching memories: one sgemv over the mapped rows, or a
    ///   gather of only the candidate rows when a filter leaves few; then O(n log k) selection. Index: the
    ///   centroids plus the probed lists' codes (a sixteenth of the store by default), then the candidates.
    public func recall(
        _ query: [Float], k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil,
        embedder: String? = nil, exact: Bool = false
    ) throws -> [RecallHit] {
        try recallPlanned(
            batch: [query], k: k, filter: filter, minScore: minScore, embedder: embedder, exact: exact
        )
        .hits[0]
    }

    /// ``recall(_:k:filter:minScore:embedder:exact:)`` that also says how the hits were found: the exact
    /// scan or the index, why, and how many vectors were scored.
    public func recallExplained(
        _ query: [Float], k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil,
        embedder: String? = nil, exact: Bool = false
    ) throws -> (hits: [RecallHit], plan: RecallPlan) {
        let (hits, plan) = try recallPlanned(
            batch: [query], k: k, filter: filter, minScore: minScore, embedder: embedder, exact: exact)
        return (hits[0], plan)
    }

    /// Recalls for many queries in one pass over the vectors (sgemm over row tiles), with the same `k`
    /// and filter for each. Results equal single ``recall(_:k:filter:minScore:embedder:exact:)`` calls.
    ///
    /// - Complexity: O(queries × n × dimension) arithmetic but one pass over memory.
    public func recall(
        batch queries: [[Float]], k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil,
        embedder: String? = nil, exact: Bool = false
    ) throws -> [[RecallHit]] {
        try recallPlanned(
            batch: queries, k: k, filter: filter, minScore: minScore, embedder: embedder, exact: exact
        )
        .hits
    }

    /// ``recallExplained(_:k:filter:minScore:embedder:exact:)`` with other settings of the approximate
    /// tier than the store's, for benchmarks that tune them.
    package func recall(
        _ query: [Float], k: Int, filter: MemoryFilter = .all, approximate settings: ApproximateSearch
    ) throws -> (hits: [RecallHit], plan: RecallPlan) {
        let (hits, plan) = try recallPlanned(
            batch: [query], k: k, filter: filter, minScore: nil, embedder: nil, exact: false,
            settings: settings)
        return (hits[0], plan)
    }

    private func recallPlanned(
        batch queries: [[Float]], k: Int, filter: MemoryFilter, minScore: Float?, embedder: String?,
        exact: Bool,
        settings: ApproximateSearch? = nil
    ) throws -> (hits: [[RecallHit]], plan: RecallPlan) {
        try scope.require(.read, "read")
        let filter = try scope.narrowed(filter)
        let started = ContinuousClock.now
        guard (1...Limits.maxK).contains(k) else {
            throw EngramError.invalid("k", "must be from 1 to \(Limits.maxK)")
        }
        if let minScore, !minScore.isFinite {
            throw EngramError.invalid("minScore", "must be a finite number")
        }
        if let embedder, embedder != embedderID {
            throw EngramError(
                .embedderMismatch,
                "the query was embedded by \(embedder) but the store holds \(embedderID) vectors",
                field: "embedder")
        }
        var plan = RecallPlan(
            path: .exact, reason: "no queries", estimatedMatches: 0, vectorsScored: 0, listsProbed: 0,
            reranked: 0)
        guard !queries.isEmpty else { return ([], plan) }
        if !exact { loadIndexIfPending() }
        let normalizedQueries = try queries.enumerated().map { i, q in
            try normalized(q, field: queries.count == 1 ? "query" : "queries[\(i)]")
        }
        let metadataRowIDs = try resolveMetadata(of: filter)

        // Score one snapshot, then read the winners' records. A memory forgotten in between has no record
        // any more (or its rowid went to a newer memory): score a fresh snapshot then, so that `k` hits
        // still come back; after a few such races in a row, leave the vanished memories out.
        var results: [[RecallHit]] = []
        for attempt in 1...3 {
            let ranked = try withSnapshot { snapshot in
                let compiled = CompiledFilter(
                    filter, names: snapshot.names, now: options.clock.now(), metadataRowIDs: metadataRowIDs)
                let found = vectorTopK(
                    snapshot: snapshot, filter: compiled, queries: normalizedQueries, k: k, exact: exact,
                    settings: settings ?? options.approximate)
                plan = found.plan
                return found.ranked
            }
            let memories = try records.memories(rowIDs: Array(Set(ranked.flatMap { $0.map(\.rowID) })))
            var vanished = false
            results = ranked.map { hits in
                hits.compactMap { hit -> RecallHit? in
                    if let minScore, hit.score < minScore { return nil }
                    guard let memory = memories[hit.rowID], memory.id == hit.id else {
                        vanished = true
                        return nil
                    }
                    return RecallHit(memory: memory, score: hit.score)
                }
            }
            if !vanished || attempt == 3 { break }
        }
        noteRecalled(results)
        let elapsed = ContinuousClock.now - started
        telemetry.withLock { t in
            for hits in results {
                t.recordRecall(
                    elapsed / queries.count, hit: (hits.first?.score ?? -.infinity) >= options.hitThreshold)
            }
        }
        return (results, plan)
    }

    /// Keyword search over content, cause, outcome and tags with SQLite FTS5 (BM25, porter stemming,
    /// English stop words dropped from the query; see ``recall(text:embedder:k:filter:minScore:options:)``
    /// for keyword recall with ranking signals).
    ///
    /// The filter applies before ranking: the full-text query is restricted to the filter's namespaces,
    /// and the other conditions are checked while matches are read in rank order.
    /// - Returns: up to `k` matches, most relevant first, each with its (negated, larger-is-better) BM25.
    public func search(text: String, k: Int = 10, filter: MemoryFilter = .all) throws -> [KeywordHit] {
        try scope.require(.read, "read")
        let filter = try scope.narrowed(filter)
        guard (1...Limits.maxK).contains(k) else {
            throw EngramError.invalid("k", "must be from 1 to \(Limits.maxK)")
        }
        try Limits.validateText(text, field: "text", required: true)
        let metadataRowIDs = try resolveMetadata(of: filter)
        let terms = KeywordQuery.terms(text)
        for attempt in 1...3 {
            let (matches, memories) = try withSnapshot { snapshot in
                let compiled = CompiledFilter(
                    filter, names: snapshot.names, now: options.clock.now(), metadataRowIDs: metadataRowIDs)
                let found = try keywordMatches(
                    snapshot: snapshot, filter: compiled, terms: terms, limit: k, columns: ColumnWeights())
                return (
                    found.matches.map {
                        (rowID: $0.rowID, id: snapshot.slots[Int($0.slot)].id, score: $0.score)
                    }, found.memories
                )
            }
            // Only the memory the snapshot knew at that slot (a rowid can be reused after a forget).
            let hits = matches.compactMap { m in
                memories[m.rowID].flatMap { $0.id == m.id ? KeywordHit(memory: $0, score: m.score) : nil }
            }
            if hits.count == matches.count || attempt == 3 { return hits }
        }
        return []
    }

    /// The best `limit` full-text matches of `terms` that pass `filter` in one snapshot, best first. The
    /// MATCH is restricted to the filter's namespaces when it names few enough to list.
    /// The memories of the matches and of `alsoLoading` come from the same transaction.
    func keywordMatches(
        snapshot: StoreSnapshot, filter: CompiledFilter, terms: [String], limit: Int, columns: ColumnWeights,
        alsoLoading extra: [Int64] = []
    ) throws -> (matches: [(slot: Int32, rowID: Int64, score: Double)], memories: [Int64: Memory]) {
        guard !filter.matchesNothing else { return ([], try records.memories(rowIDs: extra)) }
        let names = snapshot.names.namespaces.names
        let namespaces = filter.namespaceIDs.flatMap { ids in
            ids.count <= Self.maxNamespaceTerms ? ids.map { names[Int($0)] } : nil
        }
        let slots = snapshot.slots
        return try records.keywordMatches(
            terms: terms, namespaces: namespaces, weights: columns, limit: limit, alsoLoading: extra
        ) {
            slot, rowID in
            Int(slot) < slots.count && slots[Int(slot)].rowID == rowID && filter.matches(slots[Int(slot)])
        }
    }

    /// Namespaces a keyword query names in its MATCH at most; a filter admitting more reads every match.
    static let maxNamespaceTerms = 256

    /// One memory by id.
    /// - Throws: ``EngramError/Code/notFound`` when no live memory has this id, and for a memory outside
    ///   the scope alike.
    public func memory(_ id: MemoryID) throws -> Memory {
        try scope.require(.read, "read")
        try checkOpen()
        guard let (rowID, _) = try records.locate([id])[id],
            let memory = try records.memories(rowIDs: [rowID])[rowID],
            scope.contains(namespace: memory.namespace)
        else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        return memory
    }

    /// The stored (L2-normalised) embeddings of live memories; unknown ids, and memories outside the
    /// scope, are left out.
    public func embeddings(of ids: [MemoryID]) throws -> [MemoryID: [Float]] {
        try scope.require(.read, "read")
        return try embeddings(of: ids, within: scope.namespaceLimit)
    }

    /// ``embeddings(of:)`` leaving out memories outside `scope`, judged by the snapshot's namespaces.
    func embeddings(of ids: [MemoryID], within scope: Scope?) throws -> [MemoryID: [Float]] {
        let wanted = Set(ids)
        return try withSnapshot { snapshot in
            let visible = scope.map { scope in
                snapshot.names.namespaces.names.map { scope.contains(namespace: $0) }
            }
            var result: [MemoryID: [Float]] = [:]
            snapshot.slots.forEachLive { slot, info in
                guard wanted.contains(info.id) else { return }
                if let visible,
                    !(visible.indices.contains(Int(info.namespace)) && visible[Int(info.namespace)])
                {
                    return
                }
                result[info.id] = snapshot.mapping.vector(slot)
            }
            return result
        }
    }

    /// How many memories match a filter (by default: every unexpired memory).
    /// - Complexity: O(n) over the in-memory columns.
    public func count(matching filter: MemoryFilter = .all) throws -> Int {
        try scope.require(.read, "read")
        var n = 0
        try forEachMatchingSlot(scope.narrowed(filter)) { _ in n += 1 }
        return n
    }

    /// A page of memories matching a filter, in id (creation) order, after an optional cursor.
    ///
    /// Pass the returned ``MemoryPage/nextCursor`` as `after` to read the next page; it is nil on the
    /// last page. Keyset pagination: pages stay correct while memories are added or forgotten.
    /// - Complexity: O(n + limit log n) per page.
    public func list(filter: MemoryFilter = .all, after cursor: MemoryID? = nil, limit: Int = 100) throws
        -> MemoryPage
    {
        try scope.require(.read, "read")
        let filter = try scope.narrowed(filter)
        guard (1...10_000).contains(limit) else {
            throw EngramError.invalid("limit", "must be from 1 to 10000")
        }
        var matches = try matchingSlots(filter)
        if let cursor { matches.removeAll { $0.id <= cursor } }
        let page = matches.sorted { $0.id < $1.id }.prefix(limit + 1)
        let memories = try records.memories(rowIDs: page.prefix(limit).map(\.rowID))
        let items = page.prefix(limit).compactMap { memories[$0.rowID] }
        return MemoryPage(memories: items, nextCursor: page.count > limit ? items.last?.id : nil)
    }

    /// Validates a filter and evaluates its metadata conditions in SQLite: the rowids they admit, or nil
    /// when it has none (the other conditions are evaluated per slot, in memory).
    func resolveMetadata(of filter: MemoryFilter) throws -> Set<Int64>? {
        try filter.validate()
        return try filter.metadata.isEmpty ? nil : records.rowIDs(matching: filter.metadata)
    }

    /// (id, rowid) of each memory matching the filter in the current snapshot.
    func matchingSlots(_ filter: MemoryFilter) throws -> [(id: MemoryID, rowID: Int64)] {
        var result: [(id: MemoryID, rowID: Int64)] = []
        try forEachMatchingSlot(filter) { info in result.append((info.id, info.rowID)) }
        return result
    }

    /// Calls `body` with the hot columns of each memory matching the filter in the current snapshot.
    func forEachMatchingSlot(_ filter: MemoryFilter, _ body: (SlotInfo) -> Void) throws {
        let metadataRowIDs = try resolveMetadata(of: filter)
        try withSnapshot { snapshot in
            let compiled = CompiledFilter(
                filter, names: snapshot.names, now: options.clock.now(), metadataRowIDs: metadataRowIDs)
            snapshot.slots.forEachMatch(compiled) { _, info in body(info) }
        }
    }
}

/// One page of ``MemoryStore/list(filter:after:limit:)``.
public struct MemoryPage: Sendable {
    /// The memories on this page, in id order.
    public var memories: [Memory]
    /// The cursor for the next page, or nil when this is the last.
    public var nextCursor: MemoryID?
}
