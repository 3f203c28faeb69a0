import Engram
import EngramTestSupport
import Foundation
import Testing

/// One recall's scan split across threads (`StoreOptions.searchThreads`): exact against brute force,
/// and bit-identical to the one-thread scan whatever the thread count, ties included.
@Suite("Parallel scan")
struct ParallelScanTests {
    static let dimension = 256

    /// 10,000 memories of 256 dimensions (enough for the scan to split), every vector stored twice (in
    /// two namespaces, so not deduplicated): each score ties with another memory's.
    static func store(_ dir: TemporaryDirectory) throws -> (
        oracle: BruteForceOracle, inFiltered: Set<MemoryID>
    ) {
        let store = try MemoryStore.create(at: dir.appending("store"), dimension: Self.dimension)
        var rng = SeededGenerator(seed: 77)
        var oracle = BruteForceOracle()
        var inFiltered: Set<MemoryID> = []
        for batch in 0..<5 {
            let vectors = (0..<1000).map { _ in rng.vector(dimension: Self.dimension) }
            let memories = vectors.enumerated().flatMap { i, v in
                [0, 1].map { copy in
                    Fixtures.memory(v, index: batch * 1000 + i, namespace: "copy\(copy)/ns\(i % 3)")
                }
            }
            for (id, m) in zip(try store.remember(memories), memories) {
                oracle.entries.append(.init(id: id, vector: m.embedding))
                if m.namespace == "copy1/ns0" { inFiltered.insert(id) }
            }
        }
        try store.close()
        return (oracle, inFiltered)
    }

    @Test(
        "results equal brute force and are identical for 1, 2, 3 and 8 threads: one query, a batch, a small filtered batch"
    )
    func identicalWhateverTheThreads() throws {
        let dir = TemporaryDirectory()
        let (oracle, inFiltered) = try Self.store(dir)
        var rng = SeededGenerator(seed: 78)
        let queries = (0..<24).map { _ in rng.vector(dimension: Self.dimension) }
        let filter = MemoryFilter(namespace: .exact("copy1/ns0"))  // a sixth: the gather path, in 4 tiles
        var reference: [[RecallHit]]?
        for threads in [1, 2, 3, 8] {
            var options = StoreOptions(readOnly: true)
            options.searchThreads = threads
            let store = try MemoryStore.open(at: dir.appending("store"), options: options)
            var results: [[RecallHit]] = []
            for q in queries.prefix(4) { results.append(try store.recall(q, k: 10)) }
            results += try store.recall(batch: queries, k: 25)
            results += try store.recall(batch: queries, k: 5, filter: filter)
            try store.close()

            for (i, q) in queries.prefix(4).enumerated() {
                #expect(oracle.mismatch(results[i], query: q, k: 10) == nil, "threads \(threads), query \(i)")
            }
            for (i, q) in queries.enumerated().prefix(6) {
                #expect(
                    oracle.mismatch(results[4 + i], query: q, k: 25) == nil,
                    "threads \(threads), batch query \(i)")
                #expect(
                    oracle.mismatch(results[28 + i], query: q, k: 5, where: inFiltered.contains) == nil,
                    "threads \(threads), filtered query \(i)")
            }
            if let reference {
                let same = zip(reference, results).allSatisfy { a, b in
                    a.map(\.memory.id) == b.map(\.memory.id) && a.map(\.score) == b.map(\.score)
                }
                #expect(same, "\(threads) threads differ from one")
            } else {
                reference = results
                // Every stored vector has a twin: the ties are really there to be broken.
                #expect(results[0][0].score == results[0][1].score)
            }
        }
    }
}
