import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a store holds and how it has been used since it was opened.
public struct StoreStats: Sendable, Codable, Hashable {
    /// Live memories (expired ones included).
    public var memories: Int
    /// Live memories per namespace.
    public var byNamespace: [String: Int]
    /// Live memories per kind.
    public var byKind: [String: Int]
    /// Memories no recall has returned yet, as far as usage has been written (see ``Memory/recallCount``):
    /// candidates for pruning.
    public var neverRecalled: Int
    /// Embedding dimension.
    public var dimension: Int
    /// Embedder identifier.
    public var embedder: String
    /// Element type of stored vectors.
    public var elementType: String
    /// Durability setting of this handle.
    public var durability: Durability
    /// Bytes of `vectors.f32` on disk (apparent size).
    public var vectorFileBytes: Int
    /// Bytes of the SQLite database including its WAL.
    public var databaseBytes: Int
    /// Bytes currently memory-mapped for recalls.
    public var mappedBytes: Int
    /// Rows the vector file has room for.
    public var slotCapacity: Int
    /// Slots below the high-water mark that hold no memory (reused by later writes; `compact` removes them).
    public var freeSlots: Int
    /// The OpenBLAS kernel set in use (`SkylakeX`, `Haswell`, `Prescott`, ...).
    public var blasCore: String
    /// Engram's own SIMD kernels in use (see ``KernelLevel``).
    public var kernels: KernelLevel = .current
    /// Recalls since open.
    public var recalls: Int
    /// Median recall latency in milliseconds over recent recalls.
    public var recallP50Milliseconds: Double?
    /// 99th-percentile recall latency in milliseconds over recent recalls.
    public var recallP99Milliseconds: Double?
    /// Share of recalls whose best score reached ``hitThreshold``.
    public var hitRate: Double?
    /// The score a best hit must reach to count as a hit.
    public var hitThreshold: Float
    /// Resident memory of this process in bytes (Linux), for sizing.
    public var residentBytes: Int?
    /// Hits and misses of the caching embedders made by this handle.
    public var embeddingCache: EmbeddingCacheStats
    /// Vectors in the store's persistent embedding cache.
    public var cachedEmbeddings: Int
    /// Feedback reports that a memory helped, over live memories (``MemoryStore/feedback(_:helpful:)``).
    public var helpfulReports: Int = 0
    /// Feedback reports that a memory did not help, over live memories.
    public var unhelpfulReports: Int = 0
}

/// The outcome of ``MemoryStore/health()``.
public struct HealthReport: Sendable, Codable, Hashable {
    /// One named check and whether it passed.
    public struct Check: Sendable, Codable, Hashable {
        /// What was checked.
        public var name: String
        /// Whether it passed.
        public var passed: Bool
        /// What was found.
        public var detail: String
    }
    /// Every check, in the order run.
    public var checks: [Check]
    /// True when every check passed.
    public var healthy: Bool { checks.allSatisfy(\.passed) }
}

extension HealthReport.Check {
    /// A check made outside the store (a cluster node's replication, say).
    public init(_ name: String, passed: Bool, detail: String) {
        self.init(name: name, passed: passed, detail: detail)
    }
}

