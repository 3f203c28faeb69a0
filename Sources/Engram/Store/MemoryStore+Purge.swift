import Foundation

/// What a purge removed.
public struct PurgeResult: Sendable, Hashable {
    /// Ids of the live memories removed.
    public var memories: [MemoryID]
    /// Ids of every version removed, live ones and earlier ones from history.
    public var versions: [MemoryID]
}

extension MemoryStore {
    /// Removes memories so that nothing of them stays in the store's files: every version in history,
    /// their full-text entries, their vectors (overwritten with zeros on disk, as is every free vector
    /// slot, which may hold an earlier version's vector), cached embeddings of their text and the pages
    /// SQLite freed (secure delete), and the WAL (emptied by a checkpoint). A tombstone per version
    /// records that it was purged, when and by whom, without content; the audit log records the purge.
    /// Needs the ``Scope/Actions/forget`` action; memories outside the scope are left alone.
    ///
    /// Each id may name a live memory or an earlier version: the whole chain of versions goes.
    ///
    /// - Complexity: O(versions) deletes, plus a merge of the whole full-text index and a checkpoint.
    @discardableResult
    public func purge(_ ids: [MemoryID], reason: String = "") throws -> PurgeResult {
        try purge(.ids(ids), reason: reason)
    }

    /// Purges every memory written with `source`, and every version of them (see ``purge(_:reason:)``).
    @discardableResult
    public func purge(source: MemorySource, reason: String = "") throws -> PurgeResult {
        try purge(.source(source.rawValue), reason: reason)
    }

    /// Purges these memories and everything derived from them, transitively (``Memory/derivedFrom``): what
    /// a tainted source led to (see ``purge(_:reason:)``).
    @discardableResult
    public func purge(derivedFrom roots: [MemoryID], reason: String = "") throws -> PurgeResult {
        try purge(.lineage(roots), reason: reason)
    }

    /// Purges every memory matching a filter (see ``purge(_:reason:)``).
    @discardableResult
    public func purge(matching filter: MemoryFilter, reason: String = "") throws -> PurgeResult {
        try scope.require(.forget, "forget")
        return try purge(.ids(matchingSlots(scope.narrowed(filter)).map(\.id)), reason: reason)
    }

    /// What purges left: a tombstone per purged version, oldest first, inside the handle's scope.
    public func tombstones() throws -> [Tombstone] {
        try scope.require(.read, "read")
        try checkOpen()
        return try records.tombstones().filter { scope.contains(namespace: $0.namespace) }
    }

    private func purge(_ seed: RecordStore.PurgeSeed, reason: String) throws -> PurgeResult {
        try scope.require(.forget, "forget")
        try Limits.validateText(reason, field: "reason", required: false)
        return try write { state in
            let versions = try records.purgeVersions(seed).filter { scope.contains(namespace: $0.namespace) }
            guard !versions.isEmpty else { return PurgeResult(memories: [], versions: []) }
            let live = versions.filter { $0.live != nil }
            let result = PurgeResult(memories: live.map(\.id), versions: versions.map(\.id))
            try records.purge(
                versions, reason: reason, at: nowSeconds(), actor: scope.actor,
                audit: [
                    auditEvent("purge", result.versions, "memories=\(live.count);versions=\(versions.count)")
                ])
            let slots = live.compactMap { $0.live?.slot }
            for slot in slots { state.slots[Int(slot)] = SlotInfo() }
            state.pendingFree.append((state.generation + 1, slots))
            // The purged rows, and every free row: one may hold an earlier version's vector.
            if let vectors = state.vectors {
                let free = state.free + state.pendingFree.flatMap(\.slots)
                let zero = [Float](repeating: 0, count: dimension)
                try vectors.write(Set(free).sorted().map { ($0, zero) })
                try vectors.sync()
            }
            let texts = Set(versions.map(\.textHash))
            for cache in embeddingCaches.withLock({ $0 }) { cache.forget(hashes: texts) }
            try purgeIndex(&state)
            try publish(&state, remap: false)
            return result
        }
    }
}
