public import Foundation

/// A handle on a store that reaches only the namespaces and actions of its ``Scope``: give each agent
/// one, so a confused or compromised agent cannot read, overwrite or forget another's memories.
///
/// Reads see only memories inside the scope: every filter is narrowed to it, and a memory outside it
/// looks exactly like an unknown one (`notFound`, left out of results), so a handle cannot even learn
/// that it exists. Asking for something that can only lie outside (a filter on another namespace,
/// remembering into one, an action the scope lacks) fails with ``EngramError/Code/permissionDenied``
/// naming the field. Checks that decide what a write touches run under the store's writer lock.
///
/// ```swift
/// let agent = try store.scoped(to: Scope(namespaces: ["acme/support"], actions: .readWrite))
/// try agent.remember(NewMemory(content: "...", namespace: "acme/support/user-42", embedding: v))
/// let hits = try agent.recall(query)             // only acme/support and below
/// try agent.forget(hits[0].memory.id)            // permissionDenied: the scope cannot forget
/// ```
public struct ScopedStore: Sendable {
    /// What this handle may reach.
    public let scope: Scope
    /// The whole store, for front ends in this package that also own its lifetime (close, stats).
    package let store: MemoryStore

    /// The embedder whose vectors the store holds (see ``MemoryStore/embedderID``).
    public var embedderID: String { store.embedderID }
    /// The dimension of the store's vectors.
    public var dimension: Int { store.dimension }

    /// Short-lived key/value entries, within the scope's namespaces.
    public var working: ScopedWorkingMemory { ScopedWorkingMemory(scope: scope, working: store.working) }

    // MARK: Read

    /// ``MemoryStore/recall(_:k:filter:minScore:embedder:)`` within the scope.
    public func recall(
        _ query: [Float], k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil,
        embedder: String? = nil
    ) throws -> [RecallHit] {
        try recall(batch: [query], k: k, filter: filter, minScore: minScore, embedder: embedder)[0]
    }

    /// ``MemoryStore/recall(batch:k:filter:minScore:embedder:)`` within the scope.
    public func recall(
        batch queries: [[Float]], k: Int = 10, filter: MemoryFilter = .all, minScore: Float? = nil,
        embedder: String? = nil
    ) throws -> [[RecallHit]] {
        try scope.require(.read, "read")
        return try store.recall(
            batch: queries, k: k, filter: narrowed(filter), minScore: minScore, embedder: embedder)
    }

    /// ``MemoryStore/recall(text:embedder:k:filter:minScore:options:)`` within the scope.
    public func recall(
        text: String, embedder: (any Embedder)?, k: Int = 10, filter: MemoryFilter = .all,
        minScore: Float? = nil,
        options: TextRecallOptions = TextRecallOptions()
    ) throws -> [RecallHit] {
        try scope.require(.read, "read")
        return try store.recall(
            text: text, embedder: embedder, k: k, filter: narrowed(filter), minScore: minScore,
            options: options)
    }

    /// ``MemoryStore/search(text:k:filter:)`` within the scope.
    public func search(text: String, k: Int = 10, filter: MemoryFilter = .all) throws -> [KeywordHit] {
        try scope.require(.read, "read")
        return try store.search(text: text, k: k, filter: narrowed(filter))
    }

    /// One memory by id.
    /// - Throws: ``EngramError/Code/notFound`` for an unknown id and for a memory outside the scope alike.
    public func memory(_ id: MemoryID) throws -> Memory {
        try scope.require(.read, "read")
        let memory = try store.memory(id)
        guard scope.contains(namespace: memory.namespace) else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        return memory
    }

    /// Stored embeddings of the memories inside the scope; other ids are left out as unknown ones are.
    public func embeddings(of ids: [MemoryID]) throws -> [MemoryID: [Float]] {
        try scope.require(.read, "read")
        return try store.embeddings(of: ids, within: scope.namespaceLimit)
    }

    /// ``MemoryStore/count(matching:)`` within the scope.
    public func count(matching filter: MemoryFilter = .all) throws -> Int {
        try scope.require(.read, "read")
        return try store.count(matching: narrowed(filter))
    }

