import Engram
import EngramTestSupport
import Foundation
import Testing

@Suite("float16 storage")
struct Float16Tests {
    @Test(
        "scores stay within 1e-3 of exact, top-k matches the oracle up to near-ties, across batch, filters, compaction and reopen"
    )
    func halfPrecision() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let d = 96
        var rng = SeededGenerator(seed: 16)
        let vectors = rng.clusteredVectors(count: 3000, dimension: d)
        var store = try MemoryStore.create(at: path, dimension: d, element: .float16)
        let ids = try store.remember(
            vectors.enumerated().map {
                Fixtures.memory($1, index: $0, namespace: $0 % 10 == 0 ? "rare" : "common")
            })
        var oracle = BruteForceOracle(entries: zip(ids, vectors).map { .init(id: $0, vector: $1) })
        let queries = (0..<6).map { _ in rng.vector(dimension: d) }
        let rare = Set(ids.enumerated().filter { $0.offset % 10 == 0 }.map(\.element))
        func check(_ store: MemoryStore) throws {
            #expect(store.element == .float16)
            for q in queries {
                #expect(oracle.mismatch(try store.recall(q, k: 20), query: q, k: 20, tolerance: 1e-3) == nil)
                let filtered = try store.recall(q, k: 10, filter: MemoryFilter(namespace: .exact("rare")))
                #expect(
                    oracle.mismatch(filtered, query: q, k: 10, tolerance: 1e-3) { rare.contains($0) } == nil)
            }
            let batch = try store.recall(batch: queries, k: 20)
            for (q, hits) in zip(queries, batch) {
                #expect(oracle.mismatch(hits, query: q, k: 20, tolerance: 1e-3) == nil)
            }
            let stored = try store.embeddings(of: [ids[0]])[ids[0]] ?? []
            let truth = BruteForceOracle.cosine(stored, vectors[0])
            #expect(truth > 0.99999)
        }
        try check(store)
        try store.forget(Array(ids[1..<500]))
        oracle.entries.removeSubrange(1..<500)
        try store.compact()
        let stats = try store.stats()
        #expect(stats.elementType == "f16")
        #expect(stats.vectorFileBytes == 4096 + 2501 * 192)  // 96 halves padded to 192 bytes per row
        try check(store)
        try store.close()
        store = try MemoryStore.open(at: path)
        try check(store)
    }
}
