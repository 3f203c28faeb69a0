import EngramBenchSupport
import EngramTestSupport
import Foundation
import Testing

@testable import Engram

/// The approximate index against the brute-force oracle: its recall, exact scores, filters inside the
/// scan (never short), writes after the build, compaction, persistence and a damaged file.
@Suite struct ApproximateIndexTests {
    /// Options that send every recall to the index, whatever its filter admits.
    static func indexed(probes: Int? = nil, rerank: Int = 64) -> StoreOptions {
        var options = StoreOptions()
        options.approximate = ApproximateSearch(
            exactBelow: 0, exactFraction: 0, probes: probes, rerank: rerank)
        return options
    }

    static func filled(
        _ directory: TemporaryDirectory, count: Int, dimension: Int, options: StoreOptions, seed: UInt64 = 11
    ) throws -> (MemoryStore, BruteForceOracle) {
        let store = try MemoryStore.create(
            at: directory.appending("s"), dimension: dimension, options: options)
        var rng = SeededGenerator(seed: seed)
        let vectors = rng.clusteredVectors(count: count, dimension: dimension, clusters: 24)
        var oracle = BruteForceOracle()
        for start in stride(from: 0, to: count, by: 1000) {
            let batch = (start..<min(count, start + 1000)).map { Fixtures.memory(vectors[$0], index: $0) }
            for (offset, id) in try store.remember(batch).enumerated() {
                oracle.entries.append(.init(id: id, vector: vectors[start + offset]))
            }
        }
        return (store, oracle)
    }

