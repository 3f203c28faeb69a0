import Engram
import EngramTestSupport
import Foundation
import Synchronization
import Testing

/// Counts the texts that reach it.
final class CountingEmbedder: Embedder, Sendable {
    let base: HashingEmbedder
    let calls = Locked(0)
    var identifier: String { base.identifier }
    var dimension: Int { base.dimension }

    init() throws { base = try HashingEmbedder(dimension: 32) }

    func embed(_ texts: [String]) throws -> [[Float]] {
        calls.withLock { $0 += texts.count }
        return try base.embed(texts)
    }
}

@Suite("Embedding cache")
struct EmbeddingCacheTests {
    @Test("repeats come from memory, then from the store after reopening; vectors are identical")
    func memoryAndPersistent() throws {
        let dir = TemporaryDirectory()
        let counting = try CountingEmbedder()
        var store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 32, embedder: counting.identifier)
        let cache = store.cachingEmbedder(counting, capacity: 100)
        let texts = ["checkout is slow", "deploy failed", "checkout is slow"]
        let first = try cache.embed(texts)
        #expect(first == (try counting.base.embed(texts)))
        #expect(counting.calls.withLock { $0 } == 3)  // the batch's own repeat is embedded too: it was a miss
        _ = try cache.embed(texts)
        #expect(counting.calls.withLock { $0 } == 3)
        #expect(cache.stats.memoryHits == 3 && cache.stats.misses == 3)
        #expect(try store.stats().cachedEmbeddings == 2)
        #expect(try store.stats().embeddingCache.hitRate == 0.5)

        try store.close()
        store = try MemoryStore.open(at: dir.appending("s"))
        let again = store.cachingEmbedder(counting)
        #expect(try again.embed(["deploy failed"]) == [first[1]])
        #expect(counting.calls.withLock { $0 } == 3)
        #expect(again.stats.persistentHits == 1)
    }

    @Test("the LRU evicts when full, and another embedder's vectors are never served")
    func evictionAndIsolation() throws {
        let counting = try CountingEmbedder()
        let cache = CachingEmbedder(counting, capacity: 8)
        _ = try cache.embed((0..<20).map { "text \($0)" })
        _ = try cache.embed(["text 19"])
        #expect(cache.stats.memoryHits == 1)
        _ = try cache.embed(["text 0"])
        #expect(cache.stats.misses == 21)

        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 32)
        _ = try store.cachingEmbedder(counting).embed(["shared text"])
        let other = try HashingEmbedder(dimension: 64)
        let otherCache = store.cachingEmbedder(other)
        #expect(try otherCache.embed(["shared text"])[0].count == 64)
        #expect(otherCache.stats.misses == 1)
    }
}
