import Foundation

extension MemoryStore {
    /// Records whether a recalled memory helped the agent that used it. The counts are stored durably with
    /// the memory (``Memory/helpfulCount``, ``Memory/unhelpfulCount``), kept by ``update(_:with:)``, shown
    /// by ``stats()``, and lift or lower the memory in hybrid recall (``RankingSignals/feedback``).
    ///
    /// - Throws: ``EngramError/Code/notFound`` when no live memory has this id.
    public func feedback(_ id: MemoryID, helpful: Bool) throws {
        try scope.require(.write, "write")
        try feedback(id, helpful: helpful, within: scope.namespaceLimit)
    }

    /// ``feedback(_:helpful:)`` that treats a memory outside `scope` as unknown, checked under the writer lock.
    func feedback(_ id: MemoryID, helpful: Bool, within scope: Scope?) throws {
        try write { state in
            if let scope {
                guard let (_, slot) = try records.locate([id])[id] else {
                    throw EngramError(.notFound, "no memory with this id", field: "id")
                }
                let names = state.names.namespaces.names
                let ns = Int(state.slots[Int(slot)].namespace)
                guard names.indices.contains(ns), scope.contains(namespace: names[ns]) else {
                    throw EngramError(.notFound, "no memory with this id", field: "id")
                }
            }
            guard try records.recordFeedback(id, helpful: helpful) else {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
        }
    }
}
