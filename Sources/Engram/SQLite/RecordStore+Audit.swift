import Foundation
internal import GRDB

/// The audit log: appended in the transaction of the change it records.
extension RecordStore {
    static let auditHeadKey = "audit_head"

    /// Appends events after the current head, in order, and moves the head.
    static func appendAudit(_ events: [AuditEvent], _ db: Database) throws {
        guard !events.isEmpty else { return }
        var (seq, hash) = try auditHead(db)
        let statement = try db.cachedStatement(
            sql: "INSERT INTO audit(seq, at, actor, action, ids, detail, hash) VALUES (?,?,?,?,?,?,?)")
        for event in events {
            seq += 1
            let ids = idText(event.ids)
            hash = AuditEntry.chainHash(
                previous: hash, seq: seq, at: event.at, actor: event.actor, action: event.action, ids: ids,
                detail: event.detail)
            try statement.execute(arguments: [
                seq, event.at, event.actor, event.action, ids, event.detail, hash,
            ])
        }
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)").execute(
            arguments: [auditHeadKey, "\(seq) \(hash)"])
    }

    /// The newest entry's number and hash as recorded in meta (0 and "" before the first).
    static func auditHead(_ db: Database) throws -> (Int, String) {
        let text = try String.fetchOne(
            db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [auditHeadKey])
        guard let text else { return (0, "") }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let seq = Int(parts[0]) else {
            throw EngramError(.storageCorrupted, "the audit log's head is malformed")
        }
        return (seq, String(parts[1]))
    }

    /// Appends events in a transaction of their own (key use, which changes no memory).
    func appendAudit(_ events: [AuditEvent]) throws {
        guard hasV7Columns else { return }
        try write { db in try Self.appendAudit(events, db) }
    }

    /// Entries from `since` (inclusive) on, oldest first, at most `limit`.
    func auditEntries(since: Double?, after seq: Int, limit: Int) throws -> [AuditEntry] {
        guard hasV7Columns else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, at, actor, action, ids, detail, hash FROM audit
                    WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?
                    """, arguments: [seq, since ?? -Double.infinity, limit]
            ).map(Self.auditEntry)
        }
    }

    private static func auditEntry(_ row: Row) -> AuditEntry {
        AuditEntry(
            seq: row[0], at: Date(timeIntervalSince1970: row[1]), actor: row[2], action: row[3],
            ids: ids(row[4]), detail: row[5], hash: row[6])
    }

    /// Walks the whole log in one read transaction, recomputing the chain.
    func verifyAudit() throws -> AuditVerification {
        guard hasV7Columns else { return AuditVerification(entries: 0) }
        return try read { db in
            let (headSeq, headHash) = try Self.auditHead(db)
            var chain = AuditChainCheck()
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, at, actor, action, ids, detail, hash FROM audit ORDER BY seq")
            while let row = try rows.next(),
                chain.check(
                    seq: row[0], at: row[1], actor: row[2], action: row[3], ids: row[4], detail: row[5],
                    hash: row[6])
            {}
            return chain.finish(headSeq: headSeq, headHash: headHash)
        }
    }
}
