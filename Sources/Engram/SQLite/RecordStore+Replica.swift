import Foundation
internal import GRDB

/// A replica's rows (see `MemoryStore+Replica.swift`): the row versions of its system of record live in
/// `replica_version`, which only a replica's store has (made by its first apply, so a single store's
/// schema is untouched).
extension RecordStore {
    static let replicaTable = """
        CREATE TABLE IF NOT EXISTS replica_version (
            id TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID
        """

    /// In one transaction: deletes the memory rows `removing.rowIDs`, records each removed memory's
    /// removal version (so that an older row read before it cannot bring the memory back), inserts the
    /// rows at their slots with their versions, indexes their text, and sets `meta`.
    func replicate(
        removing: (rowIDs: [Int64], removals: [(id: MemoryID, version: Int64)]),
        inserting rows: [(ReplicaRow, Int32)], meta: [String: String]
    ) throws -> [Int64] {
        try write { db in
            try db.execute(sql: Self.replicaTable)
            for rowID in removing.rowIDs {
                try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [rowID])
            }
            let version = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO replica_version(id, version) VALUES (?, ?)")
            for removal in removing.removals {
                try version.execute(arguments: [removal.id.description, removal.version])
            }
            let rowIDs = try rows.map { try Self.insert($0.0.memory, slot: $0.1, db) }
            try Self.indexFullText(rowIDs, db)
            for (row, _) in rows { try version.execute(arguments: [row.memory.id.description, row.version]) }
            try Self.setMeta(meta, db)
            return rowIDs
        }
    }

    /// Deletes memory rows and the versions of their ids, in one transaction.
    func dropReplicas(rowIDs: [Int64], ids: [MemoryID]) throws {
        try write { db in
            try db.execute(sql: Self.replicaTable)
            for rowID in rowIDs {
                try db.execute(sql: "DELETE FROM memory WHERE rowid = ?", arguments: [rowID])
            }
            let forget = try db.cachedStatement(sql: "DELETE FROM replica_version WHERE id = ?")
            for id in ids { try forget.execute(arguments: [id.description]) }
        }
    }

    /// The recorded versions of those of `ids` this replica holds.
    func replicaVersions(_ ids: [MemoryID]) throws -> [MemoryID: Int64] {
        guard !ids.isEmpty else { return [:] }
        return try read { db in
            guard try db.tableExists("replica_version") else { return [:] }
            var result: [MemoryID: Int64] = [:]
            for chunk in Self.chunks(ids.map(\.description)) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db, sql: "SELECT id, version FROM replica_version WHERE id IN (\(marks))",
                    arguments: StatementArguments(chunk))
                {
                    if let id = MemoryID(row["id"] as String) { result[id] = row["version"] }
                }
            }
            return result
        }
    }

    /// Per namespace, the count and XOR-hash of (id, version) over the stored memories (version 0 for a
    /// memory without one; removed memories' versions are not counted).
    func replicaChecksums() throws -> [String: ReplicaChecksum] {
        try read { db in
            let versions = try db.tableExists("replica_version")
            let sql =
                versions
                ? "SELECT m.namespace, m.id, COALESCE(v.version, 0) FROM memory m LEFT JOIN replica_version v ON v.id = m.id"
                : "SELECT namespace, id, 0 FROM memory"
            var sums: [String: ReplicaChecksum] = [:]
            let rows = try Row.fetchCursor(db, sql: sql)
            while let row = try rows.next() {
                guard let id = MemoryID(row[1] as String) else { continue }
                sums[row[0] as String, default: ReplicaChecksum()].add(id, version: row[2])
            }
            return sums
        }
    }
}
