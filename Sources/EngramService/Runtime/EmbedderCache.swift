import Engram
import Synchronization

/// The store's embedder, loaded once per process (a model is large and slow to load), behind
/// the store's embedding cache.
final class EmbedderCache: Sendable {
    private let store: MemoryStore
    private let resolver: EmbedderResolver
    private let loaded = Locked<(any Embedder)?>(nil)

    init(store: MemoryStore, resolver: EmbedderResolver) {
        self.store = store
        self.resolver = resolver
    }

    /// The embedder, loading it on first use (callers wait for one load rather than racing).
    func embedder() throws -> any Embedder {
        try loaded.withLock { loaded in
            if let loaded { return loaded }
            let embedder = try resolver.textEmbedder(for: store)
            loaded = embedder
            return embedder
        }
    }

    /// Whether Engram can embed text for this store (false for a store of vectors its callers bring).
    func hasBuiltInEmbedder() throws -> Bool {
        do {
            _ = try embedder()
            return true
        } catch let error as EngramError where error.code == .invalidArgument && error.field == "embedder" {
            return false
        }
    }
}

/// An embedder that answers with a vector computed beforehand (by a coalesced batch), so that the
/// library's text recall fuses it without embedding the text again.
struct PrecomputedEmbedder: Embedder {
    let identifier: String
    let vector: [Float]
    var dimension: Int { vector.count }

    func embed(_ texts: [String]) throws -> [[Float]] { texts.map { _ in vector } }
}
