import Foundation
import Synchronization

/// An immutable view of the vectors and hot columns that a recall scores against.
final class StoreSnapshot: Sendable {
    let generation: UInt64
    let mapping: VectorMapping
    let slots: SlotTable
    let names: NameTables
    /// The approximate index over `slots`, when the store has one loaded.
    let index: VectorIndex?
    /// The store has an index file not loaded yet (the first recall that could use it loads it).
    let indexPending: Bool

    init(
        generation: UInt64, mapping: VectorMapping, slots: SlotTable, names: NameTables,
        index: VectorIndex? = nil, indexPending: Bool = false
    ) {
        self.generation = generation
        self.mapping = mapping
        self.slots = slots
        self.names = names
        self.index = index
        self.indexPending = indexPending
    }
}

/// The writer's state, guarded by `MemoryStore.writer`.
struct WriterState: Sendable {
    var vectors: VectorFile?
    var slots: SlotTable
    var names: NameTables
    /// Slots no committed memory and no active reader refers to.
    var free: [Int32] = []
    /// Slots freed by the commit that made `generation`; reusable once no reader of an older snapshot
    /// remains and (under `.normal`) that commit is on disk.
    var pendingFree: [(generation: UInt64, slots: [Int32])] = []
    /// Under `.normal`, the generation up to which commits are known to be on disk. A slot freed by a
    /// commit a power cut could still undo must not be overwritten: the memory would come back with
    /// another's vector (found by the power-cut test).
    var durableGeneration: UInt64 = 0
    var nextSlot: Int
    var generation: UInt64 = 0
    var closed = false
    /// Why this handle stopped writing: a failure past a commit point left its memory of the files
    /// behind them (a reopen finishes the work from what is on disk).
    var stopped: String?
    /// The published mapping is not of the current vector file (a re-map failed).
    var remapPending = false
    var lastWorkingSweep: Double = -.infinity
    /// The cross-process writer lock; released (set to nil) by `close()`.
    var lock: StoreLock?
    /// The approximate index, kept current by every publish (see `MemoryStore+Index.swift`).
    var index: VectorIndex?
    /// An index file exists that no recall has needed yet (the slots assigned meanwhile are kept).
    var indexPending = false
    /// The database's commit counter when the store was opened: an index file of this counter needs only
    /// the memories this handle wrote since.
    var openedAtCounter = ""
    /// The index has entries its file lacks.
    var indexDirty = false
}

/// The published snapshot and which generations readers are using, under one lock so that a writer
/// never misses a reader that has just taken a snapshot.
struct ReaderState {
    var current: StoreSnapshot
    var active: [UInt64: Int] = [:]
}

/// A durable store of agent memories with exact cosine recall.
///
/// A store is a directory holding `memories.sqlite` (records, history, full-text index, working
/// memory), `vectors.f32` (the embeddings, memory-mapped) and `LOCK` (the single-writer lock).
///
/// ```swift
/// let store = try MemoryStore.create(at: "/tmp/agent.engram", dimension: 384)
/// let id = try store.remember(NewMemory(content: "Checkout was slow", cause: "DB pool exhausted",
///                                       outcome: "Raised the pool size", embedding: vector))
/// let hits = try store.recall(queryVector, k: 5)
/// ```
///
/// ## Concurrency
/// `MemoryStore` is `Sendable`: share one instance between threads and tasks. Writes are serialised by
/// an internal lock (and across processes by the `LOCK` file). Recalls never wait for a writer: each one
/// scores an immutable snapshot (mapping, per-slot columns) taken under a lock held for nanoseconds.
public final class MemoryStore: Sendable {
    /// The directory holding the store.
    public let path: String
    /// The embedding dimension, fixed when the store was created.
    public let dimension: Int
    /// The identifier of the embedder whose vectors the store holds.
    public let embedderID: String
    /// How vectors are stored (float32, or float16 for half the memory).
    public let element: VectorElement
    /// The options it was opened with.
    public let options: StoreOptions
    /// What this handle may reach: ``Scope/unrestricted`` for a store opened whole; narrower for a handle
    /// from ``scoped(to:)``, which shares the same store.
    public let scope: Scope
    /// The store directory's device and inode at open: a directory moved away and replaced while
    /// open must not receive this handle's path-based writes (compaction's new file, the slot cache).
    private let directoryIdentity: FileIdentity?

