import Foundation
internal import GRDB

/// A working-memory entry as stored.
struct WorkingRow {
    var namespace: String
    var key: String
    var value: String
    var createdAt: Double
    var expiresAt: Double
}

/// Working memory: short-lived entries by namespace and key.
extension RecordStore {
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
            try Row.fetchAll(
                db, sql: "SELECT * FROM working WHERE namespace = ? ORDER BY key", arguments: [namespace]
            )
            .map(Self.workingRow)
        }
    }

    /// Entries not expired at `now`, in every namespace.
    func workingCount(now: Double) throws -> Int {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM working WHERE expires_at > ?", arguments: [now])
                ?? 0
        }
    }

    func workingSet(_ row: WorkingRow) throws {
        try write { db in
            try db.execute(
                sql:
                    "INSERT OR REPLACE INTO working(namespace, key, value, created_at, expires_at) VALUES (?,?,?,?,?)",
                arguments: [row.namespace, row.key, row.value, row.createdAt, row.expiresAt])
        }
    }

    /// Deletes one entry. Returns whether it existed.
    func workingDelete(namespace: String, key: String) throws -> Bool {
        try write { db in
            try db.execute(
                sql: "DELETE FROM working WHERE namespace = ? AND key = ?", arguments: [namespace, key])
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

    static func workingRow(_ row: Row) -> WorkingRow {
        WorkingRow(
            namespace: row["namespace"], key: row["key"], value: row["value"], createdAt: row["created_at"],
            expiresAt: row["expires_at"])
    }
}
