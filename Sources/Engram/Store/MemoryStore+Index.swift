import Foundation

extension MemoryStore {
    // MARK: The approximate index

    /// Builds the approximate index over every memory, replacing the store's index if it has one, and
    /// writes it beside the vector file (`vectors.index`). Writes may go on meanwhile: the build reads a
    /// snapshot, then adds what was written during it. From then on every write keeps the index current,
    /// and recalls whose filter admits many memories use it (see ``recallExplained(_:k:filter:minScore:embedder:exact:)``).
    ///
    /// - Parameters:
    ///   - lists: inverted lists (nil: about 2√n for n memories).
    ///   - bits: bits per dimension of the codes the lists hold: 4 (the default: a quarter byte per
    ///     dimension, 0.13x the float vectors' memory) or 8. The candidates are re-scored exactly either
    ///     way; on the benchmarks' data both reach the same recall at the same probes, and 4 reads half
    ///     the bytes (Benchmarks/README.md).
    ///   - threads: threads for the build (nil: ``StoreOptions/searchThreads``), for a build run beside
    ///     recalls that should keep fewer.
    ///   - progress: called from the building threads as the phases advance.
    /// - Complexity: O(n × lists × dimension) arithmetic in sgemm.
    @discardableResult
    public func buildIndex(
        lists: Int? = nil, bits: Int = 4, threads: Int? = nil,
        progress: (IndexBuildProgress) -> Void = { _ in }
    ) throws -> IndexStatus {
        try scope.requireWholeStore("build the index")
        if let lists, !(1...65_536).contains(lists) {
            throw EngramError.invalid("lists", "must be from 1 to 65536")
        }
        guard bits == 8 || bits == 4 else { throw EngramError.invalid("bits", "must be 8 or 4") }
        try write { _ in }  // a writable, open store, before the long part
        let built = try withSnapshot { snapshot in
            IndexBuilder(snapshot: snapshot, threads: max(1, threads ?? options.searchThreads)).build(
                lists: lists, bits: bits, progress: progress)
        }
        let (index, counter, summary) = try write { state -> (VectorIndex, String, IndexStatus) in
            let mapping = readers.withLock { $0.current.mapping }
            let index = built.reconciled(with: state.slots, mapping: mapping)
            state.index = index
            state.indexPending = false
            state.indexDirty = false
            try publish(&state, remap: false)
            return (index, try records.meta()["commit_counter"] ?? "0", status(of: index, slots: state.slots))
        }
        try IndexFile.write(index, counter: counter, directory: URL(fileURLWithPath: path))
        return summary
    }

    /// Removes the approximate index (recalls scan exactly again).
    public func dropIndex() throws {
        try scope.requireWholeStore("drop the index")
        try write { state in
            state.index = nil
            state.indexPending = false
            state.indexDirty = false
            try IndexFile.remove(from: URL(fileURLWithPath: path))
            try publish(&state, remap: false)
        }
    }

    /// What the store's approximate index holds, or nil when it has none.
    public func indexStatus() throws -> IndexStatus? {
        try scope.require(.read, "read")
        loadIndexIfPending()
        return try withSnapshot { snapshot in snapshot.index.map { status(of: $0, slots: snapshot.slots) } }
    }

    private func status(of index: VectorIndex, slots: SlotTable) -> IndexStatus {
        let live = slots.liveCount
        return IndexStatus(
            lists: index.listCount, bits: index.bits, probes: index.probes, entries: index.entryCount,
            memories: live,
            bytes: index.bytes,
            vectorBytes: live * dimension * element.size)
    }

    /// Loads the index file the store has, if no recall has yet: reconciled with the slots (entries of
    /// memories since forgotten dropped, memories written since added), so it is exact about what it holds.
    func loadIndexIfPending() {
        guard readers.withLock({ $0.current.indexPending }) else { return }
        writer.withLock { state in
            guard state.indexPending, !state.closed else { return }
            loadPendingIndex(&state)
            // The same slots and generation, now with the index (or without the pending mark).
            let current = readers.withLock { $0.current }
            readers.withLock {
                $0.current = StoreSnapshot(
                    generation: current.generation, mapping: current.mapping, slots: current.slots,
                    names: current.names, index: state.index)
            }
        }
    }

    /// Reads the pending index file into `state` (under the writer lock): as saved when it reflects the
    /// database as this handle opened it (plus what the handle wrote since), else reconciled.
    private func loadPendingIndex(_ state: inout WriterState) {
        state.indexPending = false
        let mapping = readers.withLock { $0.current.mapping }
        let assigned = state.slots.takeAssigned()
        guard let (loaded, savedAt) = IndexFile.read(from: URL(fileURLWithPath: path), dimension: dimension)
        else { return }
        var index: VectorIndex
        if savedAt == state.openedAtCounter {
            index = loaded
            for slot in assigned where state.slots[Int(slot)].isLive {
                index.add(
                    slot: slot, tag: state.slots[Int(slot)].id.indexTag, vector: mapping.vector(Int(slot)))
            }
        } else {
            index = loaded.reconciled(with: state.slots, mapping: mapping)
        }
        state.index = index
        state.indexDirty = savedAt != state.openedAtCounter || !assigned.isEmpty
    }

