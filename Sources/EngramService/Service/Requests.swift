package import Engram
package import Foundation

// The typed requests and results of ``MemoryService``: what every front end builds from its own
// input (flags, a JSON body, tool arguments) and renders in its own way (text, JSON). Their JSON
// forms are in `Wire/`.

/// Memories to store: one, or a batch stored atomically (all or none).
package struct RememberRequest: Sendable {
    /// The memories; an empty `embedding` is filled by the store's embedder.
    package var memories: [NewMemory]
    /// Report (or, with ``merge``, merge into) an older memory of the namespace at least this similar.
    package var nearDuplicate: Float?
    /// Merge the single memory into its near duplicate as a new version instead of storing it.
    package var merge = false
    /// Errors name a memory by its place in the batch (`memories[2].content`).
    package var isBatch: Bool

    package init(
        memories: [NewMemory], nearDuplicate: Float? = nil, merge: Bool = false, isBatch: Bool? = nil
    ) {
        self.memories = memories
        self.nearDuplicate = nearDuplicate
        self.merge = merge
        self.isBatch = isBatch ?? (memories.count > 1)
    }
}

/// A recall: a text (ranked by its options) or a vector (exact cosine).
package struct RecallRequest: Sendable {
    /// What to look for.
    package enum Query: Sendable {
        /// A text, embedded with the store's embedder unless the mode is keyword.
        case text(String, TextRecallOptions)
        /// A query vector of the store's dimension.
        case vector([Float])
    }

    package var query: Query
    package var k = 10
    package var filter = MemoryFilter.all
    package var minScore: Float?
    /// What the caller's input calls the query vector, for errors about it (`vector` in JSON, `query`
    /// for the CLI, whose vector replaces the query text).
    package var vectorField = "vector"
    /// Also render the hits for a prompt (``RecalledContext``): `format: "prompt"`.
    package var rendersPrompt = false
    /// Scan every matching vector even when the store's approximate index would serve the recall.
    package var exact = false
    /// Also say how the vectors were searched (``RecallPlan``): `explain: true`.
    package var explainsPlan = false
    /// On a cluster node: a write answer's `token`, which the recall must see (see ``ClusterBackend``).
    package var token: String?
    /// On a cluster node: the request as its caller sent it, for the nodes holding the other shards.
    package var forwarded: ForwardedRecall?
    /// On a cluster node: the text's embedding, made once by the node gathering the recall and passed to
    /// the others (`Engram-Share-Embedding`), so no node embeds the text again.
    package var queryEmbedding: [Float]?

    package init(query: Query, k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil) {
        self.query = query
        self.k = k
        self.filter = filter
        self.minScore = minScore
    }
}

/// A keyword search (BM25).
package struct SearchRequest: Sendable {
    package var text: String
    package var k = 10
    package var filter = MemoryFilter.all

    package init(text: String, k: Int = 10, filter: MemoryFilter = .all) {
        self.text = text
        self.k = k
        self.filter = filter
    }
}

/// A page of memories in id (creation) order.
package struct ListRequest: Sendable {
    package var filter = MemoryFilter.all
    package var limit = 100
    package var cursor: MemoryID?

    package init(filter: MemoryFilter = .all, limit: Int = 100, cursor: MemoryID? = nil) {
        self.filter = filter
        self.limit = limit
        self.cursor = cursor
    }
}

/// A new version of a memory with some fields changed.
package struct UpdateRequest: Sendable {
    package var id: MemoryID
    package var changes: MemoryChanges
    /// A changed text without an embedding keeps the old vector when the store has no built-in
    /// embedder (the CLI's `update`), instead of failing (the API's).
    package var keepsEmbeddingWithoutEmbedder = false

    package init(id: MemoryID, changes: MemoryChanges, keepsEmbeddingWithoutEmbedder: Bool = false) {
        self.id = id
        self.changes = changes
        self.keepsEmbeddingWithoutEmbedder = keepsEmbeddingWithoutEmbedder
    }
}

/// The answer to an update: the new version, and whether its old embedding was kept.
package struct UpdateResult: Sendable {
    package var memory: Memory
    package var keptEmbedding: Bool
}

/// A working-memory entry to write.
package struct WorkingSetRequest: Sendable {
    package var namespace: String
    package var key: String
    package var value: JSONValue
    package var ttl: TimeInterval

    package init(namespace: String, key: String, value: JSONValue, ttl: TimeInterval) {
        self.namespace = namespace
        self.key = key
        self.value = value
        self.ttl = ttl
    }
}

/// A working-memory entry to turn into a long-term memory.
package struct PromoteRequest: Sendable {
    package var namespace: String
    package var key: String
    package var kind = MemoryKind.note
    package var tags: [String] = []

    package init(namespace: String, key: String, kind: MemoryKind = .note, tags: [String] = []) {
        self.namespace = namespace
        self.key = key
        self.kind = kind
        self.tags = tags
    }
}

/// Store figures as a caller's scope may see them: everything for a scope over every namespace,
/// otherwise only the memories inside it (by namespace).
package enum StatsResult: Sendable {
    case whole(StoreStats)
    case visible(memories: Int, byNamespace: [String: Int], dimension: Int, embedder: String)
}

/// Which memories a purge removes (with every earlier version of each).
package enum PurgeTarget: Sendable {
    /// These memories.
    case ids([MemoryID])
    /// Every memory written with this source.
    case source(MemorySource)
    /// These memories and everything derived from them.
    case derivedFrom([MemoryID])
    /// Every memory matching the filter.
    case filter(MemoryFilter)
}