    let records: RecordStore
    let writer: Locked<WriterState>
    let readers: Locked<ReaderState>
    let telemetry: Locked<Telemetry>
    let scans: ScanCounter
    /// Vector rows scored by this handle's recalls since it opened (rows × queries), for monitoring.
    package var vectorsScanned: Int { scans.value }
    /// Time this handle's remembers spent filling the full-text index.
    package var fullTextFillTime: Duration { records.fullTextFillTime }
    /// Recalls not yet written to the memories' usage columns (or, by a read-only handle, to the
    /// ``UsageLog``): count and latest time per memory.
    let pendingUsage: Locked<[MemoryID: (count: Int, last: Double)]>
    /// Usage log files a writable handle has claimed but not yet written into the database.
    let claimedUsageLogs: Locked<[String]>
    let embeddingCaches: Locked<[CachingEmbedder]>
    let idGenerator: MemoryIDGenerator

    static let databaseName = "memories.sqlite"
    static let vectorsName = "vectors.f32"
    static let compactingName = "vectors.f32.compact"
    static let lockName = "LOCK"
    /// Present while `create` runs: a store whose create was interrupted is no store, and the next
    /// `create` starts over.
    static let creatingName = "CREATING"

    // MARK: Creating and opening

    /// Creates a new, empty store in `path` (a directory, created if missing).
    ///
    /// - Parameters:
    ///   - path: the store's directory.
    ///   - dimension: the length of every embedding, 1...16384.
    ///   - embedder: an identifier of the model that makes the vectors; recalls may check it.
    ///   - element: `.float32` (exact) or `.float16` (half the memory; scores within about 1e-3).
    ///   - options: durability, locking, clock and telemetry settings for this handle.
    /// - Throws: ``EngramError/Code/alreadyExists`` if a store is there already.
    public static func create(
        at path: String, dimension: Int, embedder: String = "custom", element: VectorElement = .float32,
        options: StoreOptions = StoreOptions()
    ) throws -> MemoryStore {
        guard (1...Limits.maxDimension).contains(dimension) else {
            throw EngramError.invalid("dimension", "must be from 1 to \(Limits.maxDimension)")
        }
        guard !embedder.isEmpty, embedder.utf8.count <= VectorFileHeader.maxEmbedderBytes else {
            throw EngramError.invalid("embedder", "must be 1 to \(VectorFileHeader.maxEmbedderBytes) bytes")
        }
        guard !options.readOnly else {
            throw EngramError.invalid("options.readOnly", "cannot create a read-only store")
        }
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: path)
        let marker = dir.appendingPathComponent(creatingName).path
        let files = [databaseName, databaseName + "-wal", databaseName + "-shm", vectorsName].map {
            dir.appendingPathComponent($0).path
        }
        func existing() -> Bool {
            !fm.fileExists(atPath: marker) && files.contains(where: fm.fileExists(atPath:))
        }
        guard !existing() else { throw EngramError(.alreadyExists, "a store already exists at \(path)") }
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw EngramError(.io, "cannot create directory \(path): \(error.localizedDescription)")
        }
        let lock = try StoreLock(
            path: dir.appendingPathComponent(lockName).path, timeout: options.lockTimeout)
        // Under the lock: another create may have finished meanwhile; an interrupted one left the marker,
        // and what it wrote is removed (it never returned, so nothing in it was acknowledged).
        guard !existing() else { throw EngramError(.alreadyExists, "a store already exists at \(path)") }
        for file in files where fm.fileExists(atPath: file) { _ = FileIO.unlink(file) }
        try Self.durablyWrite(marker: marker, in: dir.path)
        let header = VectorFileHeader(dimension: dimension, embedder: embedder, element: element)
        _ = try VectorFile.create(path: dir.appendingPathComponent(vectorsName).path, header: header)
        // Synced whatever the durability: once the marker is gone the store must open after a power cut.
        let records = try RecordStore(
            path: dir.appendingPathComponent(databaseName).path, readOnly: false, synchronousFull: true)
        try records.setMeta([
            "format_version": String(Schema.formatVersion), "dimension": String(dimension),
            "element_type": element.rawValue, "embedder": embedder,
            "created_at": String(options.clock.now().timeIntervalSince1970),
        ])
        try records.close()
        guard FileIO.unlink(marker) else { throw VectorFile.ioError("unlink", marker) }
        try VectorFile.syncDirectory(dir.path)
        return try MemoryStore(path: path, options: options, heldLock: lock)
    }

    /// Creates `marker` and makes its existence durable before anything else is written.
    private static func durablyWrite(marker: String, in directory: String) throws {
        let fd = FileIO.open(marker, O_CREAT | O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VectorFile.ioError("create", marker) }
        defer { FileIO.close(fd) }
        guard FileIO.sync(fd, metadata: true) else { throw VectorFile.ioError("sync", marker) }
        try VectorFile.syncDirectory(directory)
    }

    /// Opens an existing store, checking its files against each other.
    ///
    /// - Throws: ``EngramError/Code/notFound`` when there is no store, ``EngramError/Code/locked`` when
    ///   another process writes to it, ``EngramError/Code/storageCorrupted`` when a file is damaged,
    ///   truncated or missing, ``EngramError/Code/schemaTooNew`` when a newer Engram wrote it.
    public static func open(at path: String, options: StoreOptions = StoreOptions()) throws -> MemoryStore {
        try MemoryStore(path: path, options: options, heldLock: nil)
    }

    /// Whether a store exists at `path` (one whose create was interrupted does not).
    public static func exists(at path: String) -> Bool {
        let dir = URL(fileURLWithPath: path)
        return FileManager.default.fileExists(atPath: dir.appendingPathComponent(databaseName).path)
            && !FileManager.default.fileExists(atPath: dir.appendingPathComponent(creatingName).path)
    }

    private init(path: String, options: StoreOptions, heldLock: StoreLock?) throws {
        let dir = URL(fileURLWithPath: path)
        let dbPath = dir.appendingPathComponent(Self.databaseName).path
        let vectorsPath = dir.appendingPathComponent(Self.vectorsName).path
        let compactingPath = dir.appendingPathComponent(Self.compactingName).path
        guard !FileManager.default.fileExists(atPath: dir.appendingPathComponent(Self.creatingName).path)
        else {
            throw EngramError(
                .notFound, "no store at \(path) (a create did not finish; creating it again starts over)")
        }
        guard FileManager.default.fileExists(atPath: dbPath) else {
            if FileManager.default.fileExists(atPath: vectorsPath) {
                throw EngramError(.storageCorrupted, "the database file \(dbPath) is missing")
            }
            throw EngramError(.notFound, "no store at \(path)")
        }
        self.path = path
        self.options = options
        scope = .unrestricted
        telemetry = Locked(Telemetry())
        scans = ScanCounter()
        pendingUsage = Locked([:])
        claimedUsageLogs = Locked([])
        embeddingCaches = Locked([])
        idGenerator = MemoryIDGenerator()
        directoryIdentity = FileIdentity(path: path)
        BLAS.setThreadCount(options.blasThreads)
        let lock: StoreLock?
        if options.readOnly {
            lock = nil
        } else if let heldLock {
            lock = heldLock
        } else {
            lock = try StoreLock(
                path: dir.appendingPathComponent(Self.lockName).path, timeout: options.lockTimeout)
        }
        records = try RecordStore(
            path: dbPath, readOnly: options.readOnly, synchronousFull: options.durability == .full)

        var meta = try records.meta()
        if let version = meta["format_version"].flatMap(Int.init), version > Schema.formatVersion {
            throw EngramError(
                .schemaTooNew,
                "the store has format version \(version); this Engram reads up to \(Schema.formatVersion)")
        }
        guard let dimension = meta["dimension"].flatMap(Int.init), let embedder = meta["embedder"] else {
            throw EngramError(.storageCorrupted, "the database has no store metadata (an unfinished create?)")
        }
        self.dimension = dimension
        self.embedderID = embedder

        // Finish or discard an interrupted compaction (see `compact()`).
        let fm = FileManager.default
        if meta["compacting"] == "1" {
            guard !options.readOnly else {
                throw EngramError(
                    .storageCorrupted, "an interrupted compaction must be finished by a writable open")
            }
            if fm.fileExists(atPath: compactingPath) && !FileIO.rename(compactingPath, vectorsPath) {
                throw VectorFile.ioError("finish compaction of", vectorsPath)
            }
            try records.setMeta(["compacting": "0"])
            meta["compacting"] = "0"
        } else if !options.readOnly && fm.fileExists(atPath: compactingPath) {
            _ = FileIO.unlink(compactingPath)
        }

        let vectors = try VectorFile.open(path: vectorsPath, writable: !options.readOnly)
        guard vectors.header.dimension == dimension else {
            throw EngramError(
                .storageCorrupted,
                "vector file dimension \(vectors.header.dimension) does not match the database's \(dimension)"
            )
        }
        guard vectors.header.embedder == embedder else {
            throw EngramError(.storageCorrupted, "vector file embedder does not match the database's")
        }
        guard vectors.header.element.rawValue == meta["element_type"] ?? "f32" else {
            throw EngramError(.storageCorrupted, "vector file element type does not match the database's")
        }
        element = vectors.header.element

        var slots = SlotTable()
        var names = NameTables()
        var free: [Int32]
        if let cached = SlotCache.read(
            directory: dir, counter: meta["commit_counter"] ?? "0", maxSlots: vectors.capacity)
        {
            (slots, free, names) = cached
        } else {
            for row in try records.slotRows() {
                guard row.slot >= 0 else {
                    throw EngramError(.storageCorrupted, "a memory has a negative vector slot")
                }
                slots[Int(row.slot)] = Self.slotInfo(row, names: &names)
            }
            free = slots.freeSlots()
        }
        _ = slots.takeAssigned()  // an index file is reconciled with the whole table when loaded
        let maxSlot = slots.count - 1
        guard maxSlot < vectors.capacity else {
            throw EngramError(
                .storageCorrupted,
                "vector file is truncated: it holds \(vectors.capacity) rows but slot \(maxSlot) is committed"
            )
        }
        // Free slots may have been freed by commits a crashed writer left unsynced under `.normal`: they
        // reach the disk before any of those slots is overwritten.
        if !options.readOnly && options.durability == .normal { try records.syncCommits() }
        var state = WriterState(
            vectors: options.readOnly ? nil : vectors, slots: slots, names: names, nextSlot: maxSlot + 1,
            lock: lock)
        state.free = free
        state.indexPending = IndexFile.exists(in: dir)
        state.openedAtCounter = meta["commit_counter"] ?? "0"
        let snapshot = StoreSnapshot(
            generation: 0, mapping: try vectors.map(), slots: slots, names: names,
            indexPending: state.indexPending)
        writer = Locked(state)
        readers = Locked(ReaderState(current: snapshot))
        if !options.readOnly {
            // Usage logs a previous writer claimed: delete those it wrote in, keep the rest for the next flush.
            let merged = UsageLog.merged(meta)
            let leftovers = UsageLog.leftovers(directory: dir)
            UsageLog.remove(leftovers.filter(merged.contains), directory: dir)
            claimedUsageLogs.withLock { $0 = leftovers.filter { !merged.contains($0) } }
            _ = try? sweepWorkingMemory()
        }
    }

    /// Another handle on the same open store, reaching only `scope` (see ``scoped(to:)``).
    private init(sharing store: MemoryStore, scope: Scope) {
        path = store.path
        dimension = store.dimension
        embedderID = store.embedderID
        element = store.element
        options = store.options
        self.scope = scope
        directoryIdentity = store.directoryIdentity
        records = store.records
        writer = store.writer
        readers = store.readers
        telemetry = store.telemetry
        scans = store.scans
        pendingUsage = store.pendingUsage
        claimedUsageLogs = store.claimedUsageLogs
        embeddingCaches = store.embeddingCaches
        idGenerator = store.idGenerator
    }

    /// A handle on this store that reaches only `scope`'s namespaces and actions, within this handle's
    /// own: give each agent one, so a confused or compromised agent cannot read, overwrite or forget
    /// another's memories. Handles share the open store (closing one closes it); make one per agent.
    ///
    /// Reads see only memories inside the scope: every filter is narrowed to it, and a memory outside it
    /// looks exactly like an unknown one (`notFound`, left out of results), so a handle cannot even learn
    /// that it exists. Asking for something that can only lie outside (a filter on another namespace,
    /// remembering into one, an action the scope lacks) fails with ``EngramError/Code/permissionDenied``
    /// naming the field. Checks that decide what a write touches run under the store's writer lock.
    /// Whole-store operations (``stats()``, ``health()``, ``compact()``) need ``Scope/unrestricted``.
    ///
    /// ```swift
    /// let agent = store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .readWrite))
    /// try agent.remember(NewMemory(content: "...", namespace: "acme/support/user-42", embedding: v))
    /// let hits = try agent.recall(query)             // only acme/support and below
    /// try agent.forget(hits[0].memory.id)            // permissionDenied: the scope cannot forget
    /// ```
    public func scoped(to scope: Scope) -> MemoryStore {
        let narrowed = self.scope.intersection(scope)
        // The service asks for a handle per request; an unchanged scope needs no new one.
        return narrowed == self.scope ? self : MemoryStore(sharing: self, scope: narrowed)
    }

    /// The whole store behind this handle, for front ends in this package that also own its lifetime.
    package var store: MemoryStore {
        scope == .unrestricted ? self : MemoryStore(sharing: self, scope: .unrestricted)
    }

    static func slotInfo(_ row: SlotRow, names: inout NameTables) -> SlotInfo {
        SlotInfo(
            rowID: row.rowID, id: row.id, namespace: names.namespaces.intern(row.namespace),
            agent: row.agent.map { names.agents.intern($0) } ?? -1, kind: names.kinds.intern(row.kind),
            succeeded: row.succeeded.map { $0 ? 1 : 0 } ?? -1, createdAt: row.createdAt,
            expiresAt: row.expiresAt ?? .infinity, tags: row.tags.map { names.tags.intern($0) }.sorted(),
            trust: Int8(clamping: row.trust), quarantined: row.quarantined,
            validFrom: row.validFrom ?? row.createdAt, validUntil: row.validUntil ?? .infinity)
    }

    /// Closes the store: releases the writer lock and the database. Further calls throw
    /// ``EngramError/Code/notWritable``. Recalls already running finish on their snapshot.
    public func close() throws {
        let closing = writer.withLock {
            state -> (
                wasOpen: Bool, writable: Bool, stopped: Bool, slots: SlotTable, names: NameTables,
                index: VectorIndex?
            ) in
            defer {
                state.closed = true
                state.vectors = nil
            }
            return (
                !state.closed, state.vectors != nil, state.stopped != nil, state.slots, state.names,
                state.indexDirty ? state.index : nil
            )
        }
        guard closing.wasOpen else { return }
        // Nothing path-based goes into a directory that replaced ours while open.
        let sameDirectory = FileIdentity(path: path) == directoryIdentity
        if closing.writable, sameDirectory {
            try? flushUsage()  // before the slot cache, which records the commit counter
        } else if sameDirectory {
            UsageLog.append(takePendingUsage(), directory: URL(fileURLWithPath: path))
        }
        // Not from a stopped handle: its slots may be behind the database's.
        if closing.writable, !closing.stopped, sameDirectory,
            let counter = try? records.meta()["commit_counter"]
        {
            SlotCache.write(
                directory: URL(fileURLWithPath: path), counter: counter, slots: closing.slots,
                names: closing.names)
            // Like the slot cache, only a speed-up: an older index file is brought up to date at the next load.
            if let index = closing.index {
                try? IndexFile.write(index, counter: counter, directory: URL(fileURLWithPath: path))
            }
        }
        // Empty the WAL, or the next open reads all of it to rebuild SQLite's WAL index (150 ms after
        // a 1M-memory ingest). SQLite does this itself when the last connection closes, but the pool's
        // read-only connections may close last, and they cannot. A reader elsewhere can make it wait.
        if closing.writable, !closing.stopped, sameDirectory { try? records.checkpoint() }
        try records.close()
        // The vector mapping goes with the last snapshot that uses it: a mapping of a file opened for
        // writing counts as an open file (a filesystem could not be remounted read-only, for one).
        readers.withLock { state in
            let old = state.current
            state.current = StoreSnapshot(
                generation: old.generation, mapping: VectorMapping(noRowsLike: old.mapping),
                slots: SlotTable(),
                names: NameTables())
        }
        writer.withLock { $0.lock = nil }  // last: no other process may write before our files are closed
    }

    // MARK: Snapshots

    /// Runs `body` on the current snapshot, registered as an active reader so the writer does not reuse
    /// slots it may still score.
    func withSnapshot<T>(_ body: (StoreSnapshot) throws -> T) throws -> T {
        try checkOpen()
        let snapshot = readers.withLock { state -> StoreSnapshot in
            state.active[state.current.generation, default: 0] += 1
            return state.current
        }
        defer {
            readers.withLock { state in
                let g = snapshot.generation
                if let n = state.active[g], n > 1 { state.active[g] = n - 1 } else { state.active[g] = nil }
            }
        }
        return try body(snapshot)
    }

    func checkOpen() throws {
        if writer.withLock({ $0.closed }) { throw EngramError(.notWritable, "the store is closed") }
    }

    /// Runs a write under the writer lock, then publishes the resulting snapshot.
    func write<T>(_ body: (inout WriterState) throws -> T) throws -> T {
        try writer.withLock { state in
            guard !state.closed else { throw EngramError(.notWritable, "the store is closed") }
            guard state.vectors != nil else {
                throw EngramError(.notWritable, "the store was opened read-only")
            }
            if state.stopped == nil, FileIdentity(path: path) != directoryIdentity {
                state.stopped = "its directory \(path) was moved, removed or replaced"
            }
            if let stopped = state.stopped {
                throw EngramError(
                    .io, "this handle stopped writing after \(stopped); reopen the store to recover")
            }
            try releaseFreedSlots(&state)
            do {
                try flushUsage()
                return try body(&state)
            } catch {
                if records.takeCommitInDoubt() {
                    state.stopped = "a commit whose sync failed (it may or may not have been committed)"
                }
                throw error
            }
        }
    }

    /// Notes that recalls returned these memories. A read-only handle hands its notes to the
    /// ``UsageLog`` when it closes (or every few thousand memories), for the writer to add.
    func noteRecalled(_ results: [[RecallHit]]) {
        guard options.recordsUsage else { return }
        let now = options.clock.now().timeIntervalSince1970
        let full = pendingUsage.withLock { pending -> Bool in
            for hits in results {
                for hit in hits {
                    let before = pending[hit.memory.id] ?? (0, 0)
                    pending[hit.memory.id] = (before.count + 1, max(before.last, now))
                }
            }
            return pending.count >= Self.usageBufferLimit
        }
        if full && options.readOnly {
            UsageLog.append(takePendingUsage(), directory: URL(fileURLWithPath: path))
        }
    }

    /// Memories recalled but not yet counted in the database: this handle's pending notes and the usage
    /// logs no writer has written in.
    func unwrittenUsage() -> Set<MemoryID> {
        let directory = URL(fileURLWithPath: path)
        let merged = UsageLog.merged((try? records.meta()) ?? [:])
        let logs = [UsageLog.name] + UsageLog.leftovers(directory: directory).filter { !merged.contains($0) }
        var ids = pendingUsage.withLock { Set($0.keys) }
        for log in logs { ids.formUnion(UsageLog.read(log, directory: directory).map(\.id)) }
        return ids
    }

    /// Memories whose pending usage a read-only handle holds before it appends to the log.
    static let usageBufferLimit = 4096

    func takePendingUsage() -> [UsageLog.Entry] {
        pendingUsage.withLock { pending in
            defer { pending = [:] }
            return pending.map { (id: $0.key, count: $0.value.count, last: $0.value.last) }
        }
    }

    /// Writes the recalls noted since the last flush, and those read-only handles logged, into the
    /// memories' usage columns (in a transaction of its own: usage is bookkeeping, and a failed write
    /// keeps everything for the next try).
    package func flushUsage() throws {
        let directory = URL(fileURLWithPath: path)
        var claimed = claimedUsageLogs.withLock { logs in
            defer { logs = [] }
            return logs
        }
        if let fresh = UsageLog.claim(directory: directory) { claimed.append(fresh) }
        let pending = takePendingUsage()
        guard !pending.isEmpty || !claimed.isEmpty else { return }
        let logged = claimed.flatMap { UsageLog.read($0, directory: directory) }
        do {
            try records.recordUsage(pending + logged, consumedLogs: claimed)
        } catch {
            pendingUsage.withLock { now in
                for entry in pending {
                    let before = now[entry.id] ?? (0, 0)
                    now[entry.id] = (before.count + entry.count, max(before.last, entry.last))
                }
            }
            claimedUsageLogs.withLock { $0 = claimed + $0 }
            throw error
        }
        UsageLog.remove(claimed, directory: directory)
    }

    /// Publishes the writer's state as the new snapshot, with a fresh mapping when the file grew.
    func publish(_ state: inout WriterState, remap: Bool) throws {
        if remap { state.remapPending = true }  // kept until a map succeeds
        state.generation += 1
        let previous = readers.withLock { $0.current }
        let mapping: VectorMapping
        if state.remapPending || previous.mapping.capacity < state.slots.count, let vectors = state.vectors {
            mapping = try vectors.map()
            state.remapPending = false
        } else {
            mapping = previous.mapping
        }
        updateIndex(&state, mapping: mapping)
        let snapshot = StoreSnapshot(
            generation: state.generation, mapping: mapping, slots: state.slots, names: state.names,
            index: state.index, indexPending: state.indexPending)
        readers.withLock { $0.current = snapshot }
    }

    /// Why this handle stopped writing (see `WriterState.stopped`), for tests.
    package var stoppedReason: String? { writer.withLock { $0.stopped } }

    /// Moves slots freed before every active reader's snapshot, by commits known to be on disk, into the
    /// free list. Under `.normal`, when none is free and at least `unsyncedFreeLimit` wait only for their
    /// commit to reach the disk, syncs the commits rather than grow the file past that many dead rows.
    private func releaseFreedSlots(_ state: inout WriterState) throws {
        guard !state.pendingFree.isEmpty else { return }
        let oldest = readers.withLock { $0.active.keys.min() } ?? UInt64.max
        let durable = options.durability == .full ? UInt64.max : state.durableGeneration
        var kept: [(generation: UInt64, slots: [Int32])] = []
        var unsynced = 0
        for entry in state.pendingFree {
            if entry.generation <= min(oldest, durable) {
                state.free.append(contentsOf: entry.slots)
            } else {
                kept.append(entry)
                if entry.generation > durable { unsynced += entry.slots.count }
            }
        }
        state.pendingFree = kept
        if state.free.isEmpty && unsynced >= Self.unsyncedFreeLimit {
            try records.syncCommits()
            state.durableGeneration = state.generation
            try releaseFreedSlots(&state)
        }
    }

    /// Freed slots that wait for their commit to reach the disk before `.normal` syncs the WAL itself.
    static let unsyncedFreeLimit = 1024

    /// Takes `n` slots, reusing free ones first.
    func allocateSlots(_ n: Int, _ state: inout WriterState) -> [Int32] {
        var slots: [Int32] = []
        slots.reserveCapacity(n)
        while slots.count < n, let slot = state.free.popLast() { slots.append(slot) }
        while slots.count < n {
            slots.append(Int32(state.nextSlot))
            state.nextSlot += 1
        }
        return slots
    }

    // MARK: Validation shared by writes and recalls

    /// Checks a vector and returns it L2-normalised (norm computed in Double).
    func normalized(_ vector: [Float], field: String) throws -> [Float] {
        try normalized(vector, dimension: dimension, field: field)
    }

    /// Checks a vector against an explicit dimension and returns it L2-normalised.
    func normalized(_ vector: [Float], dimension: Int, field: String) throws -> [Float] {
        guard vector.count == dimension else {
            throw EngramError(
                .dimensionMismatch, "has \(vector.count) values; the store's dimension is \(dimension)",
                field: field)
        }
        var sum = 0.0
        for x in vector {
            guard x.isFinite else { throw EngramError.invalid(field, "contains NaN or infinity") }
            sum += Double(x) * Double(x)
        }
        guard sum > 0, sum.isFinite else { throw EngramError.invalid(field, "is a zero vector") }
        let scale = 1 / sum.squareRoot()
        return vector.map { Float(Double($0) * scale) }
    }

    func nowSeconds() -> Double { options.clock.now().timeIntervalSince1970 }
}
