import Foundation

/// How a memory stating a fact key's value changes that key's timeline: one rule for a store's remember
/// and for a cluster's, which reads the current values from its system of record.
package enum FactTimeline {
    /// A key's current value (live, not quarantined, validity not ended): a stored memory.
    package struct Value: Sendable {
        package var id: MemoryID
        /// When it began to hold (its `validFrom`, else its creation), seconds since 1970.
        package var validFrom: Double

        package init(id: MemoryID, validFrom: Double) {
            (self.id, self.validFrom) = (id, validFrom)
        }
    }

    /// Settles the keys of `memories[indices]` (one namespace, in batch order) against `current`, each
    /// key's stored values: a memory older than a current value holds until that value began (its
    /// `validUntil` is set); otherwise, unless it is quarantined (a planted value must not retire the true
    /// one: reported in `contradicts`) or was given its own end, it ends every current value at its start
    /// (reported in `ended`) and becomes the key's current value for the rest of the batch. Returns the
    /// stored values whose validity ends, with the time.
    package static func settle(
        _ memories: inout [Memory], indices: [Int], current: [String: [Value]],
        results: inout [RememberResult]
    ) -> [(id: MemoryID, at: Double)] {
        /// A current value: stored, or an earlier memory of this batch (its index).
        var current = current.mapValues { $0.map { (value: $0, batchIndex: Int?.none) } }
        var ending: [(id: MemoryID, at: Double)] = []
        for i in indices.sorted() {
            let memory = memories[i]
            guard let key = memory.factKey else { continue }
            let from = (memory.validFrom ?? memory.createdAt).timeIntervalSince1970
            let values = current[key] ?? []
            if let later = values.map(\.value.validFrom).filter({ $0 > from }).min() {
                // An older value than the current one: it held until the current one began.
                let until = min(memory.validUntil?.timeIntervalSince1970 ?? later, later)
                memories[i].validUntil = Date(timeIntervalSince1970: until)
                continue
            }
            guard !memory.quarantined else {
                results[i].contradicts = values.map(\.value.id)
                continue
            }
            guard memory.validUntil == nil else { continue }
            for (value, batchIndex) in values {
                if let j = batchIndex {
                    memories[j].validUntil = Date(timeIntervalSince1970: from)
                } else {
                    ending.append((value.id, from))
                }
                results[i].ended.append(value.id)
            }
            current[key] = [(Value(id: memory.id, validFrom: from), i)]
        }
        return ending
    }

    /// A key's current values made one timeline again (after quarantined values are released): in order
    /// of their start (then id), each holds until the next begins. Returns the values that end, with when.
    package static func timeline(_ values: [Value]) -> [(id: MemoryID, at: Double)] {
        let ordered = values.sorted { ($0.validFrom, $0.id) < ($1.validFrom, $1.id) }
        return zip(ordered, ordered.dropFirst()).map { ($0.id, $1.validFrom) }
    }
}
