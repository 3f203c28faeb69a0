import Foundation
import Synchronization

extension MemoryStore {
    /// Stores one memory and returns its new id.
    ///
    /// - Throws: ``EngramError`` naming the field when the memory is invalid; nothing is stored then.
    @discardableResult
    public func remember(_ memory: NewMemory) throws -> MemoryID {
        try remember([memory])[0]
    }

    /// Stores a batch atomically: either every memory is stored, or (on any error) none is.
    ///
    /// Vectors are written to free or appended slots and made durable as ``Durability`` asks, and only
    /// then is the SQLite transaction that points to them committed. An exact duplicate (see
    /// ``remember(_:nearDuplicates:)``) is not stored again: its place in the result holds the id of
    /// the memory that already says the same.
    ///
    /// - Returns: the ids, in the order of `memories`.
    /// - Throws: ``EngramError`` naming the field and the batch index (`memories[3].content`).
    /// - Complexity: O(n × dimension) plus one SQLite transaction.
    @discardableResult
    public func remember(_ memories: [NewMemory]) throws -> [MemoryID] {
        try requireWritable(memories)
        return try remember(memories, consuming: nil).map(\.id)
    }

    /// Stores a batch atomically and says, for each memory, whether it was stored or was an exact
    /// duplicate, and which older memory of its namespace is most similar above `nearDuplicates`.
    ///
    /// An exact duplicate is a live memory of the same namespace whose content, cause and outcome equal
    /// the new one's after Unicode normalisation, case folding and collapsing whitespace; it is not
    /// stored twice (also within one batch). Near duplicates are only reported here; see
    /// ``remember(_:mergingAbove:)`` to merge one.
    ///
    /// - Parameters:
    ///   - memories: the memories to store, at most ``Limits/maxBatch``.
    ///   - nearDuplicates: report the most similar memory of the same namespace whose cosine reaches this
    ///     value (nil: do not look; each memory then costs no extra scan).
    /// - Complexity: as ``remember(_:)-([NewMemory])``, plus one exact scan of each namespace written
    ///   when `nearDuplicates` is given.
    public func remember(_ memories: [NewMemory], nearDuplicates: Float?) throws -> [RememberResult] {
        try requireWritable(memories)
        if let t = nearDuplicates, !(t.isFinite && (-1...1).contains(t)) {
            throw EngramError.invalid("nearDuplicates", "must be a cosine from -1 to 1")
        }
        return try remember(memories, consuming: nil, nearDuplicates: nearDuplicates)
    }

    /// Stores one memory, unless a memory of its namespace is at least `threshold` similar (cosine): then
    /// the most similar one gets a new version with this memory's fields and embedding
    /// (``update(_:with:)``; the old version stays in ``history(of:)``), and the result says `merged`.
    /// An exact duplicate is neither stored nor merged. The look-up and the write are separate steps: a
    /// concurrent writer in between can make the merge target vanish (`notFound`) or a new neighbour be missed.
    public func remember(_ memory: NewMemory, mergingAbove threshold: Float) throws -> RememberResult {
        try requireWritable([memory])
        guard threshold.isFinite, (-1...1).contains(threshold) else {
            throw EngramError.invalid("threshold", "must be a cosine from -1 to 1")
        }
        let item = try prepare(memory, now: currentTime())
        let hash = ContentHash.of(
            content: item.memory.content, cause: item.memory.cause, outcome: item.memory.outcome)
        if let id = try records.duplicates(namespace: memory.namespace, hashes: [hash], now: nowSeconds())[
            hash]
        {
            return RememberResult(id: id, status: .duplicate)
        }
        guard let near = try withSnapshot({ nearest([item], threshold: threshold, in: $0) }).first?.1 else {
            return try remember([memory], nearDuplicates: nil)[0]
        }
        let merged = try update(
            near.id,
            with: MemoryChanges(
                content: memory.content, cause: .some(memory.cause), outcome: .some(memory.outcome),
                succeeded: .some(memory.succeeded), kind: memory.kind, tags: memory.tags,
                importance: memory.importance, metadata: memory.metadata, expiresAt: .some(memory.expiresAt),
                embedding: memory.embedding))
        return RememberResult(id: merged.id, status: .merged, nearDuplicate: near)
    }