    /// Queries near the stored vectors (a stored vector plus noise), as an agent's queries are near its
    /// memories; uniformly random directions have no near neighbours and are not what an index is for.
    static func queries(near oracle: BruteForceOracle, count: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            let base = oracle.entries[(i * 7919) % oracle.entries.count].vector
            let noise = rng.vector(dimension: base.count)
            return zip(base, noise).map { $0 + 0.5 * $1 }
        }
    }

    /// Mean recall@k of `store`'s hits against the oracle's top k.
    static func recall(_ store: MemoryStore, _ oracle: BruteForceOracle, queries: [[Float]], k: Int) throws
        -> Double
    {
        var found = 0
        for q in queries {
            let truth = Set(oracle.ranking(q).prefix(k).map(\.id))
            let (hits, plan) = try store.recallExplained(q, k: k)
            #expect(plan.path == .index)
            #expect(hits.count == k)
            found += hits.filter { truth.contains($0.memory.id) }.count
            // Scores are exact: re-scored from the vectors.
            for hit in hits {
                let vector = oracle.entries.first { $0.id == hit.memory.id }!.vector
                #expect(abs(Double(hit.score) - BruteForceOracle.cosine(q, vector)) < 1e-4)
            }
        }
        return Double(found) / Double(queries.count * k)
    }

    @Test(arguments: [8, 4]) func recallAgainstTheOracle(bits: Int) throws {
        let dir = TemporaryDirectory()
        let (store, oracle) = try Self.filled(dir, count: 6000, dimension: 32, options: Self.indexed())
        defer { try? store.close() }
        let status = try store.buildIndex(bits: bits)
        #expect(status.memories == 6000 && status.entries == 6000 && status.bits == bits)
        #expect(status.lists == 155)  // about 2 sqrt(n)
        let queries = Self.queries(near: oracle, count: 60, seed: 5)
        let r = try Self.recall(store, oracle, queries: queries, k: 10)
        #expect(r >= 0.9, "recall@10 \(r)")
        // The default probes were tuned at the build on the store's own vectors: those, as queries,
        // reach about 0.99 (measured here on other vectors than the tuning's).
        #expect(status.probes >= 1 && status.probes < status.lists)
        let own = stride(from: 5, to: 6000, by: 97).map { oracle.entries[$0].vector }
        let mine = try Self.recall(store, oracle, queries: own, k: 10)
        #expect(mine >= 0.97, "recall@10 on stored vectors \(mine) with \(status.probes) probes")
    }

    /// (An odd dimension: the last byte of a 4-bit code holds one dimension.)
    @Test(arguments: [8, 4]) func everyListReadGivesTheExactAnswer(bits: Int) throws {
        let dir = TemporaryDirectory()
        let (store, oracle) = try Self.filled(
            dir, count: 3000, dimension: 25, options: Self.indexed(probes: 1_000_000, rerank: 3000))
        defer { try? store.close() }
        try store.buildIndex(lists: 40, bits: bits)
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<20 {
            let q = rng.vector(dimension: 25)
            let (hits, plan) = try store.recallExplained(q, k: 10)
            #expect(plan.path == .index && plan.listsProbed == 40)
            #expect(oracle.mismatch(hits, query: q, k: 10) == nil)
        }
    }

    /// Every filter of the exactness suite, through the index with the fewest probes: as many hits as the
    /// oracle admits (up to k), each admitted, none missing when every list is read.
    @Test func filtersAreAppliedInsideTheScanAndNeverShort() throws {
        let seeded = try SeededStore(count: 3000, dimension: 16, seed: 3)
        try seeded.store.close()
        let store = try MemoryStore.open(
            at: seeded.directory.appending("store"), options: Self.indexed(probes: 1, rerank: 10))
        defer { try? store.close() }
        try store.buildIndex(lists: 50)
        var rng = SeededGenerator(seed: 4)
        for (name, filter, admit) in filterCases {
            let attributes = seeded.attributes
            let admitted = seeded.oracle.entries.filter { attributes[$0.id].map(admit) ?? false }.count
            for _ in 0..<5 {
                let q = rng.vector(dimension: 16)
                let (hits, plan) = try store.recallExplained(q, k: 10, filter: filter)
                if admitted > 0 { #expect(plan.path == .index, "\(name)") }
                #expect(hits.count == min(10, admitted), "\(name): \(hits.count) hits, \(admitted) admitted")
                for hit in hits { #expect(attributes[hit.memory.id].map(admit) == true, "\(name)") }
            }
        }
    }

    @Test func writesAfterTheBuildReachTheIndex() throws {
        let dir = TemporaryDirectory()
        var (store, oracle) = try Self.filled(
            dir, count: 4000, dimension: 32, options: Self.indexed(probes: 12))
        defer { try? store.close() }
        try store.buildIndex()
        var rng = SeededGenerator(seed: 21)
        // New memories: each is found by its own vector, first.
        let fresh = (0..<50).map { _ in rng.vector(dimension: 32) }
        let ids = try store.remember(fresh.enumerated().map { Fixtures.memory($1, index: 10_000 + $0) })
        for (id, v) in zip(ids, fresh) {
            oracle.entries.append(.init(id: id, vector: v))
            #expect(try store.recall(v, k: 1).first?.memory.id == id)
        }
        // Replace 10 %: updates with new vectors, and forgets.
        let victims = oracle.entries.prefix(400).map(\.id)
        var replaced: [MemoryID: [Float]] = [:]
        for id in victims.prefix(200) {
            let v = rng.vector(dimension: 32)
            let updated = try store.update(id, with: MemoryChanges(embedding: v))
            replaced[updated.id] = v
        }
        try store.forget(Array(victims.suffix(200)))
        oracle.entries.removeAll { victims.contains($0.id) }
        for (id, v) in replaced { oracle.entries.append(.init(id: id, vector: v)) }
        for (id, v) in replaced.prefix(20) { #expect(try store.recall(v, k: 1).first?.memory.id == id) }
        let gone = Set(victims)
        let queries = Self.queries(near: oracle, count: 40, seed: 6)
        for q in queries {
            #expect(try store.recall(q, k: 20).allSatisfy { !gone.contains($0.memory.id) })
        }
        #expect(try Self.recall(store, oracle, queries: queries, k: 10) >= 0.9)
        let status = try #require(try store.indexStatus())
        #expect(status.memories == oracle.entries.count)
        #expect(status.entries == 4000 + 50 + 200)  // stale entries stay until a compaction

        // Compaction renumbers the slots; the index follows and drops what was stale.
        try store.compact()
        let compacted = try #require(try store.indexStatus())
        #expect(compacted.entries == oracle.entries.count)
        #expect(try Self.recall(store, oracle, queries: queries, k: 10) >= 0.9)
        for (id, v) in replaced.prefix(20) { #expect(try store.recall(v, k: 1).first?.memory.id == id) }
    }

    @Test func thePlannerScansNarrowFiltersExactly() throws {
        let dir = TemporaryDirectory()
        var options = StoreOptions()
        options.approximate = ApproximateSearch(exactBelow: 500, exactFraction: 0, probes: 4)
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 16, options: options)
        defer { try? store.close() }
        var rng = SeededGenerator(seed: 2)
        let vectors = rng.clusteredVectors(count: 3000, dimension: 16)
        try store.remember(
            vectors.enumerated().map {
                Fixtures.memory($1, index: $0, namespace: $0 < 300 ? "narrow" : "wide")
            })
        let q = rng.vector(dimension: 16)
        #expect(try store.recallExplained(q).plan.path == .exact)  // no index yet
        #expect(try store.recallExplained(q).plan.reason.contains("no index"))
        try store.buildIndex()
        let wide = try store.recallExplained(q).plan
        #expect(wide.path == .index && wide.estimatedMatches == 3000)
        #expect(wide.vectorsScored < 3000)
        let narrow = try store.recallExplained(q, filter: MemoryFilter(namespace: .exact("narrow"))).plan
        #expect(narrow.path == .exact && narrow.estimatedMatches == 300 && narrow.vectorsScored == 300)
        let forced = try store.recallExplained(q, exact: true).plan
        #expect(forced.path == .exact && forced.vectorsScored == 3000)
        try store.dropIndex()
        #expect(try store.indexStatus() == nil)
        #expect(try store.recallExplained(q).plan.path == .exact)
    }

    @Test(arguments: [8, 4]) func theIndexPersistsAndAnOlderFileIsBroughtUpToDate(bits: Int) throws {
        let dir = TemporaryDirectory()
        var (store, oracle) = try Self.filled(dir, count: 3000, dimension: 31, options: Self.indexed())
        try store.buildIndex(bits: bits)
        let file = dir.appending("s/vectors.index")
        let older = try Data(contentsOf: URL(fileURLWithPath: file))
        var rng = SeededGenerator(seed: 8)
        let fresh = (0..<30).map { _ in rng.vector(dimension: 31) }
        let ids = try store.remember(fresh.enumerated().map { Fixtures.memory($1, index: 5000 + $0) })
        for (id, v) in zip(ids, fresh) { oracle.entries.append(.init(id: id, vector: v)) }
        let forgotten = oracle.entries.prefix(100).map(\.id)
        try store.forget(forgotten)
        oracle.entries.removeFirst(100)
        try store.close()

        // The file written at close: loaded as it is.
        store = try MemoryStore.open(at: dir.appending("s"), options: Self.indexed())
        let reloaded = try store.indexStatus()
        #expect(reloaded?.entries == 3030 && reloaded?.bits == bits, "\(String(describing: reloaded))")
        try store.close()

        // A file from before the writes (as after a crash): the open drops and adds what changed since.
        try older.write(to: URL(fileURLWithPath: file))
        store = try MemoryStore.open(at: dir.appending("s"), options: Self.indexed())
        defer { try? store.close() }
        let status = try #require(try store.indexStatus())
        #expect(status.entries == oracle.entries.count && status.memories == oracle.entries.count)
        for (id, v) in zip(ids, fresh) { #expect(try store.recall(v, k: 1).first?.memory.id == id) }
        let queries = Self.queries(near: oracle, count: 30, seed: 7)
        let gone = Set(forgotten)
        for q in queries { #expect(try store.recall(q, k: 10).allSatisfy { !gone.contains($0.memory.id) }) }
        #expect(try Self.recall(store, oracle, queries: queries, k: 10) >= 0.9)
    }

    @Test func aDamagedIndexFileIsIgnored() throws {
        let dir = TemporaryDirectory()
        let (store, oracle) = try Self.filled(dir, count: 1000, dimension: 16, options: Self.indexed())
        try store.buildIndex(lists: 10)
        try store.close()
        let url = URL(fileURLWithPath: dir.appending("s/vectors.index"))
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: url)
        let reopened = try MemoryStore.open(at: dir.appending("s"), options: Self.indexed())
        defer { try? reopened.close() }
        #expect(try reopened.indexStatus() == nil)
        let q = SeededGenerator(seed: 1).vectorCopy(dimension: 16)
        let (hits, plan) = try reopened.recallExplained(q, k: 5)
        #expect(plan.path == .exact)
        #expect(oracle.mismatch(hits, query: q, k: 5) == nil)
    }

    @Test func float16StoresUseTheIndexToo() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 32, element: .float16,
            options: Self.indexed(probes: 1000, rerank: 2000))
        defer { try? store.close() }
        var rng = SeededGenerator(seed: 12)
        let vectors = rng.clusteredVectors(count: 2000, dimension: 32)
        let ids = try store.remember(vectors.enumerated().map { Fixtures.memory($1, index: $0) })
        try store.buildIndex(lists: 20)
        let oracle = BruteForceOracle(entries: zip(ids, vectors).map { .init(id: $0, vector: $1) })
        for _ in 0..<10 {
            let q = rng.vector(dimension: 32)
            let exact = try store.recall(q, k: 10, exact: true)
            let (hits, plan) = try store.recallExplained(q, k: 10)
            #expect(plan.path == .index)
            // Every list read: the same memories and scores as the exact scan of the half-precision rows.
            #expect(hits.map(\.memory.id) == exact.map(\.memory.id))
            #expect(hits.map(\.score) == exact.map(\.score))
            #expect(oracle.mismatch(hits, query: q, k: 10, tolerance: 2e-3) == nil)
        }
    }
}

extension SeededGenerator {
    /// A vector from a copy of this generator (for a one-off query).
    func vectorCopy(dimension: Int) -> [Float] {
        var copy = self
        return copy.vector(dimension: dimension)
    }
}

/// Hybrid and vector-mode text recall use the planner for their vector side.
@Suite struct ApproximateTextRecallTests {
    @Test func hybridRecallThroughTheIndexMatchesTheExactOneWhenEveryListIsRead() throws {
        let dir = TemporaryDirectory()
        let embedder = try HashingEmbedder(dimension: 64)
        var options = StoreOptions()
        options.approximate = ApproximateSearch(exactBelow: 0, exactFraction: 0, probes: 1_000, rerank: 2_000)
        let store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 64, embedder: embedder.identifier, options: options)
        defer { try? store.close() }
        let words = [
            "checkout", "payment", "timeout", "database", "pool", "refund", "login", "cache", "deploy",
        ]
        var rng = SeededGenerator(seed: 3)
        let memories = try (0..<1500).map { i -> NewMemory in
            let text = (0..<5).map { _ in words[Int.random(in: 0..<words.count, using: &rng)] }.joined(
                separator: " ")
            return NewMemory(content: "\(text) \(i)", embedding: try embedder.embed(text))
        }
        try store.remember(memories)
        try store.buildIndex(lists: 20)
        for text in ["checkout timeout", "database pool refund", "login cache"] {
            for mode in [RecallMode.hybrid, .vector] {
                var exactOptions = TextRecallOptions(mode: mode)
                exactOptions.exact = true
                let exact = try store.recallExplained(
                    text: text, embedder: embedder, k: 8, options: exactOptions)
                let indexed = try store.recallExplained(
                    text: text, embedder: embedder, k: 8, options: TextRecallOptions(mode: mode))
                #expect(exact.plan?.path == .exact && indexed.plan?.path == .index)
                #expect(indexed.hits.map(\.memory.id) == exact.hits.map(\.memory.id), "\(mode) \(text)")
            }
        }
        let keyword = try store.recallExplained(
            text: "checkout", embedder: embedder, options: TextRecallOptions(mode: .keyword))
        #expect(keyword.plan == nil && !keyword.hits.isEmpty)
    }
}

