import Engram
import Foundation

/// The scope `$ENGRAM_SCOPE` grants this process, if any: comma-separated namespace subtrees, with the
/// actions in `$ENGRAM_SCOPE_ACTIONS` (comma-separated `read`, `write`, `forget`; default `read`).
///
/// An operator sets them in the environment of an agent's tool process; the agent composes only the
/// command line, so it cannot widen them. Under a scope, data commands see and touch only the scope,
/// and commands that need the whole store (init, stats, health, compact, reembed) are refused.
enum ProcessScope {
    static func current() throws -> Scope? {
        let environment = CLIIO.current.environment
        guard let namespaces = environment["ENGRAM_SCOPE"] else { return nil }
        let names = namespaces.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var actions: Scope.Actions = []
        for word in (environment["ENGRAM_SCOPE_ACTIONS"] ?? "read").split(separator: ",") {
            switch word.trimmingCharacters(in: .whitespaces) {
            case "read": actions.insert(.read)
            case "write": actions.insert(.write)
            case "forget": actions.insert(.forget)
            case let other:
                throw EngramError.invalid("ENGRAM_SCOPE_ACTIONS", "'\(other)' is not one of read, write, forget")
            }
        }
        do {
            return try Scope(namespaces: names, actions: actions)
        } catch let error as EngramError {
            let field = error.field == "scope.actions" ? "ENGRAM_SCOPE_ACTIONS" : "ENGRAM_SCOPE"
            throw EngramError(error.code, error.message, field: field)
        }
    }

    /// Refuses a command that needs the whole store when a scope is set.
    static func requireWholeStore(_ command: String) throws {
        if let scope = try current() {
            throw EngramError(
                .permissionDenied,
                "`engram \(command)` needs the whole store; $ENGRAM_SCOPE limits this process to \(scope.namespaces.joined(separator: ", "))",
                field: "ENGRAM_SCOPE")
        }
    }
}

/// The store as this process may use it: the whole store, or only what `$ENGRAM_SCOPE` grants. Data
/// commands go through this; the calls mirror ``MemoryStore``'s.
struct StoreHandle {
    let store: MemoryStore
    let scoped: ScopedStore?

    var embedderID: String { store.embedderID }
    var dimension: Int { store.dimension }
    var working: WorkingHandle { WorkingHandle(store: store, scoped: scoped?.working) }

    func close() throws { try store.close() }
    func validate(_ memory: NewMemory) throws {
        if let scoped { return try scoped.validate(memory) }
        try store.validate(memory)
    }

    /// Every field but the embedding, and the scope: run it before embedding, so a refused memory costs
    /// no embedding (nor a line in the store's embedding cache).
    func validateFields(_ memory: NewMemory) throws {
        if let scoped { return try scoped.validateFields(memory) }
        try store.validateFields(memory)
    }

    /// Refuses early what a write into `namespace` would refuse, before costly work such as embedding.
    func requireWritable(namespace: String) throws {
        try scoped?.requireWritable(namespace: namespace)
    }

    func recall(_ query: [Float], k: Int, filter: MemoryFilter, minScore: Float?) throws -> [RecallHit] {
        if let scoped { return try scoped.recall(query, k: k, filter: filter, minScore: minScore) }
        return try store.recall(query, k: k, filter: filter, minScore: minScore)
    }

    func recall(
        text: String, embedder: (any Embedder)?, k: Int, filter: MemoryFilter, minScore: Float?,
        options: TextRecallOptions
    ) throws -> [RecallHit] {
        if let scoped {
            return try scoped.recall(text: text, embedder: embedder, k: k, filter: filter, minScore: minScore, options: options)
        }
        return try store.recall(text: text, embedder: embedder, k: k, filter: filter, minScore: minScore, options: options)
    }

    func feedback(_ id: MemoryID, helpful: Bool) throws {
        if let scoped { return try scoped.feedback(id, helpful: helpful) }
        try store.feedback(id, helpful: helpful)
    }