    /// ``remember(_:)-([NewMemory])`` that also deletes a working-memory entry in the same transaction
    /// (promotion): both happen or neither does.
    func remember(
        _ memories: [NewMemory], consuming entry: (namespace: String, key: String)?,
        nearDuplicates: Float? = nil
    ) throws -> [RememberResult] {
        guard !memories.isEmpty else { return [] }
        guard memories.count <= Limits.maxBatch else {
            throw EngramError.invalid("memories", "a batch holds at most \(Limits.maxBatch) memories")
        }
        let now = currentTime()
        var prepared: [(memory: Memory, vector: [Float])] = []
        prepared.reserveCapacity(memories.count)
        for (index, new) in memories.enumerated() {
            do {
                prepared.append(try prepare(new, now: now))
            } catch let error as EngramError {
                let field = memories.count == 1 ? error.field : "memories[\(index)].\(error.field ?? "")"
                throw EngramError(error.code, error.message, field: field)
            }
        }
        let givenIDs = memories.compactMap(\.id)
        if Set(givenIDs).count < givenIDs.count {
            throw EngramError.invalid("id", "the batch gives the same id twice")
        }
        let hashes = prepared.map {
            ContentHash.of(content: $0.memory.content, cause: $0.memory.cause, outcome: $0.memory.outcome)
        }
        return try write { state in
            if let taken = try records.locate(givenIDs).keys.first {
                throw EngramError.invalid("id", "a memory with id \(taken) already exists")
            }
            // Exact duplicates: of a live memory, or of an earlier memory of this batch.
            var results = prepared.map { RememberResult(id: $0.memory.id, status: .stored) }
            for (namespace, indices) in Dictionary(
                grouping: prepared.indices, by: { prepared[$0].memory.namespace })
            {
                // A namespace without live memories has nothing to look up (a first import's case).
                let existing =
                    state.slots.liveCount(namespace: state.names.namespaces.id(of: namespace)) == 0
                    ? [:]
                    : try records.duplicates(
                        namespace: namespace, hashes: indices.map { hashes[$0] },
                        now: now.timeIntervalSince1970)
                var firstInBatch: [String: Int] = [:]
                for i in indices {  // in batch order, which grouping keeps
                    if let id = existing[hashes[i]] {
                        results[i] = RememberResult(id: id, status: .duplicate)
                    } else if let j = firstInBatch[hashes[i]] {
                        results[i] = RememberResult(id: results[j].id, status: .duplicate)
                    } else {
                        firstInBatch[hashes[i]] = i
                    }
                }
            }
            let storing = prepared.indices.filter { results[$0].status == .stored }
            if let threshold = nearDuplicates {
                // Under the writer lock no slot can be reused, so the published snapshot is safe to score.
                let snapshot = readers.withLock { $0.current }
                for (i, near) in nearest(storing.map { prepared[$0] }, threshold: threshold, in: snapshot)
                where near != nil {
                    results[storing[i]].nearDuplicate = near
                }
            }
            guard !storing.isEmpty || entry != nil else { return results }
            let ending = try settleProvenance(
                &prepared, storing: storing, given: memories, results: &results, state: &state)
            let slots = allocateSlots(storing.count, &state)
            do {
                try commitVectors(zip(slots, storing.map { prepared[$0].vector }).map { ($0, $1) }, &state)
                let rowIDs = try records.insert(
                    zip(storing, slots).map { (prepared[$0].memory, $1, hashes[$0]) }, consuming: entry,
                    bulk: RecordStore.isBulk(storing.count, stored: state.slots.liveCount),
                    ending: ending.map { ($0.rowID, $0.at) },
                    audit: rememberEvents(results, storing: storing, now: now))
                for ((i, slot), rowID) in zip(zip(storing, slots), rowIDs) {
                    state.slots[Int(slot)] = slotInfo(prepared[i].memory, rowID: rowID, &state.names)
                }
                for row in ending { state.slots[Int(row.slot)].validUntil = row.at }
            } catch {
                state.free.append(contentsOf: slots)  // never referenced by a commit
                throw error
            }
            try publish(&state, remap: false)
            return results
        }
    }

