import Foundation

/// A memory as a write would store it, prepared but not stored: for a system of record outside the
/// store (a cluster's PostgreSQL) that decides duplicates and keeps the rows, with this store's rules.
public struct MemoryDraft: Sendable, Hashable {
    /// The record: validated, its id, times, flags, trust, writer and quarantine set.
    public var memory: Memory
    /// The embedding at unit length.
    public var vector: [Float]
    /// What exact-duplicate detection compares: equal for texts equal after normalisation.
    public var contentHash: String

    /// A draft of a memory prepared elsewhere (a new version read back from a system of record).
    public init(memory: Memory, vector: [Float], contentHash: String) {
        self.memory = memory
        self.vector = vector
        self.contentHash = contentHash
    }

    /// The hash exact-duplicate detection compares for a memory's content, cause and outcome.
    public static func contentHash(of memory: Memory) -> String {
        ContentHash.of(content: memory.content, cause: memory.cause, outcome: memory.outcome)
    }
}

/// One memory of a system of record, as a replica holds it: the record, its vector and the row version
/// that system gave it (a replica keeps the highest version it has seen).
public struct ReplicaRow: Sendable, Hashable {
    /// The record, every field as the system of record holds it.
    public var memory: Memory
    /// The embedding (stored at unit length).
    public var vector: [Float]
    /// The row's version in the system of record: every change to the row raises it.
    public var version: Int64

    /// A row to apply.
    public init(memory: Memory, vector: [Float], version: Int64) {
        self.memory = memory
        self.vector = vector
        self.version = version
    }
}

/// What a replica holds of one namespace, to compare with its system of record: the number of memories
/// and the XOR of a hash of each (id, version).
public struct ReplicaChecksum: Sendable, Hashable, CustomStringConvertible {
    /// How many memories.
    public var count = 0
    /// The XOR of ``hash(_:_:)`` over them.
    public var xor: UInt64 = 0

    /// A checksum of the given figures (empty by default).
    public init(count: Int = 0, xor: UInt64 = 0) {
        self.count = count
        self.xor = xor
    }

    /// Adds one memory's (id, version).
    public mutating func add(_ id: MemoryID, version: Int64) {
        count += 1
        xor ^= Self.hash(id, version)
    }