/// A purge leaves no code of the purged vectors in the index, in memory or in its file.
@Suite struct ApproximateIndexPurgeTests {
    @Test(arguments: [false, true]) func purgeDropsTheEntriesAndRewritesTheFile(reopened: Bool) throws {
        let dir = TemporaryDirectory()
        var (store, oracle) = try ApproximateIndexTests.filled(
            dir, count: 2000, dimension: 32, options: ApproximateIndexTests.indexed())
        try store.buildIndex(lists: 20)
        // An earlier version too: its entry holds the codes of a vector the purge must remove.
        let victim = oracle.entries[3].id
        var rng = SeededGenerator(seed: 4)
        let updated = try store.update(victim, with: MemoryChanges(embedding: rng.vector(dimension: 32)))
        if reopened {  // the index not loaded yet when the purge runs
            try store.close()
            store = try MemoryStore.open(at: dir.appending("s"), options: ApproximateIndexTests.indexed())
        }
        let purged = try store.purge([updated.id, oracle.entries[7].id])
        #expect(purged.versions.count == 3)
        let status = try #require(try store.indexStatus())
        #expect(status.entries == 1998 && status.memories == 1998)
        // The file on disk already holds only the live memories' entries.
        let file = try #require(IndexFile.read(from: URL(fileURLWithPath: dir.appending("s")), dimension: 32))
        #expect(file.index.entryCount == 1998)
        let gone = Set([victim, updated.id, oracle.entries[7].id])
        for entry in oracle.entries.prefix(50) {
            #expect(try store.recall(entry.vector, k: 10).allSatisfy { !gone.contains($0.memory.id) })
        }
        try store.close()
    }
}

