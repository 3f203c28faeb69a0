import Foundation
import Synchronization

extension MemoryStore {
    /// The memories that best answer a text, best first: by default hybrid recall, which fuses exact
    /// cosine top-k of the embedded text with full-text BM25 and then adds recency, importance, outcome
    /// and feedback boosts (see ``TextRecallOptions``). Each hit's ``RecallHit/explanation`` holds every
    /// score that went into its rank.
    ///
    /// Both retrievers apply the filter before scoring: the vector side scans only matching memories,
    /// and the keyword side restricts its full-text query to the filter's namespaces and checks the
    /// other conditions in memory while it reads matches in rank order. So `k` hits come back whenever
    /// `k` matching memories share a word with the text or have an embedding (hybrid always has them).
    ///
    /// - Parameters:
    ///   - text: what to look for.
    ///   - embedder: the store's embedder (its identifier must match the store's); unused, and may be
    ///     nil, in keyword mode.
    ///   - k: how many hits to return, 1...100000.
    ///   - filter: which memories to consider.
    ///   - minScore: leave out hits whose cosine similarity is below this (not allowed in keyword mode).
    ///   - options: mode, fusion, candidates per retriever, column weights and ranking signals.
    /// - Complexity: one embedding, one exact scan (O(n × dimension) over the n matching memories), one
    ///   FTS5 query over the matching namespaces, and O(c log c) for c = 2 × candidates to rank.
    public func recall(
        text: String, embedder: (any Embedder)?, k: Int = 10, filter: MemoryFilter = .all,
        minScore: Float? = nil,
        options: TextRecallOptions = TextRecallOptions()
    ) throws -> [RecallHit] {
        try recallExplained(
            text: text, embedder: embedder, k: k, filter: filter, minScore: minScore, options: options
        ).hits
    }

    /// ``recall(text:embedder:k:filter:minScore:options:)`` that also says how the vector side found its
    /// candidates (nil in keyword mode, which has none).
    public func recallExplained(
        text: String, embedder: (any Embedder)?, k: Int = 10, filter: MemoryFilter = .all,
        minScore: Float? = nil,
        options: TextRecallOptions = TextRecallOptions()
    ) throws -> (hits: [RecallHit], plan: RecallPlan?) {
        try scope.require(.read, "read")
        let filter = try scope.narrowed(filter)
        let started = ContinuousClock.now
        guard (1...Limits.maxK).contains(k) else {
            throw EngramError.invalid("k", "must be from 1 to \(Limits.maxK)")
        }
        try Limits.validateText(text, field: "text", required: true)
        try options.validate()
        if let minScore, !minScore.isFinite {
            throw EngramError.invalid("minScore", "must be a finite number")
        }
        if options.mode == .keyword, minScore != nil {
            throw EngramError.invalid("minScore", "is a cosine similarity; keyword mode computes none")
        }
        var query: [Float]?
        if options.mode != .keyword {
            guard let embedder else {
                throw EngramError.invalid(
                    "embedder", "\(options.mode.rawValue) recall needs the store's embedder")
            }
            guard embedder.identifier == embedderID else {
                throw EngramError(
                    .embedderMismatch,
                    "the embedder is \(embedder.identifier) but the store holds \(embedderID) vectors",
                    field: "embedder")
            }
            let embedding = try embedder.embed(text)
            if options.mode == .vector {  // the exact recall, which normalises the query itself
                let (hits, plan) = try recallExplained(
                    embedding, k: k, filter: filter, minScore: minScore, exact: options.exact)
                return (
                    hits.enumerated().map { rank, hit in
                        var hit = hit
                        hit.explanation = HitExplanation(
                            cosine: hit.score, vectorRank: rank + 1, keywordScore: nil, keywordRank: nil,
                            fused: Double(hit.score), recency: 0, importance: 0, outcome: 0, feedback: 0,
                            score: Double(hit.score))
                        return hit
                    }, plan
                )
            }
            query = try normalized(embedding, field: "query")
            if !options.exact { loadIndexIfPending() }
        }

        let metadataRowIDs = try resolveMetadata(of: filter)
        let terms = KeywordQuery.terms(text)
        let perSide = options.perSide ?? max(k, options.candidates)
        var results: [RecallHit] = []
        var plan: RecallPlan?
        // As in the vector recall: a candidate forgotten between scoring and reading its record makes a
        // fresh snapshot score again, a few times at most.
        for attempt in 1...3 {
            let (candidates, fused, context, memories) = try withSnapshot { snapshot in
                let compiled = CompiledFilter(
                    filter, names: snapshot.names, now: self.options.clock.now(),
                    metadataRowIDs: metadataRowIDs)
                var (candidates, memories) = try self.candidates(
                    snapshot: snapshot, query: query, terms: terms, filter: compiled, perSide: perSide,
                    columns: options.columns, exact: options.exact, plan: &plan)
                var fused = HybridRanker.fused(
                    candidates, mode: options.mode, fusion: options.fusion, bounds: options.bounds)
                var context = [Double](repeating: 0, count: candidates.count)
                if options.mode == .hybrid, options.neighbours > 0, !candidates.isEmpty {
                    let added = withNeighbours(
                        &candidates, fused: &fused, context: &context, snapshot: snapshot, filter: compiled,
                        query: query, options: options, k: k, minScore: minScore)
                    memories.merge(try records.memories(rowIDs: added.map(\.rowID))) { old, _ in old }
                }
                return (candidates, fused, context, memories)
            }
            let now = self.options.clock.now()
            var vanished = false
            var ranked: [(hit: RecallHit, score: Double)] = []
            for (i, candidate) in candidates.enumerated() {
                guard let memory = memories[candidate.rowID], memory.id == candidate.id else {
                    vanished = true
                    continue
                }
                if let minScore, let cosine = candidate.cosine, cosine < minScore { continue }
                let explanation = HybridRanker.explain(
                    candidate, fused: fused[i], context: context[i], memory: memory, signals: options.signals,
                    now: now, boosted: true)
                let hit = RecallHit(memory: memory, score: Float(explanation.score), explanation: explanation)
                ranked.append((hit, explanation.score))
            }
            ranked.sort { HybridRanker.ordered(($0.score, $0.hit.memory.id), ($1.score, $1.hit.memory.id)) }
            results = ranked.prefix(k).map(\.hit)
            if !vanished || attempt == 3 { break }
        }
        noteRecalled([results])
        let elapsed = ContinuousClock.now - started
        let best = results.first.map { $0.explanation?.cosine ?? $0.score } ?? -.infinity
        telemetry.withLock { $0.recordRecall(elapsed, hit: best >= self.options.hitThreshold) }
        return (results, plan)
    }