    /// FNV-1a over the id's text and the version's decimal digits: any implementation (PostgreSQL's rows
    /// read by a test, another language) can compute it.
    public static func hash(_ id: MemoryID, _ version: Int64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array("\(id.description.lowercased()):\(version)".utf8) {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The count and the XOR in hexadecimal.
    public var description: String { "\(count) memories, xor \(String(xor, radix: 16))" }
}

extension MemoryStore {
    /// The store's key for a replica's applied position (opaque to the store).
    static let replicaPositionKey = "replica_position"

    /// Prepares memories as ``remember(_:)-([NewMemory])`` would store them (validation, ids, flags,
    /// trust within the handle's ceiling and that of what each is derived from, writer, quarantine
    /// policy) without storing them. `sourceTrust` holds the trust of the `derivedFrom` memories the
    /// handle can see (an earlier memory of the batch counts too). Exact duplicates and fact-key
    /// timelines are the caller's to settle.
    ///
    /// - Throws: ``EngramError`` naming the field (`memories[i].field` for more than one).
    public func drafts(_ memories: [NewMemory], sourceTrust: [MemoryID: TrustLevel] = [:]) throws
        -> [MemoryDraft]
    {
        try requireWritable(memories)
        let now = currentTime()
        var batchTrust: [MemoryID: TrustLevel] = [:]
        return try memories.enumerated().map { index, new in
            do {
                var (memory, vector) = try prepare(new, now: now)
                memory.trust = try TrustLevel.settled(
                    given: new.trust, fallback: memory.source?.defaultTrust ?? .agent,
                    sources: new.derivedFrom,
                    maxTrust: scope.maxTrust, level: { sourceTrust[$0] ?? batchTrust[$0] }, field: { $0 })
                batchTrust[memory.id] = memory.trust
                memory.writtenBy = new.writtenBy ?? scope.actor
                memory.quarantined =
                    new.quarantined
                    ?? options.quarantine.quarantines(flags: memory.flags, trust: memory.trust)
                let hash = ContentHash.of(
                    content: memory.content, cause: memory.cause, outcome: memory.outcome)
                return MemoryDraft(memory: memory, vector: vector, contentHash: hash)
            } catch let error as EngramError where memories.count > 1 {
                throw EngramError(error.code, error.message, field: "memories[\(index)].\(error.field ?? "")")
            }
        }
    }

    /// The version ``update(_:with:)`` would store for `changes` to `old`, with its vector at unit
    /// length when the changes bring one (nil: the old vector stays); nothing is stored.
    public func draftVersion(of old: Memory, with changes: MemoryChanges) throws -> (
        memory: Memory, vector: [Float]?
    ) {
        try scope.require(.write, "write")
        try requireWritable(namespace: old.namespace)
        let vector = try changes.embedding.map { try normalized($0, field: "embedding") }
        return (try nextVersion(of: old, with: changes, now: currentTime()), vector)
    }

    /// Makes the store's copies equal a system of record's rows, in one transaction, by row version: a
    /// row or removal whose version is not above the one the store holds is skipped (so appliers racing
    /// with older reads never go back); every other memory in `removing` or among `rows` leaves the store
    /// (if present), then those `rows` are stored as given (their ids, times and fields; no duplicate
    /// check, no audit entry: the system of record did those) with their versions, and `position` is kept
    /// as the replica's applied position. Applying the same rows again changes nothing, so a replica that
    /// crashed before recording its position simply applies them again.
    ///
    /// - Parameters:
    ///   - rows: memories as the system of record holds them now.
    ///   - removing: memories gone from the system of record, with the version of their removal.
    ///   - position: the replica's applied position to keep with them (nil: unchanged).
    public func replicate(
        _ rows: [ReplicaRow], removing: [(id: MemoryID, version: Int64)], position: String?
    ) throws {
        for row in rows where row.vector.count != dimension {
            throw EngramError(
                .dimensionMismatch,
                "has \(row.vector.count) dimensions; the store's vectors have \(dimension)",
                field: "embedding")
        }
        let normalizedRows = try rows.map {
            ReplicaRow(
                memory: $0.memory, vector: try normalized($0.vector, field: "embedding"), version: $0.version)
        }
        try write { state in
            // Under the writer lock the held versions cannot change before this transaction commits.
            let held = try records.replicaVersions(removing.map(\.id) + rows.map(\.memory.id))
            let rows = normalizedRows.filter { (held[$0.memory.id] ?? 0) < $0.version }
            let removing = removing.filter { (held[$0.id] ?? 0) < $0.version }
            let ids = Array(Set(removing.map(\.id) + rows.map(\.memory.id)))
            let vectors = rows.map(\.vector)
            let leaving = try located(ids, within: nil, state)
            let slots = allocateSlots(rows.count, &state)
            do {
                try commitVectors(Array(zip(slots, vectors)), &state)
                let rowIDs = try records.replicate(
                    removing: (leaving.map(\.rowID), removing), inserting: Array(zip(rows, slots)),
                    meta: position.map { [Self.replicaPositionKey: $0] } ?? [:])
                for old in leaving { state.slots[Int(old.slot)] = SlotInfo() }
                if !leaving.isEmpty { state.pendingFree.append((state.generation + 1, leaving.map(\.slot))) }
                for ((row, slot), rowID) in zip(zip(rows, slots), rowIDs) {
                    state.slots[Int(slot)] = slotInfo(row.memory, rowID: rowID, &state.names)
                }
            } catch {
                state.free.append(contentsOf: slots)  // never referenced by a commit
                throw error
            }
            try publish(&state, remap: false)
        }
    }

    /// Removes every memory whose namespace `keep` rejects, with its recorded version (a replica that
    /// no longer holds a shard; should it hold it again, its rows are copied anew). Returns how many.
    @discardableResult
    public func dropReplicas(keeping keep: (String) -> Bool) throws -> Int {
        try write { state in
            let names = state.names.namespaces.names
            var targets: [(rowID: Int64, slot: Int32, id: MemoryID)] = []
            state.slots.forEachLive { slot, info in
                let ns = Int(info.namespace)
                if names.indices.contains(ns), !keep(names[ns]) {
                    targets.append((info.rowID, Int32(slot), info.id))
                }
            }
            guard !targets.isEmpty else { return 0 }
            try records.dropReplicas(rowIDs: targets.map(\.rowID), ids: targets.map(\.id))
            for target in targets { state.slots[Int(target.slot)] = SlotInfo() }
            state.pendingFree.append((state.generation + 1, targets.map(\.slot)))
            try publish(&state, remap: false)
            return targets.count
        }
    }

    /// The applied position ``replicate(_:removing:position:)`` last recorded; nil for a store that is
    /// no replica (or has applied nothing yet).
    public func replicaPosition() throws -> String? {
        try records.meta()[Self.replicaPositionKey]
    }

    /// Per namespace, the count and XOR-hash of the (id, version) of every memory stored, for comparing
    /// a replica with its system of record (see ``ReplicaChecksum``).
    public func replicaChecksums() throws -> [String: ReplicaChecksum] {
        try records.replicaChecksums()
    }
}
