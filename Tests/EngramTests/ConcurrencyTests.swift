import Engram
import EngramTestSupport
import Foundation
import Testing

@Suite("Concurrent recalls and a writer")
struct ConcurrencyTests {
    @Test("several tasks recall while one writes, forgets and compacts; every result is consistent")
    func recallWhileWriting() async throws {
        let dim = 32
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: dim)
        var rng = SeededGenerator(seed: 77)
        let vectors = rng.clusteredVectors(count: 3000, dimension: dim)
        try store.remember((0..<500).map { Fixtures.memory(vectors[$0], index: $0) })
        let queries = (0..<8).map { _ in rng.vector(dimension: dim) }

        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for start in stride(from: 500, to: 3000, by: 50) {
                    let ids = try store.remember(
                        (start..<start + 50).map { Fixtures.memory(vectors[$0], index: $0) })
                    if start % 150 == 0 { try store.forget(Array(ids.prefix(30))) }  // frees slots for reuse
                    if start == 2000 { try store.compact() }
                }
                return 0
            }
            for t in 0..<4 {
                group.addTask {
                    var checked = 0
                    for round in 0..<60 {
                        let q = queries[(t + round) % queries.count]
                        let hits = try store.recall(q, k: 10)
                        #expect(hits.count == 10)
                        for (i, hit) in hits.enumerated() {
                            let index = Int(hit.memory.content.split(separator: " ").last ?? "") ?? -1
                            let truth = BruteForceOracle.cosine(q, vectors[index])
                            #expect(abs(Double(hit.score) - truth) < 1e-4)
                            if i > 0 { #expect(hit.score <= hits[i - 1].score) }
                        }
                        checked += 1
                    }
                    return checked
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 240)
        }
        #expect(try store.count() > 0)
    }
}