    /// For each memory, the most similar live memory of its namespace in `snapshot` if its cosine reaches
    /// `threshold`.
    private func nearest(
        _ items: [(memory: Memory, vector: [Float])], threshold: Float, in snapshot: StoreSnapshot
    ) -> [(Int, NearDuplicate?)] {
        do {
            var result: [(Int, NearDuplicate?)] = []
            for (namespace, indices) in Dictionary(
                grouping: items.indices, by: { items[$0].memory.namespace })
            {
                let filter = CompiledFilter(
                    MemoryFilter(namespace: .exact(namespace)), names: snapshot.names,
                    now: options.clock.now(),
                    metadataRowIDs: nil)
                let ranked = SearchKernel(
                    snapshot: snapshot, filter: filter, counter: scans, threads: options.searchThreads
                ).topK(indices.map { items[$0].vector }, k: 1)
                for (i, best) in zip(indices, ranked) {
                    let near = best.first.flatMap {
                        $0.score >= threshold ? NearDuplicate(id: $0.id, cosine: $0.score) : nil
                    }
                    result.append((i, near))
                }
            }
            return result
        }
    }

    /// Throws what a write into `namespace` through this handle would (a missing action, a namespace
    /// outside the scope) without writing: for callers that check before costly work such as embedding.
    public func requireWritable(namespace: String, field: String = "namespace") throws {
        try scope.requireWritable(namespace: namespace, field: field)
    }

    /// Refuses a batch with a memory outside the scope, naming it (`memories[i].namespace`).
    func requireWritable(_ memories: [NewMemory]) throws {
        try scope.require(.write, "write")
        for (i, memory) in memories.enumerated() {
            try scope.require(
                namespace: memory.namespace,
                field: memories.count == 1 ? "namespace" : "memories[\(i)].namespace")
        }
    }

    /// Checks a memory as `remember` would, without storing it.
    /// - Throws: the error `remember` would throw for it.
    public func validate(_ memory: NewMemory) throws {
        try scope.requireWritable(namespace: memory.namespace, field: "namespace")
        _ = try prepare(memory, now: currentTime())
    }

    /// Checks every field except the embedding, for callers that embed the text only once the rest is
    /// known to be good (so garbage never costs an embedding).
    public func validateFields(_ memory: NewMemory) throws {
        try scope.requireWritable(namespace: memory.namespace, field: "namespace")
        _ = try record(from: memory, now: currentTime())
    }

    /// Validates a new memory, gives it an id and timestamps, and normalises its embedding.
    func prepare(_ new: NewMemory, now: Date) throws -> (memory: Memory, vector: [Float]) {
        let memory = try record(from: new, now: now)
        return (memory, try normalized(new.embedding, field: "embedding"))
    }

