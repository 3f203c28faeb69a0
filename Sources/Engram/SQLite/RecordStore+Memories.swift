import Foundation
internal import GRDB

/// Memory rows: insert, supersede, delete, history, usage and feedback, and the rows open reads.
extension RecordStore {
    // MARK: Memories

    /// The record columns a memory read selects, in ``MemoryColumn`` order (defaults in place of the
    /// provenance columns a read-only handle on an older schema lacks).
    var columns: String { hasV7Columns ? MemoryColumn.recordList : MemoryColumn.legacyRecordList }

    /// Inserts new memories at their slots and indexes their text; returns their rowids in order.
    /// With `consuming`, the same transaction deletes that working-memory entry, and fails with
    /// ``EngramError/Code/notFound`` (storing nothing) when it is already gone.
    /// `hash` is the memory's ``ContentHash`` when the caller has it already (a batch remember computes it
    /// for the duplicate check); nil computes it here. `bulk` (see ``isBulk(_:stored:)``) builds the
    /// secondary indexes after the rows.
    /// `ending` sets those rows' `valid_until` (a fact key's earlier value) and `audit` is appended, in the
    /// same transaction.
    func insert(
        _ records: [(memory: Memory, slot: Int32, hash: String?)],
        consuming entry: (namespace: String, key: String)? = nil,
        bulk: Bool = false, ending: [(rowID: Int64, at: Double)] = [], audit: [AuditEvent] = []
    ) throws -> [Int64] {
        try write { db in
            try Self.endValidity(ending, db)
            try Self.appendAudit(audit, db)
            if let entry {
                try db.execute(
                    sql: "DELETE FROM working WHERE namespace = ? AND key = ?",
                    arguments: [entry.namespace, entry.key])
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
    static func withSecondaryIndexesDeferred<T>(if bulk: Bool, _ db: Database, _ work: () throws -> T) throws
        -> T
    {
        guard bulk else { return try work() }
        let indexes = try Row.fetchAll(
            db,
            sql:
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memory' AND sql IS NOT NULL"
        )
        for index in indexes { try db.execute(sql: "DROP INDEX \"\(index["name"] as String)\"") }
        let result = try work()
        for index in indexes { try db.execute(sql: index["sql"] as String) }
        return result
    }

    /// Adds rows to the full-text index in one statement (the delete and update triggers keep it in
    /// sync afterwards). Rows inserted by one transaction have consecutive rowids.
    static func indexFullText(_ rowIDs: [Int64], _ db: Database) throws {
        guard let low = rowIDs.min(), let high = rowIDs.max() else { return }
        try db.execute(
            sql: """
                INSERT INTO memory_fts(rowid, content, cause, outcome, tags, scope_terms)
                SELECT rowid, content, cause, outcome, tags, scope_terms FROM memory_fts_source
                WHERE rowid BETWEEN ? AND ?
                """, arguments: [low, high])
    }

    static func insert(_ m: Memory, slot: Int32, hash: String? = nil, _ db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO memory(
                    slot, \(MemoryColumn.recordList), recall_count, last_recalled_at, helpful_count,
                    unhelpful_count, scope_terms, content_hash)
                VALUES (?, \(recordMarks), ?,?,?,?, ?,?)
                """)
        try statement.execute { parameters in
            parameters.add(Int64(slot))
            bind(m, &parameters)
            parameters.add(m.recallCount)
            parameters.add(m.lastRecalledAt?.timeIntervalSince1970)
            parameters.add(m.helpfulCount)
            parameters.add(m.unhelpfulCount)
            parameters.add(FullText.namespaceTerm(m.namespace))
            parameters.add(hash ?? ContentHash.of(content: m.content, cause: m.cause, outcome: m.outcome))
        }
        return db.lastInsertedRowID
    }

    /// One placeholder per record column.
    static let recordMarks = databaseQuestionMarks(count: MemoryColumn.recordColumns.count)

    /// Binds a memory's record columns, in ``MemoryColumn`` order.
    static func bind(_ m: Memory, _ p: inout StatementParameters) {
        p.add(m.id.description)
        p.add(m.namespace)
        p.add(m.agent)
        p.add(m.kind.rawValue)
        p.add(m.content)
        p.add(m.cause)
        p.add(m.outcome)
        p.add(m.succeeded)
        p.add(Self.tagText(m.tags))
        p.add(m.importance)
        p.add(JSONValue.object(m.metadata).jsonText)
        p.add(m.createdAt.timeIntervalSince1970)
        p.add(m.updatedAt.timeIntervalSince1970)
        p.add(m.expiresAt?.timeIntervalSince1970)
        p.add(m.supersedes?.description)
        p.add(m.source?.rawValue)
        p.add(m.trust.rawValue)
        p.add(Self.idText(m.derivedFrom))
        p.add(m.writtenBy)
        p.add(Self.tagText(m.flags))
        p.add(m.quarantined)
        p.add(m.factKey)
        p.add(m.validFrom?.timeIntervalSince1970)
        p.add(m.validUntil?.timeIntervalSince1970)
    }

    /// Adds recalls to memories' usage columns: `count` more recalls, the latest at `last` (seconds since
    /// 1970). Memories forgotten meanwhile are skipped. `consumedLogs`, when given, names the usage log
    /// files these counts came from, recorded in the same transaction (``UsageLog/mergedKey``).
    func recordUsage(_ usage: [(id: MemoryID, count: Int, last: Double)], consumedLogs: [String] = []) throws
    {
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
            for entry in usage {
                try statement.execute(arguments: [entry.count, entry.last, entry.id.description])
            }
        }
    }

    /// Adds one report to a memory's feedback counts. Returns false when no live memory has this id.
    func recordFeedback(_ id: MemoryID, helpful: Bool) throws -> Bool {
        try write { db in
            let column = helpful ? "helpful_count" : "unhelpful_count"
            try db.execute(
                sql: "UPDATE memory SET \(column) = \(column) + 1 WHERE id = ?", arguments: [id.description])
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
                            AND (expires_at IS NULL OR expires_at > ?)\(hasV7Columns ? " AND quarantined = 0" : "")
                        ORDER BY id
                        """, arguments: StatementArguments([namespace] + chunk + [now]))
                for row in rows where result[row[0]] == nil {
                    if let id = MemoryID(row[1] as String) { result[row[0]] = id }
                }
            }
            return result
        }
    }