    func search(text: String, k: Int, filter: MemoryFilter) throws -> [KeywordHit] {
        if let scoped { return try scoped.search(text: text, k: k, filter: filter) }
        return try store.search(text: text, k: k, filter: filter)
    }

    func memory(_ id: MemoryID) throws -> Memory {
        if let scoped { return try scoped.memory(id) }
        return try store.memory(id)
    }

    func embeddings(of ids: [MemoryID]) throws -> [MemoryID: [Float]] {
        if let scoped { return try scoped.embeddings(of: ids) }
        return try store.embeddings(of: ids)
    }

    func list(filter: MemoryFilter, after cursor: MemoryID? = nil, limit: Int) throws -> MemoryPage {
        if let scoped { return try scoped.list(filter: filter, after: cursor, limit: limit) }
        return try store.list(filter: filter, after: cursor, limit: limit)
    }

    func count(matching filter: MemoryFilter) throws -> Int {
        if let scoped { return try scoped.count(matching: filter) }
        return try store.count(matching: filter)
    }

    func history(of id: MemoryID) throws -> [Memory] {
        if let scoped { return try scoped.history(of: id) }
        return try store.history(of: id)
    }

    @discardableResult
    func remember(_ memories: [NewMemory]) throws -> [MemoryID] {
        if let scoped { return try scoped.remember(memories) }
        return try store.remember(memories)
    }

    func remember(_ memory: NewMemory) throws -> MemoryID { try remember([memory])[0] }

    func remember(_ memories: [NewMemory], nearDuplicates: Float?) throws -> [RememberResult] {
        if let scoped { return try scoped.remember(memories, nearDuplicates: nearDuplicates) }
        return try store.remember(memories, nearDuplicates: nearDuplicates)
    }

    func remember(_ memory: NewMemory, mergingAbove threshold: Float) throws -> RememberResult {
        if let scoped { return try scoped.remember(memory, mergingAbove: threshold) }
        return try store.remember(memory, mergingAbove: threshold)
    }

    func update(_ id: MemoryID, with changes: MemoryChanges) throws -> Memory {
        if let scoped { return try scoped.update(id, with: changes) }
        return try store.update(id, with: changes)
    }

    func forget(_ ids: [MemoryID]) throws -> Int {
        if let scoped { return try scoped.forget(ids) }
        return try store.forget(ids)
    }

    func forget(matching filter: MemoryFilter) throws -> Int {
        if let scoped { return try scoped.forget(matching: filter) }
        return try store.forget(matching: filter)
    }
}

/// Working memory as this process may use it (see ``StoreHandle``).
struct WorkingHandle {
    let store: MemoryStore
    let scoped: ScopedWorkingMemory?

    func set(_ key: String, _ value: JSONValue, namespace: String, ttl: TimeInterval) throws {
        if let scoped { return try scoped.set(key, value, namespace: namespace, ttl: ttl) }
        try store.working.set(key, value, namespace: namespace, ttl: ttl)
    }

    func get(_ key: String, namespace: String) throws -> WorkingEntry? {
        if let scoped { return try scoped.get(key, namespace: namespace) }
        return try store.working.get(key, namespace: namespace)
    }

    func list(namespace: String) throws -> [WorkingEntry] {
        if let scoped { return try scoped.list(namespace: namespace) }
        return try store.working.list(namespace: namespace)
    }

    func delete(_ key: String, namespace: String) throws -> Bool {
        if let scoped { return try scoped.delete(key, namespace: namespace) }
        return try store.working.delete(key, namespace: namespace)
    }

    func promote(_ key: String, namespace: String, embedding: [Float], kind: MemoryKind, tags: [String]) throws -> MemoryID {
        if let scoped { return try scoped.promote(key, namespace: namespace, embedding: embedding, kind: kind, tags: tags) }
        return try store.working.promote(key, namespace: namespace, embedding: embedding, kind: kind, tags: tags)
    }
}