/// Recalls through the index while a writer remembers, updates and forgets: every answer is full, has no
/// memory twice, and every hit was stored (the writer's entries are appended past what each snapshot
/// counts). Run under `make tsan` too.
@Suite struct ApproximateIndexConcurrencyTests {
    @Test func recallsWhileWriting() async throws {
        let dir = TemporaryDirectory()
        let (store, oracle) = try ApproximateIndexTests.filled(
            dir, count: 3000, dimension: 16, options: ApproximateIndexTests.indexed(probes: 4))
        defer { try? store.close() }
        try store.buildIndex(lists: 30)
        let known = Locked(Set(oracle.entries.map(\.id)))
        let seen = Locked(Set<MemoryID>())
        let queries = ApproximateIndexTests.queries(near: oracle, count: 40, seed: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var rng = SeededGenerator(seed: 8)
                for round in 0..<60 {
                    let fresh = (0..<20).map { _ in rng.vector(dimension: 16) }
                    let ids = try store.remember(
                        fresh.enumerated().map { Fixtures.memory($1, index: 10_000 + round * 20 + $0) })
                    known.withLock { $0.formUnion(ids) }
                    let updated = try store.update(
                        ids[0], with: MemoryChanges(embedding: rng.vector(dimension: 16)))
                    known.withLock { _ = $0.insert(updated.id) }
                    try store.forget([ids[1], oracle.entries[round].id])
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    for i in 0..<300 {
                        let hits = try store.recall(queries[(i + reader) % queries.count], k: 10)
                        #expect(hits.count == 10)
                        #expect(Set(hits.map(\.memory.id)).count == hits.count)
                        seen.withLock { $0.formUnion(hits.map(\.memory.id)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        // Checked after the writer is done: a reader may see a memory before the writer records its id.
        let unknown = seen.withLock { $0 }.subtracting(known.withLock { $0 })
        #expect(unknown.isEmpty)
        #expect(try store.indexStatus()?.memories == 3000 + 60 * 20 - 60 * 2)
    }

    @Test("probe tuning: the fewest probes reaching the target, or the fewest reaching a ceiling below it")
    func probeTuning() {
        // Recall rising to 1: the fewest lists reaching 0.99.
        #expect(
            ApproximateSearch.fewestProbes(reaching: 0.99, lists: 6325) { min(1, Double($0) / 100) } == 99)
        // Rising to a ceiling of 0.98 (what re-scoring 64 candidates allowed at 10M): the fewest lists
        // reaching the ceiling, not all 6,325.
        #expect(
            ApproximateSearch.fewestProbes(reaching: 0.99, lists: 6325) { min(0.98, Double($0) / 100) } == 98)
        // Far below the target and flat: nothing tells a ceiling from a slow climb, so every list.
        #expect(ApproximateSearch.fewestProbes(reaching: 0.99, lists: 64) { _ in 0.5 } == 64)
        // Exactly at the target at the first probe.
        #expect(ApproximateSearch.fewestProbes(reaching: 0.5, lists: 64) { _ in 0.5 } == 1)
    }
}