extension MemoryStore {
    /// Counts, sizes and recall telemetry.
    public func stats() throws -> StoreStats {
        try scope.requireWholeStore("read the whole store's statistics")
        try checkOpen()
        // A writer's counts are written in before it reports; others see the pending ones too.
        if !options.readOnly { try? write { _ in } }  // bookkeeping: a failed flush must not fail stats
        let (byNamespace, byKind, neverRecalled) = try records.counts(recalledElsewhere: unwrittenUsage())
        let feedback = try records.feedbackTotals()
        let (slotCount, live, capacity) = try withSnapshot { s -> (Int, Int, Int) in
            var live = 0
            s.slots.forEachLive { _, _ in live += 1 }
            return (s.slots.count, live, s.mapping.capacity)
        }
        let header = VectorFileHeader(dimension: dimension, embedder: embedderID, element: element)
        let t = telemetry.withLock { $0 }
        let dir = URL(fileURLWithPath: path)
        func size(_ name: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path))?[
                .size] as? Int) ?? 0
        }
        return StoreStats(
            memories: live, byNamespace: byNamespace, byKind: byKind, neverRecalled: neverRecalled,
            dimension: dimension, embedder: embedderID,
            elementType: element.rawValue, durability: options.durability,
            vectorFileBytes: size(Self.vectorsName),
            databaseBytes: size(Self.databaseName) + size(Self.databaseName + "-wal"),
            mappedBytes: VectorFileHeader.size + capacity * header.strideBytes, slotCapacity: capacity,
            freeSlots: slotCount - live, blasCore: BLAS.coreName, recalls: t.recalls,
            recallP50Milliseconds: t.latencyQuantile(0.5), recallP99Milliseconds: t.latencyQuantile(0.99),
            hitRate: t.recalls > 0 ? Double(t.hits) / Double(t.recalls) : nil,
            hitThreshold: options.hitThreshold,
            residentBytes: ProcessMemory.residentBytes, embeddingCache: embeddingCacheStats,
            cachedEmbeddings: try records.cachedEmbeddingCount(), helpfulReports: feedback.helpful,
            unhelpfulReports: feedback.unhelpful)
    }

    /// Rewrites the vector file densely (live rows only, in slot order) and returns its free space; also
    /// merges the full-text index into one segment, which keyword recall searches faster.
    ///
    /// Crash-safe: the new file is written and synced beside the old one; one SQLite transaction then
    /// renumbers the slots and marks the compaction; the new file is renamed over the old; the mark is
    /// cleared. An open after a crash at any point either discards the new file or finishes the rename.
    /// Recalls running meanwhile finish on the old mapping.
    ///
    /// - Returns: bytes reclaimed from the vector file.
    /// - Complexity: O(n × dimension).
    @discardableResult
    public func compact() throws -> Int {
        try scope.requireWholeStore("compact the store")
        return try write { state in
            guard let old = state.vectors else { return 0 }
            let dir = URL(fileURLWithPath: path)
            let vectorsPath = dir.appendingPathComponent(Self.vectorsName).path
            let newPath = dir.appendingPathComponent(Self.compactingName).path
            let oldBytes = VectorFileHeader.size + old.capacity * old.header.strideBytes
            _ = FileIO.unlink(newPath)

            var live: [(slot: Int, info: SlotInfo)] = []
            state.slots.forEachLive { live.append(($0, $1)) }
            let mapping = try old.map()
            let fresh = try VectorFile.create(path: newPath, header: old.header)
            try fresh.resize(rows: live.count)
            let batch = 4096
            for start in stride(from: 0, to: live.count, by: batch) {
                let rows = (start..<min(start + batch, live.count)).map { i in
                    (slot: Int32(i), vector: mapping.vector(live[i].slot))
                }
                try fresh.write(rows)
            }
            try fresh.sync()
            try records.durably {
                try records.renumber(
                    live.enumerated().map { (rowID: $1.info.rowID, slot: Int32($0)) },
                    meta: ["compacting": "1"])
            }
            // Committed: the database has the new slot numbers. Until this handle holds the new file and
            // slots too, a failure stops it writing (readers keep the old snapshot, which is consistent);
            // an open finishes the rename.
            do {
                guard FileIO.rename(newPath, vectorsPath) else { throw VectorFile.ioError("rename", newPath) }
                // the rename survives power loss before the mark is cleared
                try VectorFile.syncDirectory(dir.path)
                try records.durably { try records.setMeta(["compacting": "0"]) }
                state.vectors = try VectorFile.open(path: vectorsPath, writable: true)
            } catch {
                state.stopped = "a compaction failed after its commit (\(error))"
                throw error
            }
            state.slots.removeAll()
            for (i, entry) in live.enumerated() { state.slots[i] = entry.info }
            // The index follows its memories to their new slots (and drops entries of forgotten ones).
            _ = state.slots.takeAssigned()
            if let index = state.index {
                var renumber = [Int32](repeating: -1, count: live.last.map { $0.slot + 1 } ?? 0)
                for (i, entry) in live.enumerated() { renumber[entry.slot] = Int32(i) }
                state.index =
                    index.renumbered(
                        { Int($0) < renumber.count ? renumber[Int($0)] : nil }, holding: state.slots
                    ).0
                state.indexDirty = true
            }
            state.free = []
            state.pendingFree = []
            state.nextSlot = live.count
            try publish(&state, remap: true)
            // An optimisation of the index only: a failure leaves it unmerged (SQLite rolls it back).
            try? records.optimizeFullText()
            return max(0, oldBytes - (VectorFileHeader.size + live.count * old.header.strideBytes))
        }
    }

    /// File checks plus a semantic probe: store a probe memory in a scratch namespace, recall it with its
    /// own vector, expect it first, and forget it. A read-only store runs the file checks only.
    public func health() throws -> HealthReport {
        try scope.requireWholeStore("check the store's health")
        try checkOpen()
        var checks: [HealthReport.Check] = []
        let integrity = try records.integrityCheck()
        checks.append(
            .init(name: "sqlite", passed: integrity == ["ok"], detail: integrity.joined(separator: "; ")))

        let (count, capacity, lastSlot) = try withSnapshot { s -> (Int, Int, Int) in
            var last = -1
            var count = 0
            s.slots.forEachLive { slot, _ in
                last = slot
                count += 1
            }
            return (count, s.mapping.capacity, last)
        }
        checks.append(
            .init(
                name: "vectors", passed: lastSlot < capacity,
                detail: "\(count) live rows, room for \(capacity), highest slot \(lastSlot)"))
        let sqlCount = try records.counts().byNamespace.values.reduce(0, +)
        checks.append(
            .init(
                name: "consistency", passed: sqlCount == count,
                detail: "\(sqlCount) records, \(count) live slots"))

        if !options.readOnly {
            var probe = [Float](repeating: 0, count: dimension)
            for i in 0..<dimension { probe[i] = Float((i * 7919 + 13) % 101) - 50 }
            if probe.allSatisfy({ $0 == 0 }) { probe[0] = 1 }
            let namespace = "engram-health/probe"
            do {
                let id = try remember(
                    NewMemory(
                        content: "engram health probe", namespace: namespace, kind: .note, embedding: probe))
                defer { _ = try? forget([id]) }
                let hits = try recall(probe, k: 1, filter: MemoryFilter(includeExpired: true))
                let ok = hits.first?.memory.id == id
                checks.append(
                    .init(
                        name: "semantic probe", passed: ok,
                        detail: ok
                            ? "probe recalled first (score \(hits[0].score))" : "probe not recalled first"))
            } catch {
                checks.append(.init(name: "semantic probe", passed: false, detail: "\(error)"))
            }
        }
        return HealthReport(checks: checks)
    }
}