    /// Validates every field but the embedding and builds the record.
    func record(from new: NewMemory, now: Date) throws -> Memory {
        try Limits.validateText(new.content, field: "content", required: true)
        if let cause = new.cause { try Limits.validateText(cause, field: "cause", required: false) }
        if let outcome = new.outcome { try Limits.validateText(outcome, field: "outcome", required: false) }
        try Limits.validateNamespace(new.namespace)
        if let agent = new.agent {
            try Limits.validateName(agent, field: "agent", maxBytes: Limits.maxAgentBytes)
        }
        try Limits.validateName(new.kind.rawValue, field: "kind", maxBytes: Limits.maxKindBytes)
        try Limits.validateImportance(new.importance)
        try Limits.validateMetadata(new.metadata)
        for (field, date) in [
            ("createdAt", new.createdAt), ("expiresAt", new.expiresAt), ("updatedAt", new.updatedAt),
            ("validFrom", new.validFrom), ("validUntil", new.validUntil),
        ] {
            if let date, !(Limits.earliestDate...Limits.latestDate).contains(date.timeIntervalSince1970) {
                throw EngramError.invalid(field, "must be a time from year 1 to year 9999")
            }
        }
        let tags = try Limits.normalizedTags(new.tags)
        try validateProvenance(new)
        return Memory(
            id: new.id ?? idGenerator.next(nowMilliseconds: UInt64(max(0, now.timeIntervalSince1970 * 1000))),
            namespace: new.namespace, agent: new.agent, kind: new.kind, content: new.content,
            cause: new.cause, outcome: new.outcome, succeeded: new.succeeded, tags: tags,
            importance: new.importance, metadata: new.metadata,
            createdAt: new.createdAt.map(Self.millisecondPrecision) ?? now,
            updatedAt: new.updatedAt.map(Self.millisecondPrecision) ?? now,
            expiresAt: new.expiresAt.map(Self.millisecondPrecision), supersedes: new.supersedes,
            source: new.source, derivedFrom: new.derivedFrom,
            flags: ContentScreen.flags([new.content] + [new.cause, new.outcome].compactMap { $0 }),
            factKey: new.factKey, validFrom: new.validFrom.map(Self.millisecondPrecision),
            validUntil: new.validUntil.map(Self.millisecondPrecision))
    }

    /// Checks the provenance and validity fields of a new memory.
    private func validateProvenance(_ new: NewMemory) throws {
        if let source = new.source {
            try Limits.validateName(source.rawValue, field: "source", maxBytes: Limits.maxKindBytes)
        }
        if let key = new.factKey { try Limits.validateNamespace(key, field: "factKey") }
        if let writer = new.writtenBy {
            try Limits.validateText(writer, field: "writtenBy", required: true)
        }
        guard new.derivedFrom.count <= Limits.maxDerivedFrom else {
            throw EngramError.invalid("derivedFrom", "names more than \(Limits.maxDerivedFrom) memories")
        }
        if let from = new.validFrom, let until = new.validUntil, from >= until {
            throw EngramError.invalid("validUntil", "must be later than validFrom")
        }
    }