    /// ``MemoryStore/list(filter:after:limit:)`` within the scope.
    public func list(filter: MemoryFilter = .all, after cursor: MemoryID? = nil, limit: Int = 100) throws
        -> MemoryPage
    {
        try scope.require(.read, "read")
        return try store.list(filter: narrowed(filter), after: cursor, limit: limit)
    }

    /// Older versions of a memory inside the scope (empty for one outside it, as for an unknown id).
    public func history(of id: MemoryID) throws -> [Memory] {
        try scope.require(.read, "read")
        // Versions keep their memory's namespace (updates cannot move it): a chain is all in or all out.
        return try store.history(of: id).filter { scope.contains(namespace: $0.namespace) }
    }

    // MARK: Write

    /// Throws what a write into `namespace` through this handle would (a missing action, a namespace
    /// outside the scope) without writing: for callers that check before costly work such as embedding.
    public func requireWritable(namespace: String, field: String = "namespace") throws {
        try scope.require(.write, "write")
        try scope.require(namespace: namespace, field: field)
    }

    /// Checks a memory as ``remember(_:)-(NewMemory)`` would, scope first, without storing it.
    public func validate(_ memory: NewMemory) throws {
        try requireWritable(namespace: memory.namespace)
        try store.validate(memory)
    }

    /// Checks every field but the embedding as ``remember(_:)-(NewMemory)`` would, scope first, so a
    /// refused memory never costs an embedding.
    public func validateFields(_ memory: NewMemory) throws {
        try requireWritable(namespace: memory.namespace)
        try store.validateFields(memory)
    }

    /// Stores a memory in a namespace inside the scope.
    /// - Throws: ``EngramError/Code/permissionDenied`` (field `namespace`) outside the scope.
    @discardableResult
    public func remember(_ memory: NewMemory) throws -> MemoryID {
        try remember([memory])[0]
    }

    /// Stores a batch atomically; every memory's namespace must be inside the scope.
    /// - Throws: ``EngramError/Code/permissionDenied`` naming `memories[i].namespace`; nothing is stored.
    @discardableResult
    public func remember(_ memories: [NewMemory]) throws -> [MemoryID] {
        try requireWritable(memories)
        return try store.remember(memories)
    }

    /// ``MemoryStore/remember(_:nearDuplicates:)`` within the scope: exact duplicates and near duplicates
    /// are looked for in each memory's own namespace, which lies inside the scope.
    public func remember(_ memories: [NewMemory], nearDuplicates: Float?) throws -> [RememberResult] {
        try requireWritable(memories)
        return try store.remember(memories, nearDuplicates: nearDuplicates)
    }

    /// ``MemoryStore/remember(_:mergingAbove:)`` within the scope (the merge target shares the memory's
    /// namespace, so it lies inside the scope too).
    public func remember(_ memory: NewMemory, mergingAbove threshold: Float) throws -> RememberResult {
        try requireWritable([memory])
        return try store.remember(memory, mergingAbove: threshold)
    }

    private func requireWritable(_ memories: [NewMemory]) throws {
        try scope.require(.write, "write")
        for (i, memory) in memories.enumerated() {
            try scope.require(
                namespace: memory.namespace,
                field: memories.count == 1 ? "namespace" : "memories[\(i)].namespace")
        }
    }

    /// ``MemoryStore/update(_:with:)`` for a memory inside the scope (`notFound` otherwise).
    @discardableResult
    public func update(_ id: MemoryID, with changes: MemoryChanges) throws -> Memory {
        try scope.require(.write, "write")
        return try store.update(id, with: changes, within: scope.namespaceLimit)
    }

    /// ``MemoryStore/feedback(_:helpful:)`` for a memory inside the scope (`notFound` otherwise, as for an
    /// unknown id). Feedback is a write: it needs ``Scope/Actions/write``.
    public func feedback(_ id: MemoryID, helpful: Bool) throws {
        try scope.require(.write, "write")
        try store.feedback(id, helpful: helpful, within: scope.namespaceLimit)
    }

