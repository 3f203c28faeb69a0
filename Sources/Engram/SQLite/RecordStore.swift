import Foundation
internal import GRDB

/// Everything Engram keeps in SQLite: records, history, full-text index, meta and working memory.
/// The only type that talks to GRDB; each method is one transaction.
final class RecordStore: Sendable {
    let path: String
    /// Whether every commit syncs the WAL (`.full` durability); otherwise only checkpoints do.
    private let synchronousFull: Bool
    private let pool: DatabasePool
    /// Whether the schema has v5's columns (namespace terms, feedback, content hash). Only a read-only
    /// handle on a store that no writer of this version has opened yet lacks them.
    let hasV5Columns: Bool
    /// Whether the schema has v7's provenance, quarantine and validity columns, the audit log and tombstones.
    let hasV7Columns: Bool
    /// Whether the full-text index also holds each word under its namespace (schema v6), so a query
    /// inside a few namespaces reads only their rows' entries.
    let hasScopedWords: Bool
    /// Full-text document frequencies of recent query terms, valid until the next commit.
    let frequencies = DocumentFrequencies()
    /// Set when a commit's WAL sync failed: its frames are in the WAL, so the commit may come back at
    /// the next open (or not). Found by the I/O-error test; the store stops writing on it.
    private let commitInDoubt = Locked(false)

    /// Time spent filling the full-text index for inserted memories since open (what `bench run` takes out
    /// of its ingest time for the rate without full text).
    var fullTextFillTime: Duration { fullTextFill.withLock { $0 } }
    let fullTextFill = Locked(Duration.zero)

    /// How much of the database file SQLite maps for reading (address space, not memory).
    static let mappedBytes = 1 << 30

    /// Opens (creating if allowed) the database in WAL mode and runs migrations when writable.
    init(path: String, readOnly: Bool, synchronousFull: Bool) throws {
        self.path = path
        self.synchronousFull = synchronousFull
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(5)
        config.label = "engram"
        config.prepareDatabase { db in
            try FullText.registerFunctions(db)
            // Reads through a shared mapping instead of a pread per page into each connection's own cache
            // (11 % of a keyword recall's time); the vectors are mapped the same way.
            try db.execute(sql: "PRAGMA mmap_size = \(Self.mappedBytes)")
        }
        let pool = try Self.sqlite { try DatabasePool(path: path, configuration: config) }
        self.pool = pool
        if !readOnly {
            // After the pool is made: it sets `synchronous = NORMAL` on its writer once WAL is on, after
            // `prepareDatabase`, which left `.full` stores without a WAL sync per commit (found by the
            // power-cut test). Only the writer connection commits, and it lives as long as the pool.
            try Self.setSynchronous(full: synchronousFull, pool: pool, path: path)
        }
        if readOnly {
            let superseded = try Self.sqlite { try pool.read { try Schema.migrator.hasBeenSuperseded($0) } }
            if superseded { throw Self.tooNew() }
        } else {
            try Self.sqlite {
                try pool.write { db in
                    if try Schema.migrator.hasBeenSuperseded(db) { throw Self.tooNew() }
                }
                try Schema.migrator.migrate(pool)
            }
        }
        (hasV5Columns, hasV7Columns, hasScopedWords) = try Self.sqlite {
            try pool.read { db in
                let columns = try db.columns(in: "memory").map(\.name)
                return (
                    columns.contains("scope_terms"), columns.contains("quarantined"),
                    try db.viewExists("memory_fts_source")
                )
            }
        }
    }

    private static func tooNew() -> EngramError {
        EngramError(.schemaTooNew, "the database was written by a newer Engram; upgrade to open it")
    }

    /// Runs GRDB work, turning its errors into ``EngramError``.
    static func sqlite<T>(_ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch let error as EngramError {
            throw error
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB {
                throw EngramError(.storageCorrupted, "the database is damaged: \(error.resultCode)")
            }
            if error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                throw EngramError(.locked, "the database is busy: \(error.resultCode)")
            }
            // The disk, not the data: the transaction was rolled back and a retry may succeed.
            if error.resultCode == .SQLITE_FULL {
                throw EngramError(
                    .io, "cannot write the database: the disk is full (\(error.message ?? "SQLITE_FULL"))")
            }
            if error.resultCode == .SQLITE_CANTOPEN {
                throw EngramError(
                    .io,
                    "cannot open or create a database file: \(error.message ?? "") (\(error.extendedResultCode))"
                )
            }
            if error.resultCode == .SQLITE_IOERR {
                throw EngramError(
                    .io,
                    "cannot read or write the database: \(error.message ?? "") (\(error.extendedResultCode))")
            }
            throw EngramError(.sqlite, "SQLite error \(error.resultCode): \(error.message ?? "")")
        } catch {
            throw EngramError(.sqlite, "\(error)")
        }
    }

    func read<T>(_ work: (Database) throws -> T) throws -> T {
        try Self.sqlite { try pool.read(work) }
    }

    /// Runs a write transaction that also advances `meta.commit_counter`, so anything derived from the
    /// database (the slot cache) can tell whether it is still current.
    func write<T>(_ work: (Database) throws -> T) throws -> T {
        try Self.sqlite {
            do {
                return try pool.write { db in
                    let result = try work(db)
                    try db.execute(
                        sql: """
                            INSERT INTO meta(key, value) VALUES ('commit_counter', '1')
                            ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
                            """)
                    return result
                }
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_IOERR_FSYNC {
                commitInDoubt.withLock { $0 = true }
                throw error
            }
        }
    }

    /// Whether a commit failed at its sync since the last call (see `commitInDoubt`).
    func takeCommitInDoubt() -> Bool {
        commitInDoubt.withLock { state in
            defer { state = false }
            return state
        }
    }

    private static func setSynchronous(full: Bool, pool: DatabasePool, path: String) throws {
        let level = full ? 2 : 1
        let set = try Self.sqlite {
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(level)")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
        }
        guard set == level else { throw EngramError(.io, "SQLite refused synchronous = \(level) on \(path)") }
    }

    /// Runs `body` with each of its commits synced to disk whatever the durability setting: for the
    /// commits a rename depends on (compaction, re-embedding), which a power cut must not undo once
    /// the rename is durable (found by the power-cut test under `.normal`).
    func durably<T>(_ body: () throws -> T) throws -> T {
        guard !synchronousFull else { return try body() }
        try Self.setSynchronous(full: true, pool: pool, path: path)
        defer { try? Self.setSynchronous(full: false, pool: pool, path: path) }
        return try body()
    }

    /// Makes every commit so far durable: one synced commit, whose WAL sync covers the frames before it.
    func syncCommits() throws {
        try durably { try write { _ in } }
    }

    /// Closes every connection.
    func close() throws {
        try Self.sqlite { try pool.close() }
    }

    /// Checkpoints the WAL into the main file and empties it (at a writable handle's close).
    func checkpoint() throws {
        _ = try Self.sqlite { try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) } }
    }

    // MARK: Meta

    func meta() throws -> [String: String] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT key, value FROM meta")
            return Dictionary(
                rows.map { ($0["key"] as String, $0["value"] as String) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func setMeta(_ values: [String: String]) throws {
        try write { db in try Self.setMeta(values, db) }
    }

    static func setMeta(_ values: [String: String], _ db: Database) throws {
        for (key, value) in values {
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

}
