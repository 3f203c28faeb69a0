import Foundation
internal import GRDB

/// The reads recall and stats make beyond memory rows: metadata conditions, keyword matches, counts
/// and integrity checks.
extension RecordStore {
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
        let sql =
            "SELECT rowid FROM memory WHERE " + (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "))
        return try read { db in Set(try Int64.fetchAll(db, sql: sql, arguments: StatementArguments(args))) }
    }

    static func equalityClause(
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
            throw EngramError.invalid(
                "filter.metadata", "can compare only strings, numbers, booleans and null")
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
        terms: [String], namespaces: [String]?, weights: ColumnWeights, limit: Int,
        alsoLoading extra: [Int64] = [],
        accept: (_ slot: Int32, _ rowID: Int64) -> Bool
    ) throws -> (matches: [(slot: Int32, rowID: Int64, score: Double)], memories: [Int64: Memory]) {
        // Inside a few namespaces, their scoped words; inside more, their namespace terms ANDed in.
        let scoped = namespaces.flatMap {
            hasScopedWords && $0.count <= FullText.maxScopedNamespaces ? $0 : nil
        }
        let pattern =
            scoped.map { FullText.pattern(anyOf: terms, scopedTo: $0) }
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
            try statement.forEachRow(
                arguments: [FullText.frequencyBlob(phraseCounts)] + arguments + [pattern]
            ) { row in
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
            let ns = try Row.fetchAll(
                db, sql: "SELECT namespace, count(*) AS n FROM memory GROUP BY namespace")
            let kinds = try Row.fetchAll(db, sql: "SELECT kind, count(*) AS n FROM memory GROUP BY kind")
            var never = try Int.fetchOne(db, sql: "SELECT count(*) FROM memory WHERE recall_count = 0") ?? 0
            for chunk in Self.chunks(recalledElsewhere.map(\.description)) {
                never -=
                    try Int.fetchOne(
                        db,
                        sql:
                            "SELECT count(*) FROM memory WHERE recall_count = 0 AND id IN (\(databaseQuestionMarks(count: chunk.count)))",
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
                db,
                sql: "SELECT coalesce(sum(helpful_count), 0), coalesce(sum(unhelpful_count), 0) FROM memory")
            return (row?[0] ?? 0, row?[1] ?? 0)
        }
    }

    /// FTS5's own check of the full-text index against the text it reads (the view of the memory table):
    /// throws when an entry is missing or left over.
    func fullTextIntegrityCheck() throws {
        try write { db in
            try db.execute(sql: "INSERT INTO memory_fts(memory_fts, rank) VALUES ('integrity-check', 1)")
        }
    }

    /// SQLite's own consistency check.
    func integrityCheck() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
    }
}