    // MARK: Forget

    /// Forgets the given memories that lie inside the scope; others are left alone, as unknown ids are.
    /// - Returns: how many were forgotten.
    @discardableResult
    public func forget(_ ids: [MemoryID]) throws -> Int {
        try scope.require(.forget, "forget")
        return try store.forget(ids, within: scope.namespaceLimit)
    }

    /// Forgets one memory inside the scope.
    /// - Throws: ``EngramError/Code/notFound`` for an unknown id and for a memory outside the scope alike.
    public func forget(_ id: MemoryID) throws {
        if try forget([id]) == 0 { throw EngramError(.notFound, "no memory with this id", field: "id") }
    }

    /// Forgets every memory inside the scope that matches the filter.
    @discardableResult
    public func forget(matching filter: MemoryFilter) throws -> Int {
        try scope.require(.forget, "forget")
        return try store.forget(matching: narrowed(filter))
    }

    // MARK: Scope

    /// The filter ANDed with the scope.
    /// - Throws: ``EngramError/Code/permissionDenied`` when its namespace condition lies wholly outside.
    private func narrowed(_ filter: MemoryFilter) throws -> MemoryFilter {
        if let condition = filter.namespace, !scope.overlaps(condition) {
            throw EngramError(
                .permissionDenied, "the namespace is outside this handle's scope", field: "filter.namespace")
        }
        if scope.isUnrestrictedNamespaces { return filter }
        var narrowed = filter
        narrowed.scope = scope.namespaces
        return narrowed
    }
}

extension MemoryStore {
    /// A handle that reaches only `scope`'s namespaces and actions (see ``ScopedStore``). Handles are
    /// cheap values; make one per agent. A read-only store still refuses writes through any handle.
    /// `scoped(to: .unrestricted)` reaches everything, as the store itself does.
    public func scoped(to scope: Scope) -> ScopedStore {
        ScopedStore(scope: scope, store: self)
    }
}

/// Working memory within a scope: every namespace must be inside it; reading needs
/// ``Scope/Actions/read``, setting, deleting and promoting need ``Scope/Actions/write``.
public struct ScopedWorkingMemory: Sendable {
    /// What this handle may reach.
    public let scope: Scope
    let working: WorkingMemory

    /// ``WorkingMemory/set(_:_:namespace:ttl:)`` inside the scope.
    public func set(_ key: String, _ value: JSONValue, namespace: String, ttl: TimeInterval) throws {
        try check(.write, "write", namespace)
        try working.set(key, value, namespace: namespace, ttl: ttl)
    }

    /// ``WorkingMemory/get(_:namespace:)`` inside the scope.
    public func get(_ key: String, namespace: String) throws -> WorkingEntry? {
        try check(.read, "read", namespace)
        return try working.get(key, namespace: namespace)
    }

    /// ``WorkingMemory/list(namespace:)`` inside the scope.
    public func list(namespace: String) throws -> [WorkingEntry] {
        try check(.read, "read", namespace)
        return try working.list(namespace: namespace)
    }

    /// ``WorkingMemory/delete(_:namespace:)`` inside the scope.
    @discardableResult
    public func delete(_ key: String, namespace: String) throws -> Bool {
        try check(.write, "write", namespace)
        return try working.delete(key, namespace: namespace)
    }

    /// ``WorkingMemory/promote(_:namespace:embedding:kind:tags:)`` inside the scope.
    public func promote(
        _ key: String, namespace: String, embedding: [Float], kind: MemoryKind = .note, tags: [String] = []
    ) throws -> MemoryID {
        try check(.write, "write", namespace)
        return try working.promote(key, namespace: namespace, embedding: embedding, kind: kind, tags: tags)
    }

    private func check(_ action: Scope.Actions, _ verb: String, _ namespace: String) throws {
        try scope.require(action, verb)
        try Limits.validateNamespace(namespace)
        try scope.require(namespace: namespace)
    }
}
