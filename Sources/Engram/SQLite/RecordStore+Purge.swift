import Foundation
internal import GRDB

/// Purge: every version of a memory, its full-text entries and cached vectors, gone from the files.
extension RecordStore {
    /// One version of a memory found for a purge: the live one has a rowid and a slot.
    struct PurgeVersion {
        var id: MemoryID
        var namespace: String
        var textHash: String
        var live: (rowID: Int64, slot: Int32)?
    }

    /// Where a purge starts.
    enum PurgeSeed {
        /// These memories (live or earlier versions).
        case ids([MemoryID])
        /// Every version written with this source.
        case source(String)
        /// These memories and everything derived from them, transitively.
        case lineage([MemoryID])
    }

    /// Every version of every memory the seed reaches: each memory's whole chain of versions, both ways.
    func purgeVersions(_ seed: PurgeSeed) throws -> [PurgeVersion] {
        try read { db in
            var start: Set<String> = []
            switch seed {
            case .ids(let ids):
                start = Set(ids.map(\.description))
            case .source(let source):
                for table in ["memory", "memory_history"] {
                    start.formUnion(
                        try String.fetchAll(
                            db, sql: "SELECT id FROM \(table) WHERE source = ?", arguments: [source]))
                }
            case .lineage(let roots):
                // What each memory was derived into, then everything reachable from the roots.
                var children: [String: [String]] = [:]
                for table in ["memory", "memory_history"] {
                    for row in try Row.fetchAll(
                        db, sql: "SELECT id, derived_from FROM \(table) WHERE derived_from != ''")
                    {
                        for parent in (row[1] as String).split(separator: ",") {
                            children[String(parent), default: []].append(row[0])
                        }
                    }
                }
                start = Set(roots.map(\.description))
                var pending = Array(start)
                while let parent = pending.popLast() {
                    for child in children[parent] ?? [] where start.insert(child).inserted {
                        pending.append(child)
                    }
                }
            }
            // Whole chains: a version's older ones (supersedes) and newer ones (superseded_by).
            var found: [String: PurgeVersion] = [:]
            var queue = Array(start)
            while let id = queue.popLast() {
                guard found[id] == nil else { continue }
                if let row = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT rowid, slot, namespace, content, cause, outcome, supersedes FROM memory WHERE id = ?",
                    arguments: [id])
                {
                    found[id] = version(id, row, live: (row[0], row[1]))
                    if let older = row[6] as String? { queue.append(older) }
                } else if let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT 0, 0, namespace, content, cause, outcome, supersedes, superseded_by
                        FROM memory_history WHERE id = ?
                        """, arguments: [id])
                {
                    found[id] = version(id, row, live: nil)
                    if let older = row[6] as String? { queue.append(older) }
                    queue.append(row[7])
                }
                for newer in try String.fetchAll(
                    db, sql: "SELECT id FROM memory_history WHERE supersedes = ?", arguments: [id])
                {
                    queue.append(newer)
                }
            }
            return found.values.filter { $0.id.description != "" }.sorted { $0.id < $1.id }
        }
    }

    private func version(_ id: String, _ row: Row, live: (Int64, Int32)?) -> PurgeVersion {
        PurgeVersion(
            id: MemoryID(id) ?? MemoryID(high: 0, low: 0), namespace: row[2],
            textHash: CachingEmbedder.key(
                EmbeddingText.compose(content: row[3], cause: row[4], outcome: row[5])),
            live: live)
    }

    /// Deletes the versions with SQLite's secure delete on (freed content overwritten with zeros), leaves
    /// a tombstone for each, and records the purge; then merges the full-text index into a new segment,
    /// which drops the deleted entries the old segments still held, and empties the WAL of the old pages (a checkpoint that
    /// truncates it: it waits for readers of older snapshots, up to the busy timeout).
    func purge(_ versions: [PurgeVersion], reason: String, at: Double, actor: String?, audit: [AuditEvent])
        throws
    {
        try write { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
            for version in versions {
                if let live = version.live {
                    try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [live.rowID])
                } else {
                    try db.execute(
                        sql: "DELETE FROM memory_history WHERE id = ?", arguments: [version.id.description])
                }
                try db.execute(
                    sql: "DELETE FROM embedding_cache WHERE text_hash = ?", arguments: [version.textHash])
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO tombstone(id, namespace, purged_at, actor, reason)
                        VALUES (?, ?, ?, ?, ?)
                        """, arguments: [version.id.description, version.namespace, at, actor, reason])
            }
            try Self.appendAudit(audit, db)
        }
        try write { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
            try db.execute(sql: "INSERT INTO memory_fts(memory_fts) VALUES ('optimize')")
        }
        try checkpoint()
    }

    /// Tombstones of purged memories, oldest first.
    func tombstones() throws -> [Tombstone] {
        guard hasV7Columns else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT id, namespace, purged_at, actor, reason FROM tombstone ORDER BY purged_at, id"
            ).compactMap { row in
                MemoryID(row[0] as String).map {
                    Tombstone(
                        id: $0, namespace: row[1], purgedAt: Date(timeIntervalSince1970: row[2]),
                        actor: row[3],
                        reason: row[4])
                }
            }
        }
    }
}
