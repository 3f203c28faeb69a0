public import Foundation

/// One entry of a store's audit log: who did what to which memories, and when; never their content.
///
/// Entries are append-only and hash-chained: each ``hash`` is the SHA-256 of the previous entry's hash
/// and this entry's fields, and the newest entry's number and hash are kept apart (`meta.audit_head`),
/// so ``MemoryStore/verifyAudit()`` finds an entry altered, removed, reordered or cut from the end.
public struct AuditEntry: Sendable, Hashable {
    /// The entry's number, from 1 with no gaps.
    public var seq: Int
    /// When it happened.
    public var at: Date
    /// Who acted (``Scope/actor``), when the handle had a name.
    public var actor: String?
    /// What happened: `remember`, `update`, `forget`, `purge`, `quarantine`, `release`, `end-validity`,
    /// `key-use`, ...
    public var action: String
    /// The memories it touched.
    public var ids: [MemoryID]
    /// Counts and names that say more (`namespace=acme`, `count=3`), never content.
    public var detail: String
    /// SHA-256 (hex) of the previous entry's hash and this entry's fields.
    public var hash: String

    /// The hash an entry with these fields has after `previous` (the empty string before the first).
    static func chainHash(
        previous: String, seq: Int, at: Double, actor: String?, action: String, ids: String, detail: String
    ) -> String {
        var digest = SHA256Digest()
        // Length-prefixed fields, the actor marked present or absent: no two different entries hash the
        // same bytes. (Absence once hashed as the actor "\0", which the audit-chain fuzz target found.)
        let actorField = actor.map { "+" + $0 } ?? "-"
        for field in [previous, String(seq), String(at.bitPattern), actorField, action, ids, detail] {
            let bytes = Array(field.utf8)
            digest.update(Array(String(bytes.count).utf8) + [0x3A] + bytes)
        }
        return digest.hexDigest()
    }
}

/// What is left of a purged memory version: that it existed, where, and when and why it was purged.
public struct Tombstone: Sendable, Hashable {
    /// The purged version's id.
    public var id: MemoryID
    /// Its namespace.
    public var namespace: String
    /// When it was purged.
    public var purgedAt: Date
    /// Who purged it (``Scope/actor``), when the handle had a name.
    public var actor: String?
    /// The reason given to the purge.
    public var reason: String
}

/// What ``MemoryStore/verifyAudit()`` found.
public struct AuditVerification: Sendable, Hashable {
    /// Entries checked.
    public var entries: Int
    /// The newest entry's hash, to record outside the store: a log rewritten from its start by someone
    /// who can write the database is caught by comparing it with that record.
    public var head: String?
    /// The number of the first entry that fails, when one does (the entry after the last good one for
    /// a removed tail).
    public var firstBad: Int?
    /// What is wrong with it.
    public var problem: String?

    /// Whether every entry checks.
    public var isIntact: Bool { firstBad == nil }
}

/// Checks an audit log entry by entry, oldest first, without holding it in memory: the numbers run from 1
/// without a gap, each hash is the chain hash of the one before and the entry's fields, and the last
/// entry is the recorded head.
struct AuditChainCheck {
    private var expected = 1
    private var previous = ""
    private(set) var failure: AuditVerification?

    /// Checks the next entry (its `ids` as stored: comma-joined); false once the chain is broken.
    mutating func check(
        seq: Int, at: Double, actor: String?, action: String, ids: String, detail: String, hash: String
    ) -> Bool {
        guard failure == nil else { return false }
        if seq != expected {
            failure = broken(expected, "entry \(expected) is missing (the next is \(seq))")
            return false
        }
        let computed = AuditEntry.chainHash(
            previous: previous, seq: seq, at: at, actor: actor, action: action, ids: ids, detail: detail)
        guard computed == hash else {
            failure = broken(seq, "entry \(seq) does not match its hash (altered, or out of order)")
            return false
        }
        previous = computed
        expected += 1
        return true
    }

    /// The verdict, given the head recorded apart from the log (number 0 and "" before the first entry).
    func finish(headSeq: Int, headHash: String) -> AuditVerification {
        if var failure {
            failure.head = headHash.isEmpty ? nil : headHash
            return failure
        }
        let last = expected - 1
        if headSeq != last || headHash != previous {
            var result = broken(
                last < headSeq ? expected : last > headSeq ? headSeq + 1 : headSeq,
                "the log ends at entry \(last) but its head records entry \(headSeq)"
                    + (headSeq == last ? " with another hash" : ""))
            result.head = headHash.isEmpty ? nil : headHash
            return result
        }
        return AuditVerification(entries: last, head: headHash.isEmpty ? nil : headHash)
    }

    private func broken(_ seq: Int, _ problem: String) -> AuditVerification {
        AuditVerification(entries: expected - 1, head: nil, firstBad: seq, problem: problem)
    }
}

/// One change for the audit log, before it is numbered and chained.
struct AuditEvent: Sendable {
    var action: String
    var ids: [MemoryID]
    var detail: String = ""
    var actor: String?
    var at: Double
}