    /// Sets rows' `valid_until`.
    static func endValidity(_ rows: [(rowID: Int64, at: Double)], _ db: Database) throws {
        for row in rows {
            try db.execute(
                sql: "UPDATE memory SET valid_until = ? WHERE rowid = ?", arguments: [row.at, row.rowID])
        }
    }

    /// Sets rows' `valid_until` and records it.
    func endValidity(_ rows: [(rowID: Int64, at: Double)], audit: [AuditEvent]) throws {
        try write { db in
            try Self.endValidity(rows, db)
            try Self.appendAudit(audit, db)
        }
    }

    /// Quarantines or releases rows and records it.
    func setQuarantined(
        _ rowIDs: [Int64], _ quarantined: Bool, ending: [(rowID: Int64, at: Double)] = [], audit: [AuditEvent]
    ) throws {
        try write { db in
            try Self.endValidity(ending, db)
            for rowID in rowIDs {
                try db.execute(
                    sql: "UPDATE memory SET quarantined = ? WHERE rowid = ?", arguments: [quarantined, rowID])
            }
            try Self.appendAudit(audit, db)
        }
    }

    /// The live memory of each fact key in `namespace` whose validity has not ended: key -> rows, oldest
    /// validity first (two only where an import brought them).
    func currentFacts(namespace: String, keys: [String]) throws -> [String: [CurrentFact]] {
        guard !keys.isEmpty else { return [:] }
        return try read { db in
            var result: [String: [CurrentFact]] = [:]
            for chunk in Self.chunks(keys) {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT fact_key, rowid, slot, id, coalesce(valid_from, created_at), quarantined FROM memory
                        WHERE namespace = ? AND fact_key IN (\(databaseQuestionMarks(count: chunk.count)))
                            AND valid_until IS NULL
                        ORDER BY 5, id
                        """, arguments: StatementArguments([namespace] + chunk))
                for row in rows {
                    guard let id = MemoryID(row[3] as String) else { continue }
                    result[row[0], default: []].append(
                        CurrentFact(
                            rowID: row[1], slot: row[2], id: id, validFrom: row[4], quarantined: row[5]))
                }
            }
            return result
        }
    }

    /// A live value of a fact key whose validity has not ended.
    struct CurrentFact {
        var rowID: Int64
        var slot: Int32
        var id: MemoryID
        var validFrom: Double
        var quarantined: Bool
    }

    /// Deletes memories by rowid (the full-text index follows by trigger). Returns how many existed.
    func delete(rowIDs: [Int64], audit: [AuditEvent] = []) throws -> Int {
        try write { db in
            try Self.appendAudit(audit, db)
            var deleted = 0
            for rowID in rowIDs {
                try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [rowID])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// Replaces a memory by a new version in one transaction: the old row moves to history.
    func supersede(
        oldRowID: Int64, old: Memory, new: Memory, slot: Int32, at time: Date, audit: [AuditEvent] = []
    ) throws -> Int64 {
        try write { db in
            try Self.appendAudit(audit, db)
            try db.cachedStatement(
                sql: """
                    INSERT INTO memory_history(\(MemoryColumn.recordList), superseded_by, superseded_at)
                    VALUES (\(Self.recordMarks), ?, ?)
                    """
            ).execute { parameters in
                Self.bind(old, &parameters)
                parameters.add(new.id.description)
                parameters.add(time.timeIntervalSince1970)
            }
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
            var next = try Row.fetchOne(
                db, sql: "SELECT supersedes FROM memory WHERE id = ?", arguments: [id.description]
            )
            .flatMap { $0["supersedes"] as String? }
            var seen = Set<String>()
            let statement = try db.cachedStatement(
                sql: "SELECT \(columns) FROM memory_history WHERE id = ?")
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
                    db, sql: "SELECT id, rowid, slot FROM memory WHERE id IN (\(marks))",
                    arguments: StatementArguments(chunk))
                {
                    if let id = MemoryID(row["id"] as String) { result[id] = (row["rowid"], row["slot"]) }
                }
            }
            return result
        }
    }

    /// Splits long `IN (...)` lists to stay under SQLite's parameter limit.
    static func chunks<T>(_ values: [T]) -> [[T]] {
        stride(from: 0, to: values.count, by: 500).map { Array(values[$0..<min($0 + 500, values.count)]) }
    }

    /// Usage and feedback columns, which history rows do not have (nor feedback before v5).
    var usageColumns: String {
        let usage: [MemoryColumn] =
            hasV5Columns
            ? [.recallCount, .lastRecalledAt, .helpfulCount, .unhelpfulCount]
            : [.recallCount, .lastRecalledAt]
        return usage.map(\.name).joined(separator: ", ")
    }

    /// Memories by rowid.
    func memories(rowIDs: [Int64]) throws -> [Int64: Memory] {
        guard !rowIDs.isEmpty else { return [:] }
        return try read { db in try memories(rowIDs: rowIDs, db) }
    }

    func memories(rowIDs: [Int64], _ db: Database) throws -> [Int64: Memory] {
        guard !rowIDs.isEmpty else { return [:] }
        // One cached statement whatever the count: the rowids arrive as one JSON array.
        let statement = try db.cachedStatement(
            sql:
                "SELECT rowid, \(columns), \(usageColumns) FROM memory WHERE rowid IN (SELECT value FROM json_each(?))"
        )
        var result: [Int64: Memory] = [:]
        try statement.forEachRow(arguments: ["[" + rowIDs.map(String.init).joined(separator: ",") + "]"]) {
            row in
            result[row.int64(0)] = try memory(from: row, at: 1, usage: true)
            return true
        }
        return result
    }

    /// Every live memory's hot columns and slot.
    func slotRows() throws -> [SlotRow] {
        try read { db in
            var result: [SlotRow] = []
            let provenance =
                hasV7Columns
                ? "trust, quarantined, valid_from, valid_until"
                : "\(TrustLevel.agent.rawValue), 0, NULL, NULL"
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT slot, rowid, id, namespace, agent, kind, succeeded, created_at, expires_at, tags,
                        \(provenance) FROM memory
                    """
            )
            while let row = try rows.next() {
                guard let id = MemoryID(row[2] as String) else {
                    throw EngramError(.storageCorrupted, "a memory row has a malformed id")
                }
                result.append(
                    SlotRow(
                        slot: row[0], rowID: row[1], id: id, namespace: row[3], agent: row[4], kind: row[5],
                        succeeded: row[6], createdAt: row[7], expiresAt: row[8], tags: Self.tags(row[9]),
                        trust: row[10], quarantined: row[11], validFrom: row[12], validUntil: row[13]))
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
}