extension MemoryStore {
    /// Re-embeds every memory of the store at `path` with another embedder and switches the store to it
    /// atomically: recalls never see a mix of embedders.
    ///
    /// The new vectors (any dimension) are written to a new file beside the old one and synced; one
    /// SQLite transaction records the new dimension and embedder and marks the switch; the new file is
    /// renamed over the old; the mark is cleared. An open after a crash at any point sees either the old
    /// embedder with the old vectors or the new with the new. Takes the writer lock for the whole run.
    ///
    /// - Returns: how many memories were re-embedded.
    /// - Complexity: one embedding per memory, O(n × dimension) I/O.
    @discardableResult
    public static func reembed(
        at path: String, with embedder: any Embedder, options: StoreOptions = StoreOptions(),
        progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws -> Int {
        guard (1...Limits.maxDimension).contains(embedder.dimension),
            !embedder.identifier.isEmpty, embedder.identifier.utf8.count <= VectorFileHeader.maxEmbedderBytes
        else { throw EngramError.invalid("embedder", "has an unusable identifier or dimension") }
        let store = try MemoryStore.open(at: path, options: options)
        defer { try? store.close() }
        return try store.write { state in
            let dir = URL(fileURLWithPath: path)
            let vectorsPath = dir.appendingPathComponent(vectorsName).path
            let newPath = dir.appendingPathComponent(compactingName).path
            _ = FileIO.unlink(newPath)
            var live: [(slot: Int, rowID: Int64)] = []
            state.slots.forEachLive { live.append(($0, $1.rowID)) }

            let header = VectorFileHeader(
                dimension: embedder.dimension, embedder: embedder.identifier, element: store.element)
            let fresh = try VectorFile.create(path: newPath, header: header)
            try fresh.resize(rows: state.slots.count)
            for start in stride(from: 0, to: live.count, by: 256) {
                let chunk = Array(live[start..<min(start + 256, live.count)])
                let memories = try store.records.memories(rowIDs: chunk.map(\.rowID))
                let texts = chunk.map { entry in
                    memories[entry.rowID].map {
                        EmbeddingText.compose(content: $0.content, cause: $0.cause, outcome: $0.outcome)
                    } ?? ""
                }
                let vectors = try embedder.embed(texts)
                guard vectors.count == texts.count else {
                    throw EngramError.invalid(
                        "embedder", "returned \(vectors.count) vectors for \(texts.count) texts")
                }
                let rows = try zip(chunk, vectors).map { entry, vector in
                    (
                        slot: Int32(entry.slot),
                        vector: try store.normalized(
                            vector, dimension: embedder.dimension, field: "embedding")
                    )
                }
                try fresh.write(rows)
                progress(min(start + 256, live.count), live.count)
            }
            try fresh.sync()
            try store.records.durably {
                try store.records.setMeta([
                    "dimension": String(embedder.dimension), "embedder": embedder.identifier,
                    "compacting": "1",
                ])
            }
            guard FileIO.rename(newPath, vectorsPath) else { throw VectorFile.ioError("rename", newPath) }
            // the rename survives power loss before the mark is cleared
            try VectorFile.syncDirectory(dir.path)
            try store.records.durably { try store.records.setMeta(["compacting": "0"]) }
            state.vectors = nil  // this handle's dimension is the old one: it closes now
            return live.count
        }
    }
}
