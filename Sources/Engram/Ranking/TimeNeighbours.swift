/// Memories next to each other in time, as context for ranking: in a conversation or an episode log the
/// turn that answers a question often sits right after (or before) the turn that matched its words.
///
/// A memory's time neighbours are the memories of its namespace that pass the recall's filter and come
/// just before and just after it in (creation time, id) order, if they were created within `window`
/// seconds of it: memories written together (one conversation, one episode) explain each other; records
/// days apart need not. Text recall adds to each candidate's
/// relevance `weight × ` the best relevance among its neighbours, and takes in as candidates the
/// neighbours of candidates that neither retriever returned (their own relevance counting 0).
enum TimeNeighbours {
    /// The previous and next filter-passing memory of each of `targets` (live, filter-passing slots)
    /// within its namespace. One pass over each namespace holding a target: O(n log t).
    static func of(
        _ targets: [Int32], in slots: SlotTable, filter: CompiledFilter, window: Double
    ) -> [Int32: (previous: Int32?, next: Int32?)] {
        func key(_ slot: Int32) -> (Double, MemoryID) {
            let info = slots[Int(slot)]
            return (info.createdAt, info.id)
        }
        func before(_ a: (Double, MemoryID), _ b: (Double, MemoryID)) -> Bool {
            a.0 != b.0 ? a.0 < b.0 : a.1 < b.1
        }
        var result: [Int32: (previous: Int32?, next: Int32?)] = [:]
        let byNamespace = Dictionary(grouping: Set(targets), by: { slots[Int($0)].namespace })
        for (namespace, group) in byNamespace {
            let sorted = group.sorted { before(key($0), key($1)) }
            let keys = sorted.map(key)
            // The closest memory found so far on each side of each target, with its key.
            var previous = [(slot: Int32, key: (Double, MemoryID))?](repeating: nil, count: sorted.count)
            var next = [(slot: Int32, key: (Double, MemoryID))?](repeating: nil, count: sorted.count)
            for slot in slots.namespaceSlots[Int(namespace)] {
                let info = slots[Int(slot)]
                guard info.isLive, filter.matches(info) else { continue }
                let k = (info.createdAt, info.id)
                // The first target after this memory: the memory is a candidate for its previous one
                // (a target between them would itself be closer, and is visited too).
                var lo = 0, hi = keys.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if before(k, keys[mid]) { hi = mid } else { lo = mid + 1 }
                }
                if lo < keys.count, previous[lo].map({ before($0.key, k) }) ?? true {
                    previous[lo] = (slot, k)
                }
                // The last target before it (skipping the target itself): the memory may be its next one.
                var last = lo - 1
                if last >= 0, sorted[last] == slot { last -= 1 }
                if last >= 0, next[last].map({ before(k, $0.key) }) ?? true { next[last] = (slot, k) }
            }
            // The adjacent memory or none: one farther away than the window is not context either.
            func near(_ found: (slot: Int32, key: (Double, MemoryID))?, _ i: Int) -> Int32? {
                found.flatMap { abs($0.key.0 - keys[i].0) <= window ? $0.slot : nil }
            }
            for (i, target) in sorted.enumerated() {
                result[target] = (near(previous[i], i), near(next[i], i))
            }
        }
        return result
    }

    /// The context boost of every candidate and of every neighbour that is not one: `weight ×` the best
    /// relevance among its neighbours that are candidates.
    static func context(
        relevance: [Int32: Double], neighbours: [Int32: (previous: Int32?, next: Int32?)], weight: Double
    ) -> [Int32: Double] {
        var best: [Int32: Double] = [:]
        for (slot, r) in relevance {
            guard let around = neighbours[slot] else { continue }
            // Each candidate lifts its neighbours; a neighbour's best candidate neighbour wins.
            for n in [around.previous, around.next].compactMap({ $0 }) { best[n] = max(best[n] ?? 0, r) }
            best[slot] = best[slot] ?? 0
        }
        return best.mapValues { weight * $0 }
    }
}
