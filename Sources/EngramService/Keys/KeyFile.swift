import Crypto
package import Engram
package import Foundation

/// One API key as the key file records it: never the key itself, only its SHA-256.
package struct APIKeyRecord: Sendable, Hashable {
    /// A short public id (`k_` + 8 hex digits) to list and revoke the key by.
    package var id: String
    /// A name for people (`support-bot`).
    package var name: String
    /// Lower-case hex SHA-256 of the key text.
    package var sha256: String
    /// What requests carrying the key may reach (namespaces and actions; its ``Scope/maxTrust`` is the
    /// key's, and its ``Scope/actor`` the key's name).
    package var scope: Scope
    package var createdAt: Date
    package var revokedAt: Date?
    /// Requests a second the key may make, with a burst of one second's worth; nil for no limit.
    package var rate: Double? = nil
    /// Writing requests (any method but GET) the key may make per UTC day; nil for no quota.
    package var dailyWrites: Int? = nil

    package var isActive: Bool { revokedAt == nil }
}

/// The server's API keys, in a JSON file (default `keys.json` in the store directory, mode 0600).
///
/// Keys are random 256-bit secrets shown once at creation. The file holds only their SHA-256, so a
/// copy of it (or of a backup) lets no one in. Lookups hash the presented key and compare it with
/// every active hash in constant time, so timing says nothing about how much of a guess was right.
package struct KeyFile: Sendable {
    package static let defaultName = "keys.json"
    package static let keyPrefix = "egk_"

    package let path: String
    package private(set) var keys: [APIKeyRecord]

    /// The keys in `path`; an absent file holds none.
    package init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            keys = []
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngramError(.io, "cannot read the key file", field: "keys")
        }
        keys = try Self.decode(data)
    }

    /// Where the keys of the store at `storePath` live unless `--keys` says otherwise.
    package static func defaultPath(store storePath: String) -> String {
        URL(fileURLWithPath: storePath).appendingPathComponent(defaultName).path
    }

    /// Adds a new key and returns its secret text, which is not stored anywhere.
    /// The trust a key writes at most when its creator names none: what agents write.
    package static let defaultMaxTrust = TrustLevel.agent

    package mutating func create(
        name: String, scope: Scope, rate: Double? = nil, dailyWrites: Int? = nil, now: Date = Date()
    ) throws -> (key: String, record: APIKeyRecord) {
        guard !name.isEmpty, name.count <= 100, !name.contains(where: \.isNewline) else {
            throw EngramError.invalid("name", "must be 1 to 100 characters on one line")
        }
        if let rate, !(rate.isFinite && rate > 0) {
            throw EngramError.invalid("rate", "must be a number of requests a second above 0")
        }
        if let dailyWrites, dailyWrites < 1 {
            throw EngramError.invalid("quota", "must allow at least one write a day")
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = Self.keyPrefix + Self.base64URL(secret)
        var id: String
        repeat {
            id = "k_" + String(format: "%08x", UInt32.random(in: 0...UInt32.max, using: &generator))
        } while keys.contains { $0.id == id }
        let record = APIKeyRecord(
            id: id, name: name, sha256: Self.hash(key), scope: scope.acting(as: name), createdAt: now,
            revokedAt: nil, rate: rate, dailyWrites: dailyWrites)
        keys.append(record)
        try save()
        return (key, record)
    }

    /// Revokes a key by id; revoking a revoked key changes nothing.
    package mutating func revoke(id: String, now: Date = Date()) throws -> APIKeyRecord {
        guard let i = keys.firstIndex(where: { $0.id == id }) else {
            throw EngramError(.notFound, "no key with this id", field: "id")
        }
        if keys[i].revokedAt == nil {
            keys[i].revokedAt = now
            try save()
        }
        return keys[i]
    }

    /// The active key whose hash matches `presented`, comparing against every active key in constant
    /// time per key (no early exit on the first differing byte nor on the first match).
    package func match(_ presented: String) -> APIKeyRecord? {
        let digest = Array(Self.hash(presented).utf8)
        var found: APIKeyRecord?
        for record in keys where record.isActive {
            let stored = Array(record.sha256.utf8)
            guard stored.count == digest.count else { continue }
            var difference: UInt8 = 0
            for i in 0..<digest.count { difference |= stored[i] ^ digest[i] }
            if difference == 0 { found = record }
        }
        return found
    }

    /// Lower-case hex SHA-256 of the key text.
    package static func hash(_ key: String) -> String {
        var digest = SHA256Digest()
        digest.update(Array(key.utf8))
        return digest.hexDigest()
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    // MARK: File

    /// Writes the file atomically (a new file renamed over the old), readable by its owner only.
    private func save() throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).\(getpid()).tmp")
        let data = Data(Self.encode(keys).utf8)
        guard
            FileManager.default.createFile(
                atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw EngramError(.io, "cannot write the key file next to \(path)", field: "keys") }
        guard rename(temporary.path, path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw EngramError(.io, "cannot replace the key file \(path): errno \(errno)", field: "keys")
        }
    }

    package static func json(_ record: APIKeyRecord) -> JSONValue {
        .object([
            "id": .string(record.id), "name": .string(record.name),
            "namespaces": record.scope.isUnrestrictedNamespaces
                ? .array([.string("*")]) : .array(record.scope.namespaces.map(JSONValue.string)),
            "actions": .array(ScopeParsing.words(record.scope.actions).map(JSONValue.string)),
            "max_trust": .string(record.scope.maxTrust.description),
            "rate": record.rate.map(JSONValue.number) ?? .null,
            "daily_writes": record.dailyWrites.map { .number(Double($0)) } ?? .null,
            "created_at": .string(TimeParsing.format(record.createdAt)),
            "revoked_at": record.revokedAt.map { .string(TimeParsing.format($0)) } ?? .null,
        ])
    }

    private static func encode(_ keys: [APIKeyRecord]) -> String {
        let records = keys.map { record -> JSONValue in
            guard case .object(var o) = json(record) else { return .null }
            o["sha256"] = .string(record.sha256)
            return .object(o)
        }
        return JSONOutput.pretty(.object(["version": 1, "keys": .array(records)])) + "\n"
    }

    private static func decode(_ data: Data) throws -> [APIKeyRecord] {
        let top = try JSONObject(parsing: data, field: "keys")
        guard try top.int("version") == 1, case .array(let items)? = top["keys"] else {
            throw EngramError(
                .storageCorrupted, "the key file is not an Engram key file (version 1)", field: "keys")
        }
        return try items.map { item in
            let o = try JSONObject(item, field: "keys", path: "keys.")
            guard let id = try o.string("id"), let name = try o.string("name"),
                let hash = try o.string("sha256"),
                let namespaces = try o.strings("namespaces"), let actions = try o.strings("actions"),
                let created = try o.date("created_at")
            else {
                throw EngramError(.storageCorrupted, "a key in the key file lacks a field", field: "keys")
            }
            let allowed = try ScopeParsing.actions(actions.joined(separator: ","), field: "keys.actions")
            let scope =
                namespaces == ["*"]
                ? Scope.everyNamespace(actions: allowed) : try Scope(namespaces: namespaces, actions: allowed)
            // Keys written before trust levels write at most what agents write.
            let maxTrust = try o.string("max_trust").map { try TrustLevel(name: $0, field: "keys.max_trust") }
            return APIKeyRecord(
                id: id, name: name, sha256: hash,
                scope: scope.writing(atMost: maxTrust ?? defaultMaxTrust).acting(as: name),
                createdAt: created,
                revokedAt: try o.date("revoked_at"), rate: try o.number("rate"),
                dailyWrites: try o.int("daily_writes"))
        }
    }
}