    /// After a purge: the index keeps codes of the purged vectors (and of their earlier versions) until its
    /// entries are dropped, so drop every entry whose memory is gone and replace the file now (under the
    /// writer lock, after the purge's commit), that no copy outlives the purge.
    func purgeIndex(_ state: inout WriterState) throws {
        if state.indexPending { loadPendingIndex(&state) }
        guard let index = state.index else { return }
        state.index = index.renumbered({ $0 }, holding: state.slots).0
        try IndexFile.write(
            state.index!, counter: try records.meta()["commit_counter"] ?? "0",
            directory: URL(fileURLWithPath: path))
        state.indexDirty = false
    }

    /// Adds to the index the memories written since the last publish (under the writer lock, before the
    /// snapshot that shows them is published, so a recall never finds a memory the index lacks).
    func updateIndex(_ state: inout WriterState, mapping: VectorMapping) {
        if state.index == nil && state.indexPending { return }  // kept for the load
        let assigned = state.slots.takeAssigned()
        guard state.index != nil, !assigned.isEmpty else { return }
        for slot in assigned where Int(slot) < state.slots.count {
            let info = state.slots[Int(slot)]
            guard info.isLive else { continue }
            state.index!.add(slot: slot, tag: info.id.indexTag, vector: mapping.vector(Int(slot)))
        }
        state.indexDirty = true
    }

    // MARK: Planning a recall

    /// The best `k` matching slots for each (normalised) query in one snapshot, by the exact scan or the
    /// index as the planner decides, and the plan.
    func vectorTopK(
        snapshot: StoreSnapshot, filter: CompiledFilter, queries: [[Float]], k: Int, exact: Bool,
        settings: ApproximateSearch
    ) -> (ranked: [[RankedSlot]], plan: RecallPlan) {
        let total = snapshot.slots.liveCount
        var plan = RecallPlan(
            path: .exact, reason: "", estimatedMatches: total, vectorsScored: 0, listsProbed: 0, reranked: 0)
        func scanExactly(_ reason: String) -> (ranked: [[RankedSlot]], plan: RecallPlan) {
            let scored = ScanCounter()
            let ranked = SearchKernel(
                snapshot: snapshot, filter: filter, counter: scored, threads: options.searchThreads
            ).topK(queries, k: k)
            scans.add(scored.value)
            plan.reason = reason
            plan.vectorsScored = scored.value
            return (ranked, plan)
        }
        if exact { return scanExactly("exact search was asked for") }
        guard let index = snapshot.index else { return scanExactly("the store has no index") }
        if filter.matchesNothing { return scanExactly("the filter matches nothing") }
        if !filter.isUnconstrained { plan.estimatedMatches = Self.estimatedMatches(snapshot.slots, filter) }
        let limit = max(settings.exactBelow, Int(Double(total) * settings.exactFraction))
        if plan.estimatedMatches <= limit {
            return scanExactly(
                "the filter admits about \(plan.estimatedMatches) memories (at most \(limit) scan exactly)")
        }
        let search = IndexSearch(
            snapshot: snapshot, index: index, filter: filter,
            probes: settings.probes(in: index, matches: plan.estimatedMatches, total: total),
            rerank: max(k, settings.rerank))
        var works = [IndexSearch.Work](repeating: IndexSearch.Work(), count: queries.count)
        var ranked = [[RankedSlot]](repeating: [], count: queries.count)
        ranked.withUnsafeMutableBufferPointer { out in
            works.withUnsafeMutableBufferPointer { works in
                parallelSlices(queries.count, threads: options.searchThreads, aloneWhenBusy: true) {
                    _, range in
                    for q in range { out[q] = search.topK(queries[q], k: k, work: &works[q]) }
                }
            }
        }
        plan.path = .index
        plan.reason = "the filter admits about \(plan.estimatedMatches) of \(total) memories"
        plan.listsProbed = works.reduce(0) { $0 + $1.listsProbed }
        plan.reranked = works.reduce(0) { $0 + $1.reranked }
        plan.vectorsScored = works.reduce(0) { $0 + $1.codesScored + $1.reranked }
        scans.add(plan.vectorsScored)
        return (ranked, plan)
    }

    /// Slots sampled to estimate how many memories a filter admits.
    static let planSample = 4096

    /// How many live slots pass `filter`: counted when that is cheap (a small table, or namespaces that
    /// hold few), else estimated from evenly spaced slots (of the filter's namespaces, when it names some).
    static func estimatedMatches(_ slots: SlotTable, _ filter: CompiledFilter) -> Int {
        let lists = filter.namespaceIDs.map { ids in
            ids.compactMap {
                slots.namespaceSlots.indices.contains(Int($0)) ? slots.namespaceSlots[Int($0)] : nil
            }
        }
        let candidates = lists.map { $0.reduce(0) { $0 + $1.count } } ?? slots.count
        if candidates <= planSample {
            var n = 0
            slots.forEachMatch(filter) { _, _ in n += 1 }
            return n
        }
        var hits = 0
        for i in 0..<planSample {
            var position = i * candidates / planSample
            var slot = position
            if let lists {
                for list in lists {
                    if position < list.count {
                        slot = Int(list[position])
                        break
                    }
                    position -= list.count
                }
            }
            let info = slots[slot]
            if info.isLive && filter.matches(info) { hits += 1 }
        }
        return hits * candidates / planSample
    }
}