    /// Times are kept to the millisecond, so a stored memory reads back equal to the value returned.
    static func millisecondPrecision(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// The clock's time at millisecond precision.
    func currentTime() -> Date { Self.millisecondPrecision(options.clock.now()) }

    /// Writes rows to their slots (growing the file if needed) and syncs them, whatever the durability:
    /// a power cut must not keep a commit whose rows, or the file length they need, never reached the
    /// disk (under `.normal` the WAL may be written back before them; found by the power-cut test).
    func commitVectors(_ rows: [(slot: Int32, vector: [Float])], _ state: inout WriterState) throws {
        guard let vectors = state.vectors, !rows.isEmpty else { return }
        let highest = Int(rows.map(\.slot).max() ?? 0)
        if try vectors.reserve(rows: highest + 1) {
            try publish(&state, remap: true)  // the next snapshot must map the new rows
        }
        try vectors.write(rows)
        try vectors.sync()
    }

    func slotInfo(_ m: Memory, rowID: Int64, _ names: inout NameTables) -> SlotInfo {
        SlotInfo(
            rowID: rowID, id: m.id, namespace: names.namespaces.intern(m.namespace),
            agent: m.agent.map { names.agents.intern($0) } ?? -1, kind: names.kinds.intern(m.kind.rawValue),
            succeeded: m.succeeded.map { $0 ? 1 : 0 } ?? -1, createdAt: m.createdAt.timeIntervalSince1970,
            expiresAt: m.expiresAt?.timeIntervalSince1970 ?? .infinity,
            tags: m.tags.map { names.tags.intern($0) }.sorted(), trust: Int8(m.trust.rawValue),
            quarantined: m.quarantined, validFrom: (m.validFrom ?? m.createdAt).timeIntervalSince1970,
            validUntil: m.validUntil?.timeIntervalSince1970 ?? .infinity)
    }

    // MARK: Update

    /// Stores a new version of a memory. The new version gets a new id, keeps the original creation
    /// time, and records the old id in ``Memory/supersedes``; the old version moves to the history
    /// table (see ``history(of:)``) and stops being recalled.
    ///
    /// - Returns: the new version.
    /// - Throws: ``EngramError/Code/notFound`` for an unknown id; a validation error naming the field.
    @discardableResult
    public func update(_ id: MemoryID, with changes: MemoryChanges) throws -> Memory {
        try scope.require(.write, "write")
        return try update(id, with: changes, within: scope.namespaceLimit)
    }

    /// ``update(_:with:)`` that treats a memory outside `scope` as unknown, checked under the writer lock.
    func update(_ id: MemoryID, with changes: MemoryChanges, within scope: Scope?) throws -> Memory {
        let now = currentTime()
        let newVector = try changes.embedding.map { try normalized($0, field: "embedding") }
        return try write { state in
            guard let (rowID, slot) = try records.locate([id])[id],
                let old = try records.memories(rowIDs: [rowID])[rowID],
                scope?.contains(namespace: old.namespace) ?? true
            else {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
            let memory = try nextVersion(of: old, with: changes, now: now)

            var newSlot = slot
            if let newVector {
                newSlot = allocateSlots(1, &state)[0]
                do {
                    try commitVectors([(newSlot, newVector)], &state)
                } catch {
                    state.free.append(newSlot)
                    throw error
                }
            }
            let newRowID: Int64
            do {
                newRowID = try records.supersede(
                    oldRowID: rowID, old: old, new: memory, slot: newSlot, at: now,
                    audit: [auditEvent("update", [old.id, memory.id])])
            } catch {
                if newSlot != slot { state.free.append(newSlot) }
                throw error
            }
            if newSlot != slot {
                state.slots[Int(slot)] = SlotInfo()
                state.pendingFree.append((state.generation + 1, [slot]))
            }
            state.slots[Int(newSlot)] = slotInfo(memory, rowID: newRowID, &state.names)
            try publish(&state, remap: false)
            return memory
        }
    }

    /// The version ``update(_:with:)`` stores for `changes` to `old`: a new id, the original creation time,
    /// `supersedes` the old id; provenance, validity, usage and a quarantine carry over; the text is
    /// validated and screened again. Nothing is written (a cluster's system of record stores it too).
    func nextVersion(of old: Memory, with changes: MemoryChanges, now: Date) throws -> Memory {
        var next = old
        if let v = changes.content { next.content = v }
        if let v = changes.cause { next.cause = v }
        if let v = changes.outcome { next.outcome = v }
        if let v = changes.succeeded { next.succeeded = v }
        if let v = changes.kind { next.kind = v }
        if let v = changes.tags { next.tags = v }
        if let v = changes.importance { next.importance = v }
        if let v = changes.metadata { next.metadata = v }
        if let v = changes.expiresAt { next.expiresAt = v }
        // Validate the merged record through the same path as a new memory.
        let draft = NewMemory(
            content: next.content, cause: next.cause, outcome: next.outcome, succeeded: next.succeeded,
            namespace: next.namespace, agent: next.agent, kind: next.kind, tags: next.tags,
            importance: next.importance, metadata: next.metadata, expiresAt: next.expiresAt,
            embedding: [], createdAt: old.createdAt)
        var memory = try record(from: draft, now: now)
        memory.supersedes = old.id
        // Same memory, new version: where it came from and when it holds carry over; its text is
        // screened again, and a quarantine stays until released.
        (memory.source, memory.trust, memory.derivedFrom) = (old.source, old.trust, old.derivedFrom)
        memory.writtenBy = self.scope.actor ?? old.writtenBy
        (memory.factKey, memory.validFrom) = (old.factKey, old.validFrom)
        memory.validUntil = changes.validUntil.map { $0.map(Self.millisecondPrecision) } ?? old.validUntil
        if let until = memory.validUntil, until <= (memory.validFrom ?? memory.createdAt) {
            throw EngramError.invalid("validUntil", "must be later than the memory's validFrom")
        }
        memory.quarantined =
            old.quarantined || options.quarantine.quarantines(flags: memory.flags, trust: memory.trust)
        // Same memory, new version: its usage and feedback carry over.
        (memory.recallCount, memory.lastRecalledAt) = (old.recallCount, old.lastRecalledAt)
        (memory.helpfulCount, memory.unhelpfulCount) = (old.helpfulCount, old.unhelpfulCount)
        return memory
    }

    /// Older versions of a memory, newest first (empty for a memory outside the scope, as for an
    /// unknown id).
    public func history(of id: MemoryID) throws -> [Memory] {
        try scope.require(.read, "read")
        try checkOpen()
        // Versions keep their memory's namespace (updates cannot move it): a chain is all in or all out.
        return try records.history(of: id).filter { scope.contains(namespace: $0.namespace) }
    }

    // MARK: Forget

    /// Forgets memories by id. Unknown ids are ignored.
    ///
    /// - Returns: how many memories were forgotten.
    @discardableResult
    public func forget(_ ids: [MemoryID]) throws -> Int {
        try scope.require(.forget, "forget")
        return try forget(ids, within: scope.namespaceLimit)
    }

    /// ``forget(_:)-([MemoryID])`` that leaves memories outside `scope` alone (as if unknown), checked
    /// under the writer lock.
    func forget(_ ids: [MemoryID], within scope: Scope?) throws -> Int {
        try write { state in
            try forget(located(ids, within: scope, state).map { ($0.rowID, $0.slot) }, &state)
        }
    }

    /// The live memories among `ids` inside `scope` (nil: every namespace), in id order, with their rows,
    /// slots and hot columns; unknown ids and memories outside are left out, as one. Under the writer lock
    /// (or on `state` a caller holds), so what it finds cannot change before the caller writes.
    func located(_ ids: [MemoryID], within scope: Scope?, _ state: WriterState) throws -> [(
        id: MemoryID, rowID: Int64, slot: Int32, info: SlotInfo
    )] {
        let names = state.names.namespaces.names
        return try records.locate(ids).compactMap { id, location in
            let info = state.slots[Int(location.1)]
            let ns = Int(info.namespace)
            guard names.indices.contains(ns), scope?.contains(namespace: names[ns]) ?? true else {
                return nil
            }
            return (id, location.0, location.1, info)
        }.sorted { $0.id < $1.id }
    }

    /// Forgets one memory.
    /// - Throws: ``EngramError/Code/notFound`` when no memory has this id.
    public func forget(_ id: MemoryID) throws {
        if try forget([id]) == 0 { throw EngramError(.notFound, "no memory with this id", field: "id") }
    }

    /// Forgets every memory matching a filter (expired ones included only if the filter says so).
    ///
    /// - Returns: how many memories were forgotten.
    @discardableResult
    public func forget(matching filter: MemoryFilter) throws -> Int {
        try scope.require(.forget, "forget")
        let filter = try scope.narrowed(filter)
        let metadataRowIDs = try resolveMetadata(of: filter)
        return try write { state in
            let compiled = CompiledFilter(
                filter, names: state.names, now: options.clock.now(), metadataRowIDs: metadataRowIDs)
            var targets: [(rowID: Int64, slot: Int32)] = []
            state.slots.forEachMatch(compiled) { slot, info in targets.append((info.rowID, Int32(slot))) }
            return try forget(targets, &state)
        }
    }

    private func forget(_ targets: [(rowID: Int64, slot: Int32)], _ state: inout WriterState) throws -> Int {
        guard !targets.isEmpty else { return 0 }
        let deleted = try records.delete(
            rowIDs: targets.map(\.rowID),
            audit: [auditEvent("forget", targets.map { state.slots[Int($0.slot)].id })])
        for target in targets { state.slots[Int(target.slot)] = SlotInfo() }
        state.pendingFree.append((state.generation + 1, targets.map(\.slot)))
        try publish(&state, remap: false)
        return deleted
    }

}
