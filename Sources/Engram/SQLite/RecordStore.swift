import Foundation
internal import GRDB

/// The hot columns of one live memory, loaded at open to build the in-memory slot table.
struct SlotRow {
    var slot: Int32
    var rowID: Int64
    var id: MemoryID
    var namespace: String
    var agent: String?
    var kind: String
    var succeeded: Bool?
    var createdAt: Double
    var expiresAt: Double?
    var tags: [String]
}

/// A working-memory entry as stored.
struct WorkingRow {
    var namespace: String
    var key: String
    var value: String
    var createdAt: Double
    var expiresAt: Double
}

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
    /// Whether the full-text index also holds each word under its namespace (schema v6), so a query
    /// inside a few namespaces reads only their rows' entries.
    let hasScopedWords: Bool
    /// Full-text document frequencies of recent query terms, valid until the next commit.
    private let frequencies = DocumentFrequencies()
    /// Set when a commit's WAL sync failed: its frames are in the WAL, so the commit may come back at
    /// the next open (or not). Found by the I/O-error test; the store stops writing on it.
    private let commitInDoubt = Locked(false)

    /// Time spent filling the full-text index for inserted memories since open (what `bench run` takes out
    /// of its ingest time for the rate without full text).
    var fullTextFillTime: Duration { fullTextFill.withLock { $0 } }
    private let fullTextFill = Locked(Duration.zero)

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
        (hasV5Columns, hasScopedWords) = try Self.sqlite {
            try pool.read { db in
                (try db.columns(in: "memory").contains { $0.name == "scope_terms" }, try db.viewExists("memory_fts_source"))
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
                throw EngramError(.io, "cannot write the database: the disk is full (\(error.message ?? "SQLITE_FULL"))")
            }
            if error.resultCode == .SQLITE_CANTOPEN {
                throw EngramError(.io, "cannot open or create a database file: \(error.message ?? "") (\(error.extendedResultCode))")
            }
            if error.resultCode == .SQLITE_IOERR {
                throw EngramError(.io, "cannot read or write the database: \(error.message ?? "") (\(error.extendedResultCode))")
            }
            throw EngramError(.sqlite, "SQLite error \(error.resultCode): \(error.message ?? "")")
        } catch {
            throw EngramError(.sqlite, "\(error)")
        }
    }

    private func read<T>(_ work: (Database) throws -> T) throws -> T {
        try Self.sqlite { try pool.read(work) }
    }

    /// Runs a write transaction that also advances `meta.commit_counter`, so anything derived from the
    /// database (the slot cache) can tell whether it is still current.
    private func write<T>(_ work: (Database) throws -> T) throws -> T {
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
            return Dictionary(rows.map { ($0["key"] as String, $0["value"] as String) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func setMeta(_ values: [String: String]) throws {
        try write { db in try Self.setMeta(values, db) }
    }

    private static func setMeta(_ values: [String: String], _ db: Database) throws {
        for (key, value) in values {
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

    // MARK: Memories

    private static let columns = """
        id, namespace, agent, kind, content, cause, outcome, succeeded, tags, importance, metadata,
        created_at, updated_at, expires_at, supersedes
        """

    /// Inserts new memories at their slots and indexes their text; returns their rowids in order.
    /// With `consuming`, the same transaction deletes that working-memory entry, and fails with
    /// ``EngramError/Code/notFound`` (storing nothing) when it is already gone.
    /// `hash` is the memory's ``ContentHash`` when the caller has it already (a batch remember computes it
    /// for the duplicate check); nil computes it here. `bulk` (see ``isBulk(_:stored:)``) builds the
    /// secondary indexes after the rows.
    func insert(
        _ records: [(memory: Memory, slot: Int32, hash: String?)], consuming entry: (namespace: String, key: String)? = nil,
        bulk: Bool = false
    ) throws -> [Int64] {
        try write { db in
            if let entry {
                try db.execute(
                    sql: "DELETE FROM working WHERE namespace = ? AND key = ?", arguments: [entry.namespace, entry.key])
                guard db.changesCount > 0 else {
                    throw EngramError(.notFound, "no working-memory entry with this key", field: "key")
                }
            }
            let rowIDs = try Self.withSecondaryIndexesDeferred(if: bulk, db) {
                try records.map { try Self.insert($0.memory, slot: $0.slot, hash: $0.hash, db) }
            }
            let started = ContinuousClock.now
            try Self.indexFullText(rowIDs, db)
            let spent = ContinuousClock.now - started
            fullTextFill.withLock { $0 += spent }
            return rowIDs
        }
    }

    /// Batches from this size on are inserted in bulk when the store holds no more memories than the batch.
    static let bulkThreshold = 10_000

    /// Whether a batch of `count` is big enough, against the `stored` memories, that building the secondary
    /// indexes afresh after its rows costs less than inserting into them row by row. (The writer knows
    /// `stored` from its slot table: SQLite's `count(*)` reads a whole index, 0.7 s at 1M when not cached.)
    static func isBulk(_ count: Int, stored: Int) -> Bool {
        count >= bulkThreshold && stored <= count
    }

    /// Runs `work` inside the current transaction with the memory table's secondary indexes (namespace,
    /// content hash: not the UNIQUE ones, which check the rows) dropped first and created again from
    /// their recorded SQL at the end, when `bulk`. Creating an index sorts its keys once; inserting a
    /// random key such as the content hash into a b-tree row by row is what makes a large first import
    /// slow (`Benchmarks/compare/ingest_floor.py`: SQLite alone, 100k rows with full text, 68k rows/s
    /// with live indexes, 97k built after). All in one transaction: a crash or an error rolls back the
    /// drop with the rows, and readers keep their snapshot's indexes.
    static func withSecondaryIndexesDeferred<T>(if bulk: Bool, _ db: Database, _ work: () throws -> T) throws -> T {
        guard bulk else { return try work() }
        let indexes = try Row.fetchAll(
            db,
            sql: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memory' AND sql IS NOT NULL")
        for index in indexes { try db.execute(sql: "DROP INDEX \"\(index["name"] as String)\"") }
        let result = try work()
        for index in indexes { try db.execute(sql: index["sql"] as String) }
        return result
    }

    /// Adds rows to the full-text index in one statement (the delete and update triggers keep it in
    /// sync afterwards). Rows inserted by one transaction have consecutive rowids.
    private static func indexFullText(_ rowIDs: [Int64], _ db: Database) throws {
        guard let low = rowIDs.min(), let high = rowIDs.max() else { return }
        try db.execute(
            sql: """
                INSERT INTO memory_fts(rowid, content, cause, outcome, tags, scope_terms)
                SELECT rowid, content, cause, outcome, tags, scope_terms FROM memory_fts_source
                WHERE rowid BETWEEN ? AND ?
                """, arguments: [low, high])
    }

    private static func insert(_ m: Memory, slot: Int32, hash: String? = nil, _ db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO memory(
                    slot, \(columns), recall_count, last_recalled_at, helpful_count, unhelpful_count,
                    scope_terms, content_hash)
                VALUES (?, ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, ?,?,?,?, ?,?)
                """)
        let extra: StatementArguments = [
            m.recallCount, m.lastRecalledAt?.timeIntervalSince1970, m.helpfulCount, m.unhelpfulCount,
            FullText.namespaceTerm(m.namespace), hash ?? ContentHash.of(content: m.content, cause: m.cause, outcome: m.outcome),
        ]
        try statement.execute(arguments: [slot] + arguments(of: m) + extra)
        return db.lastInsertedRowID
    }

    private static func arguments(of m: Memory) -> StatementArguments {
        [
            m.id.description, m.namespace, m.agent, m.kind.rawValue, m.content, m.cause, m.outcome,
            m.succeeded, Self.tagText(m.tags), m.importance,
            JSONValue.object(m.metadata).jsonText, m.createdAt.timeIntervalSince1970,
            m.updatedAt.timeIntervalSince1970, m.expiresAt?.timeIntervalSince1970, m.supersedes?.description,
        ]
    }

    /// Adds recalls to memories' usage columns: `count` more recalls, the latest at `last` (seconds since
    /// 1970). Memories forgotten meanwhile are skipped. `consumedLogs`, when given, names the usage log
    /// files these counts came from, recorded in the same transaction (``UsageLog/mergedKey``).
    func recordUsage(_ usage: [(id: MemoryID, count: Int, last: Double)], consumedLogs: [String] = []) throws {
        guard !usage.isEmpty || !consumedLogs.isEmpty else { return }
        try write { db in
            if !consumedLogs.isEmpty {
                try Self.setMeta([UsageLog.mergedKey: consumedLogs.joined(separator: ",")], db)
            }
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE memory SET recall_count = recall_count + ?,
                        last_recalled_at = max(coalesce(last_recalled_at, 0), ?) WHERE id = ?
                    """)
            for entry in usage { try statement.execute(arguments: [entry.count, entry.last, entry.id.description]) }
        }
    }

    /// Adds one report to a memory's feedback counts. Returns false when no live memory has this id.
    func recordFeedback(_ id: MemoryID, helpful: Bool) throws -> Bool {
        try write { db in
            let column = helpful ? "helpful_count" : "unhelpful_count"
            try db.execute(sql: "UPDATE memory SET \(column) = \(column) + 1 WHERE id = ?", arguments: [id.description])
            return db.changesCount > 0
        }
    }

    /// Unexpired live memories of `namespace` with one of these content hashes (``ContentHash``): hash -> id.
    func duplicates(namespace: String, hashes: [String], now: Double) throws -> [String: MemoryID] {
        guard !hashes.isEmpty, hasV5Columns else { return [:] }
        return try read { db in
            var result: [String: MemoryID] = [:]
            for chunk in Self.chunks(hashes) {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT content_hash, id FROM memory
                        WHERE namespace = ? AND content_hash IN (\(databaseQuestionMarks(count: chunk.count)))
                            AND (expires_at IS NULL OR expires_at > ?)
                        ORDER BY id
                        """, arguments: StatementArguments([namespace] + chunk + [now]))
                for row in rows where result[row[0]] == nil {
                    if let id = MemoryID(row[1] as String) { result[row[0]] = id }
                }
            }
            return result
        }
    }

    /// Deletes memories by rowid (the full-text index follows by trigger). Returns how many existed.
    func delete(rowIDs: [Int64]) throws -> Int {
        try write { db in
            var deleted = 0
            for rowID in rowIDs {
                try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [rowID])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// Replaces a memory by a new version in one transaction: the old row moves to history.
    func supersede(oldRowID: Int64, old: Memory, new: Memory, slot: Int32, at time: Date) throws -> Int64 {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO memory_history(\(Self.columns), superseded_by, superseded_at)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, ?, ?)
                    """,
                arguments: Self.arguments(of: old) + [new.id.description, time.timeIntervalSince1970])
            try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [oldRowID])
            guard db.changesCount == 1 else {
                throw EngramError(.notFound, "the memory was removed concurrently", field: "id")
            }
            let rowID = try Self.insert(new, slot: slot, db)
            try Self.indexFullText([rowID], db)
            return rowID
        }
    }

    /// Older versions of a memory, newest first, following `supersedes` links through history.
    func history(of id: MemoryID) throws -> [Memory] {
        try read { db in
            var chain: [Memory] = []
            var next = try Row.fetchOne(db, sql: "SELECT supersedes FROM memory WHERE id = ?", arguments: [id.description])
                .flatMap { $0["supersedes"] as String? }
            var seen = Set<String>()
            let statement = try db.cachedStatement(sql: "SELECT \(Self.columns) FROM memory_history WHERE id = ?")
            while let current = next, seen.insert(current).inserted {
                next = nil
                try statement.forEachRow(arguments: [current]) { row in
                    chain.append(try memory(from: row, usage: false))
                    next = row.optionalString(14)
                    return false
                }
            }
            return chain
        }
    }

    /// The rowid and vector slot of each live memory among `ids`.
    func locate(_ ids: [MemoryID]) throws -> [MemoryID: (Int64, Int32)] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            var result: [MemoryID: (Int64, Int32)] = [:]
            for chunk in Self.chunks(ids.map(\.description)) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, rowid, slot FROM memory WHERE id IN (\(marks))", arguments: StatementArguments(chunk))
                {
                    if let id = MemoryID(row["id"] as String) { result[id] = (row["rowid"], row["slot"]) }
                }
            }
            return result
        }
    }

    /// Splits long `IN (...)` lists to stay under SQLite's parameter limit.
    private static func chunks<T>(_ values: [T]) -> [[T]] {
        stride(from: 0, to: values.count, by: 500).map { Array(values[$0..<min($0 + 500, values.count)]) }
    }

    /// Usage and feedback columns, which history rows do not have (nor feedback before v5).
    private var usageColumns: String {
        hasV5Columns
            ? "recall_count, last_recalled_at, helpful_count, unhelpful_count" : "recall_count, last_recalled_at"
    }

    /// Memories by rowid.
    func memories(rowIDs: [Int64]) throws -> [Int64: Memory] {
        guard !rowIDs.isEmpty else { return [:] }
        return try read { db in try memories(rowIDs: rowIDs, db) }
    }

    private func memories(rowIDs: [Int64], _ db: Database) throws -> [Int64: Memory] {
        guard !rowIDs.isEmpty else { return [:] }
        // One cached statement whatever the count: the rowids arrive as one JSON array.
        let statement = try db.cachedStatement(
            sql: "SELECT rowid, \(Self.columns), \(usageColumns) FROM memory WHERE rowid IN (SELECT value FROM json_each(?))")
        var result: [Int64: Memory] = [:]
        try statement.forEachRow(arguments: ["[" + rowIDs.map(String.init).joined(separator: ",") + "]"]) { row in
            result[row.int64(0)] = try memory(from: row, at: 1, usage: true)
            return true
        }
        return result
    }

    /// Every live memory's hot columns and slot.
    func slotRows() throws -> [SlotRow] {
        try read { db in
            var result: [SlotRow] = []
            let rows = try Row.fetchCursor(
                db, sql: "SELECT slot, rowid, id, namespace, agent, kind, succeeded, created_at, expires_at, tags FROM memory")
            while let row = try rows.next() {
                guard let id = MemoryID(row[2] as String) else {
                    throw EngramError(.storageCorrupted, "a memory row has a malformed id")
                }
                result.append(
                    SlotRow(
                        slot: row[0], rowID: row[1], id: id, namespace: row[3], agent: row[4], kind: row[5],
                        succeeded: row[6], createdAt: row[7], expiresAt: row[8], tags: Self.tags(row[9])))
            }
            return result
        }
    }

    /// Merges the full-text index into one segment. Every commit adds a segment that each keyword query
    /// then searches; FTS5 merges them gradually, compaction merges them all.
    func optimizeFullText() throws {
        try write { db in try db.execute(sql: "INSERT INTO memory_fts(memory_fts) VALUES ('optimize')") }
    }

    /// Gives memories new slots (compaction) and records meta in the same transaction.
    func renumber(_ slots: [(rowID: Int64, slot: Int32)], meta: [String: String]) throws {
        try write { db in
            // Two passes avoid transient UNIQUE(slot) collisions.
            try db.execute(sql: "UPDATE memory SET slot = -1 - slot")
            for (rowID, slot) in slots {
                try db.execute(sql: "UPDATE memory SET slot = ? WHERE rowid = ?", arguments: [slot, rowID])
            }
            try Self.setMeta(meta, db)
        }
    }

    /// Rowids of memories whose metadata satisfies every condition.
    func rowIDs(matching conditions: [MemoryFilter.MetadataCondition]) throws -> Set<Int64> {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        for condition in conditions {
            let path = "$.\"\(condition.key)\""
            switch condition {
            case .equals(_, let value):
                clauses.append(try Self.equalityClause(value, path: path, args: &args))
            case .isIn(_, let values):
                let parts = try values.map { try Self.equalityClause($0, path: path, args: &args) }
                clauses.append(parts.isEmpty ? "0" : "(" + parts.joined(separator: " OR ") + ")")
            case .range(_, let lo, let hi):
                clauses.append("json_type(metadata, ?) IN ('integer', 'real')")
                args.append(path)
                if let lo {
                    clauses.append("json_extract(metadata, ?) >= ?")
                    args += [path, lo]
                }
                if let hi {
                    clauses.append("json_extract(metadata, ?) <= ?")
                    args += [path, hi]
                }
            }
        }
        let sql = "SELECT rowid FROM memory WHERE " + (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "))
        return try read { db in Set(try Int64.fetchAll(db, sql: sql, arguments: StatementArguments(args))) }
    }

    private static func equalityClause(
        _ value: JSONValue, path: String, args: inout [any DatabaseValueConvertible]
    ) throws -> String {
        switch value {
        case .string(let s):
            args += [path, path, s]
            return "(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?)"
        case .number(let n):
            args += [path, path, n]
            return "(json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) = ?)"
        case .bool(let b):
            args += [path, b ? "true" : "false"]
            return "(json_type(metadata, ?) = ?)"
        case .null:
            args += [path]
            return "(json_type(metadata, ?) = 'null')"
        case .array, .object:
            throw EngramError.invalid("filter.metadata", "can compare only strings, numbers, booleans and null")
        }
    }

    /// Full-text matches of any of `terms`, best first, as (slot, rowid, score): the BM25 of FTS5 with
    /// per-column weights, negated so that larger is better.
    ///
    /// `namespaces`, when given, restricts the MATCH itself to memories of those namespaces, so a query
    /// inside a small namespace scores only that namespace's rows: through the words indexed under each
    /// namespace (schema v6) for up to `FullText.maxScopedNamespaces`, else by ANDing namespace terms. Rows stream in rank order through
    /// `accept` (the caller's remaining filter) until `limit` are accepted: one pass, never a wider retry.
    ///
    /// Scores come from `engram_bm25` (Sources/CFullText), FTS5's `bm25()` with each term's document
    /// frequency taken from `frequencies` instead of read from the whole index on every query, which is
    /// what a query inside a small namespace would otherwise spend most of its time on.
    ///
    /// The same transaction reads the memories of the matches and of `alsoLoading` (the other side's
    /// candidates in a hybrid recall), so they are the records of the snapshot that matched.
    func keywordMatches(
        terms: [String], namespaces: [String]?, weights: ColumnWeights, limit: Int, alsoLoading extra: [Int64] = [],
        accept: (_ slot: Int32, _ rowID: Int64) -> Bool
    ) throws -> (matches: [(slot: Int32, rowID: Int64, score: Double)], memories: [Int64: Memory]) {
        // Inside a few namespaces, their scoped words; inside more, their namespace terms ANDed in.
        let scoped = namespaces.flatMap { hasScopedWords && $0.count <= FullText.maxScopedNamespaces ? $0 : nil }
        let pattern = scoped.map { FullText.pattern(anyOf: terms, scopedTo: $0) }
            ?? FullText.pattern(anyOf: terms, namespaces: hasV5Columns ? namespaces : nil)
        var arguments: StatementArguments = [weights.content, weights.cause, weights.outcome, weights.tags]
        if hasV5Columns { arguments += [0.0] }
        let weightMarks = hasV5Columns ? "?, ?, ?, ?, ?" : "?, ?, ?, ?"
        return try read { db in
            guard let pattern else { return ([], try memories(rowIDs: extra, db)) }
            let counts = try frequencies.counts(of: terms, db: db)
            let phraseCounts = scoped.map { Array(repeatElement(counts, count: $0.count).joined()) } ?? counts
            let statement = try db.cachedStatement(
                sql: """
                    SELECT memory.slot, memory.rowid, engram_bm25(memory_fts, ?, \(weightMarks)) AS score
                    FROM memory_fts JOIN memory ON memory.rowid = memory_fts.rowid
                    WHERE memory_fts MATCH ? ORDER BY score
                    """)
            var result: [(slot: Int32, rowID: Int64, score: Double)] = []
            try statement.forEachRow(arguments: [FullText.frequencyBlob(phraseCounts)] + arguments + [pattern]) { row in
                let slot = Int32(truncatingIfNeeded: row.int64(0)), rowID = row.int64(1)
                if accept(slot, rowID) { result.append((slot, rowID, -row.double(2))) }
                return result.count < limit
            }
            return (result, try memories(rowIDs: extra + result.map(\.rowID), db))
        }
    }

    /// Counts of live memories by namespace and by kind, and of those no recall has returned yet, not
    /// counting as never recalled the memories in `recalledElsewhere` (recalls not yet written in).
    func counts(recalledElsewhere: Set<MemoryID> = []) throws -> (
        byNamespace: [String: Int], byKind: [String: Int], neverRecalled: Int
    ) {
        try read { db in
            let ns = try Row.fetchAll(db, sql: "SELECT namespace, count(*) AS n FROM memory GROUP BY namespace")
            let kinds = try Row.fetchAll(db, sql: "SELECT kind, count(*) AS n FROM memory GROUP BY kind")
            var never = try Int.fetchOne(db, sql: "SELECT count(*) FROM memory WHERE recall_count = 0") ?? 0
            for chunk in Self.chunks(recalledElsewhere.map(\.description)) {
                never -= try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM memory WHERE recall_count = 0 AND id IN (\(databaseQuestionMarks(count: chunk.count)))",
                    arguments: StatementArguments(chunk)) ?? 0
            }
            return (
                Dictionary(uniqueKeysWithValues: ns.map { ($0["namespace"] as String, $0["n"] as Int) }),
                Dictionary(uniqueKeysWithValues: kinds.map { ($0["kind"] as String, $0["n"] as Int) }),
                never
            )
        }
    }

    /// Feedback reports over live memories.
    func feedbackTotals() throws -> (helpful: Int, unhelpful: Int) {
        guard hasV5Columns else { return (0, 0) }
        return try read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT coalesce(sum(helpful_count), 0), coalesce(sum(unhelpful_count), 0) FROM memory")
            return (row?[0] ?? 0, row?[1] ?? 0)
        }
    }

    /// FTS5's own check of the full-text index against the text it reads (the view of the memory table):
    /// throws when an entry is missing or left over.
    func fullTextIntegrityCheck() throws {
        try write { db in try db.execute(sql: "INSERT INTO memory_fts(memory_fts, rank) VALUES ('integrity-check', 1)") }
    }

    /// SQLite's own consistency check.
    func integrityCheck() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
    }

    // MARK: Embedding cache

    /// Cached vectors for some text hashes of one embedder.
    func cachedEmbeddings(embedder: String, hashes: [String]) throws -> [String: [Float]] {
        guard !hashes.isEmpty else { return [:] }
        return try read { db in
            var result: [String: [Float]] = [:]
            // A read-only handle on a store not yet migrated to v2 has no cache table.
            guard try db.tableExists("embedding_cache") else { return result }
            for chunk in Self.chunks(hashes) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchAll(
                    db, sql: "SELECT text_hash, vector FROM embedding_cache WHERE embedder = ? AND text_hash IN (\(marks))",
                    arguments: StatementArguments([embedder] + chunk))
                for row in rows {
                    let data: Data = row["vector"]
                    result[row["text_hash"]] = data.withUnsafeBytes { raw in
                        (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                    }
                }
            }
            return result
        }
    }

    /// Stores vectors by text hash (replacing equal keys).
    func cacheEmbeddings(embedder: String, _ entries: [(hash: String, vector: [Float])]) throws {
        guard !entries.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO embedding_cache(embedder, text_hash, vector) VALUES (?, ?, ?)")
            for entry in entries {
                let data = entry.vector.map(\.bitPattern.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) }
                try statement.execute(arguments: [embedder, entry.hash, data])
            }
        }
    }

    func cachedEmbeddingCount() throws -> Int {
        try read { db in
            guard try db.tableExists("embedding_cache") else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM embedding_cache") ?? 0
        }
    }

    // MARK: Working memory

    func workingGet(namespace: String, key: String) throws -> WorkingRow? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM working WHERE namespace = ? AND key = ?", arguments: [namespace, key]
            ).map(Self.workingRow)
        }
    }

    func workingList(namespace: String) throws -> [WorkingRow] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM working WHERE namespace = ? ORDER BY key", arguments: [namespace])
                .map(Self.workingRow)
        }
    }

    /// Entries not expired at `now`, in every namespace.
    func workingCount(now: Double) throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM working WHERE expires_at > ?", arguments: [now]) ?? 0 }
    }

    func workingSet(_ row: WorkingRow) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO working(namespace, key, value, created_at, expires_at) VALUES (?,?,?,?,?)",
                arguments: [row.namespace, row.key, row.value, row.createdAt, row.expiresAt])
        }
    }

    /// Deletes one entry. Returns whether it existed.
    func workingDelete(namespace: String, key: String) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM working WHERE namespace = ? AND key = ?", arguments: [namespace, key])
            return db.changesCount > 0
        }
    }

    /// Removes every entry expired at `now`; returns how many.
    func workingSweep(now: Double) throws -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM working WHERE expires_at <= ?", arguments: [now])
            return db.changesCount
        }
    }

    private static func workingRow(_ row: Row) -> WorkingRow {
        WorkingRow(
            namespace: row["namespace"], key: row["key"], value: row["value"], createdAt: row["created_at"],
            expiresAt: row["expires_at"])
    }

    // MARK: Row mapping

    /// A memory from a row whose columns are ``columns`` in order from index `at`, followed, for live
    /// rows, by ``usageColumns`` (history rows have none). Columns are read by position: a lookup by
    /// name compares every column name case-insensitively, which showed in recall profiles.
    private func memory(from row: StatementColumns, at i: Int32 = 0, usage: Bool) throws -> Memory {
        guard let id = row.withUTF8(i, { MemoryID(utf8: $0) }) else {
            throw EngramError(.storageCorrupted, "a memory row has a malformed id")
        }
        var metadata: [String: JSONValue] = [:]
        // The common case skips the JSON decoder.
        if !row.withUTF8(i + 10, { $0.elementsEqual("{}".utf8) }) {
            guard case .object(let object) = try JSONValue(parsing: row.string(i + 10), field: "metadata") else {
                throw EngramError(.storageCorrupted, "a memory row has metadata that is not an object")
            }
            metadata = object
        }
        let u = i + 15
        let feedback = usage && hasV5Columns
        return Memory(
            id: id, namespace: row.string(i + 1), agent: row.optionalString(i + 2),
            kind: MemoryKind(rawValue: row.string(i + 3)), content: row.string(i + 4),
            cause: row.optionalString(i + 5), outcome: row.optionalString(i + 6),
            succeeded: row.optionalInt64(i + 7).map { $0 != 0 }, tags: Self.tags(row.string(i + 8)),
            importance: row.double(i + 9), metadata: metadata,
            createdAt: Date(timeIntervalSince1970: row.double(i + 11)),
            updatedAt: Date(timeIntervalSince1970: row.double(i + 12)),
            expiresAt: row.optionalDouble(i + 13).map(Date.init(timeIntervalSince1970:)),
            supersedes: row.withUTF8(i + 14) { MemoryID(utf8: $0) },
            recallCount: usage ? Int(row.int64(u)) : 0,
            lastRecalledAt: usage ? row.optionalDouble(u + 1).map(Date.init(timeIntervalSince1970:)) : nil,
            helpfulCount: feedback ? Int(row.int64(u + 2)) : 0, unhelpfulCount: feedback ? Int(row.int64(u + 3)) : 0)
    }

    /// Tags are stored joined by U+001F (unit separator), which tags cannot contain: splitting is cheap
    /// at open, and FTS5's unicode61 tokenizer treats it as a separator.
    static func tagText(_ tags: [String]) -> String { tags.joined(separator: "\u{1F}") }

    private static func tags(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    }
}
