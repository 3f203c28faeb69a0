import EngramTestSupport
import Foundation
import Testing

@testable import Engram

@Suite("Re-embedding and interrupted vector-file switches")
struct ReembedTests {
    @Test(
        "reembed switches dimension and embedder; recall matches the new embedder's oracle; old queries are refused"
    )
    func reembed() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let old = try HashingEmbedder(dimension: 32)
        let new = try HashingEmbedder(dimension: 64)
        let texts = (0..<120).map {
            "memory \($0) about \(["checkout", "deploy", "billing", "login"][$0 % 4]) issue \($0 % 9)"
        }
        var store = try MemoryStore.create(at: path, dimension: 32, embedder: old.identifier)
        let ids = try store.remember(
            try zip(texts, old.embed(texts)).map { NewMemory(content: $0, cause: "why", embedding: $1) })
        try store.forget(ids[5])  // a free slot inside the file
        try store.close()

        #expect(try MemoryStore.reembed(at: path, with: new) == 119)
        store = try MemoryStore.open(at: path)
        #expect(store.dimension == 64 && store.embedderID == new.identifier)
        var oracle = BruteForceOracle()
        for (i, (id, text)) in zip(ids, texts).enumerated() where i != 5 {
            oracle.entries.append(
                .init(
                    id: id,
                    vector: try new.embed(EmbeddingText.compose(content: text, cause: "why", outcome: nil))))
        }
        let query = try new.embed("checkout issue 3")
        let hits = try store.recall(query, k: 10, embedder: new.identifier)
        #expect(oracle.mismatch(hits, query: query, k: 10) == nil)
        #expect(throws: EngramError.self) { try store.recall(try old.embed("checkout"), k: 3) }
        #expect(throws: EngramError.self) { try store.recall(query, k: 3, embedder: old.identifier) }
        #expect(try store.health().healthy)
    }

    @Test("an open after a crash between the commit and the rename finishes the switch")
    func interruptedSwitch() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        var rng = SeededGenerator(seed: 8)
        let vectors = (0..<40).map { _ in rng.vector(dimension: 8) }
        var store = try MemoryStore.create(at: path, dimension: 8)
        let ids = try store.remember(vectors.enumerated().map { Fixtures.memory($1, index: $0) })
        try store.close()
        let vectorsPath = URL(fileURLWithPath: path).appendingPathComponent("vectors.f32").path
        let pending = vectorsPath + ".compact"
        // The committed state says "switching", the new file is complete, the old one is garbage.
        try FileManager.default.copyItem(atPath: vectorsPath, toPath: pending)
        try Data(repeating: 0xEE, count: 4096).write(to: URL(fileURLWithPath: vectorsPath))
        let records = try RecordStore(
            path: URL(fileURLWithPath: path).appendingPathComponent("memories.sqlite").path, readOnly: false,
            synchronousFull: false)
        try records.setMeta(["compacting": "1"])
        try records.close()

        store = try MemoryStore.open(at: path)
        #expect(!FileManager.default.fileExists(atPath: pending))
        let oracle = BruteForceOracle(entries: zip(ids, vectors).map { .init(id: $0, vector: $1) })
        #expect(oracle.mismatch(try store.recall(vectors[3], k: 5), query: vectors[3], k: 5) == nil)
        try store.close()

        // A leftover new file without the mark is an unfinished switch that never committed: discarded.
        try Data(repeating: 0xEE, count: 100).write(to: URL(fileURLWithPath: pending))
        store = try MemoryStore.open(at: path)
        #expect(!FileManager.default.fileExists(atPath: pending))
        #expect(try store.count() == 40)
    }
}