    /// The union of the vector side's and the keyword side's top `perSide` matches of one snapshot,
    /// each with its cosine (computed for keyword-only matches too, from the mapped row) and ranks, and
    /// their memories, read in the keyword query's transaction.
    private func candidates(
        snapshot: StoreSnapshot, query: [Float]?, terms: [String], filter compiled: CompiledFilter,
        perSide: Int,
        columns: ColumnWeights, exact: Bool, plan: inout RecallPlan?
    ) throws -> (candidates: [RecallCandidate], memories: [Int64: Memory]) {
        guard !compiled.matchesNothing else { return ([], [:]) }
        var bySlot: [Int32: Int] = [:]
        var result: [RecallCandidate] = []
        if let query {
            let found = vectorTopK(
                snapshot: snapshot, filter: compiled, queries: [query], k: perSide, exact: exact,
                settings: self.options.approximate)
            plan = found.plan
            let ranked = found.ranked[0]
            for (rank, r) in ranked.enumerated() {
                bySlot[r.slot] = result.count
                result.append(
                    RecallCandidate(
                        slot: r.slot, rowID: r.rowID, id: r.id, cosine: r.score, vectorRank: rank + 1))
            }
        }
        let (matches, memories) = try keywordMatches(
            snapshot: snapshot, filter: compiled, terms: terms, limit: perSide, columns: columns,
            alsoLoading: result.map(\.rowID))
        let slots = snapshot.slots
        for (rank, m) in matches.enumerated() {
            if let i = bySlot[m.slot] {
                result[i].keywordScore = m.score
                result[i].keywordRank = rank + 1
            } else {
                // unit rows
                let cosine = query.map { q in Self.dot(q, snapshot.mapping.vector(Int(m.slot))) }
                result.append(
                    RecallCandidate(
                        slot: m.slot, rowID: m.rowID, id: slots[Int(m.slot)].id, cosine: cosine,
                        keywordScore: m.score, keywordRank: rank + 1))
            }
        }
        return (result, memories)
    }

    /// Adds each candidate's time-neighbour context (``TimeNeighbours``) and appends the neighbours that
    /// were not candidates and could still rank among the first `k` (relevance 0, their cosine computed);
    /// returns those.
    private func withNeighbours(
        _ candidates: inout [RecallCandidate], fused: inout [Double], context: inout [Double],
        snapshot: StoreSnapshot, filter: CompiledFilter, query: [Float]?, options: TextRecallOptions, k: Int,
        minScore: Float?
    ) -> [RecallCandidate] {
        let slots = snapshot.slots
        let neighbours = TimeNeighbours.of(
            candidates.map(\.slot), in: slots, filter: filter, window: options.neighbourWindow)
        let relevance = Dictionary(zip(candidates.map(\.slot), fused), uniquingKeysWith: max)
        let boosts = TimeNeighbours.context(
            relevance: relevance, neighbours: neighbours, weight: options.neighbours)
        for (i, c) in candidates.enumerated() { context[i] = boosts[c.slot] ?? 0 }
        // A neighbour that is not a candidate scores its context plus at most every boost; if that stays
        // below what k candidates surely score (their relevance and context, less the boosts that can be
        // negative), it cannot be among the first k: reading its record would be wasted.
        let signals = options.signals
        let most = signals.recency + signals.importance + signals.outcome + signals.feedback
        let least = -(signals.importance + signals.feedback)
        let sure = candidates.indices
            .filter { i in
                guard let minScore, let cosine = candidates[i].cosine else { return true }
                return cosine >= minScore
            }
            .map { fused[$0] + context[$0] + least }
            .sorted(by: >)
        let floor = sure.count >= k ? sure[k - 1] : -Double.infinity
        // In slot order, so the same store and query always give the same candidate list.
        let added = boosts.filter { relevance[$0.key] == nil && $0.value + most >= floor }.keys.sorted().map {
            slot in
            let info = slots[Int(slot)]
            let cosine = query.map { q in Self.dot(q, snapshot.mapping.vector(Int(slot))) }  // unit rows
            return RecallCandidate(slot: slot, rowID: info.rowID, id: info.id, cosine: cosine)
        }
        for c in added {
            candidates.append(c)
            fused.append(0)
            context.append(boosts[c.slot] ?? 0)
        }
        return added
    }

    /// The dot product of two vectors of the store's dimension.
    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                guard let x = x.baseAddress, let y = y.baseAddress else { return 0 }
                return BLAS.dot(x, y, dimension: min(a.count, b.count))
            }
        }
    }
}
