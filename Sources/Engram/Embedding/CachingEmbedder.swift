import Foundation
import Synchronization

/// Counters of an ``CachingEmbedder``.
public struct EmbeddingCacheStats: Sendable, Codable, Hashable {
    /// Texts answered from memory.
    public var memoryHits = 0
    /// Texts answered from the store's persistent cache.
    public var persistentHits = 0
    /// Texts the underlying embedder had to embed.
    public var misses = 0

    /// Share of texts served from a cache, or nil before the first text.
    public var hitRate: Double? {
        let total = memoryHits + persistentHits + misses
        return total == 0 ? nil : Double(memoryHits + persistentHits) / Double(total)
    }
}

/// Caches what doesn't change: the vector of a text under a given embedder.
///
/// Wraps any ``Embedder``. Looks a text up in an in-memory LRU, then (when attached to a store) in the
/// store's SQLite `embedding_cache` table, keyed by embedder identifier and the SHA-256 of the text;
/// only misses reach the underlying embedder, and their vectors are written to both caches. Get one
/// bound to a store with ``MemoryStore/cachingEmbedder(_:capacity:)``; its hit rate shows in
/// ``MemoryStore/stats()``.
public final class CachingEmbedder: Embedder, Sendable {
    /// The embedder whose vectors are cached.
    public let base: any Embedder
    /// Entries kept in memory.
    public let capacity: Int
    private let store: RecordStore?
    private let writable: Bool
    private let state: Locked<LRU>
    private let counters: Locked<EmbeddingCacheStats>

    /// The base embedder's identifier: cached vectors are the base's vectors.
    public var identifier: String { base.identifier }
    /// The base embedder's dimension.
    public var dimension: Int { base.dimension }

    /// An in-memory cache only.
    public convenience init(_ base: any Embedder, capacity: Int = 10_000) {
        self.init(base, capacity: capacity, store: nil, writable: false)
    }

    init(_ base: any Embedder, capacity: Int, store: RecordStore?, writable: Bool) {
        self.base = base
        self.capacity = max(1, capacity)
        self.store = store
        self.writable = writable
        state = Locked(LRU(capacity: max(1, capacity)))
        counters = Locked(EmbeddingCacheStats())
    }

    /// Hits and misses so far.
    public var stats: EmbeddingCacheStats { counters.withLock { $0 } }

    /// Embeds texts, serving repeats from the caches.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        let keys = texts.map(Self.key)
        var result = [[Float]?](repeating: nil, count: texts.count)
        var memoryHits = 0
        state.withLock { lru in
            for (i, key) in keys.enumerated() {
                if let v = lru.get(key) {
                    result[i] = v
                    memoryHits += 1
                }
            }
        }
        var missing = result.indices.filter { result[$0] == nil }
        var persistentHits = 0
        if let store, !missing.isEmpty {
            let found = try store.cachedEmbeddings(
                embedder: identifier, hashes: Array(Set(missing.map { keys[$0] })))
            for i in missing {
                if let v = found[keys[i]], v.count == dimension {
                    result[i] = v
                    persistentHits += 1
                }
            }
            missing = missing.filter { result[$0] == nil }
        }
        if !missing.isEmpty {
            let vectors = try base.embed(missing.map { texts[$0] })
            for (i, v) in zip(missing, vectors) { result[i] = v }
            if let store, writable {
                try store.cacheEmbeddings(embedder: identifier, zip(missing, vectors).map { (keys[$0], $1) })
            }
        }
        state.withLock { lru in
            for (key, v) in zip(keys, result) { if let v { lru.set(key, v) } }
        }
        counters.withLock {
            $0.memoryHits += memoryHits
            $0.persistentHits += persistentHits
            $0.misses += missing.count
        }
        return result.map { $0 ?? [] }
    }

    /// Drops the vectors of texts with these hashes (``key(_:)``) from memory (a purge).
    func forget(hashes: Set<String>) {
        state.withLock { lru in for hash in hashes { lru.remove(hash) } }
    }

    static func key(_ text: String) -> String {
        var digest = SHA256Digest()
        digest.update(Array(text.utf8))
        return digest.hexDigest()
    }
}

/// A small least-recently-used map: a dictionary plus a use counter per key, evicting the oldest
/// quarter when full (amortised O(1) per access).
struct LRU {
    let capacity: Int
    private var entries: [String: (vector: [Float], used: UInt64)] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func get(_ key: String) -> [Float]? {
        guard let entry = entries[key] else { return nil }
        clock += 1
        entries[key] = (entry.vector, clock)
        return entry.vector
    }

    mutating func set(_ key: String, _ vector: [Float]) {
        clock += 1
        entries[key] = (vector, clock)
        if entries.count > capacity {
            let evict = entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, capacity / 4)).map(
                \.key)
            for key in evict { entries[key] = nil }
        }
    }

    mutating func remove(_ key: String) { entries[key] = nil }

    var count: Int { entries.count }
}

extension MemoryStore {
    /// A caching wrapper around `embedder` that keeps vectors in memory and in this store's database,
    /// so repeated texts (queries, re-imports) are embedded once. Its counters appear in ``stats()``
    /// for the lifetime of this handle. A read-only handle reads the persistent cache but never adds to it.
    public func cachingEmbedder(_ embedder: any Embedder, capacity: Int = 10_000) -> CachingEmbedder {
        let cache = CachingEmbedder(embedder, capacity: capacity, store: records, writable: !options.readOnly)
        embeddingCaches.withLock { $0.append(cache) }
        return cache
    }

    /// Combined counters of the caching embedders made by this handle.
    var embeddingCacheStats: EmbeddingCacheStats {
        embeddingCaches.withLock { caches in
            caches.reduce(into: EmbeddingCacheStats()) { total, cache in
                let s = cache.stats
                total.memoryHits += s.memoryHits
                total.persistentHits += s.persistentHits
                total.misses += s.misses
            }
        }
    }
}
