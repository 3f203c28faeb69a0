package import Engram
package import Foundation

/// The JSON shape of memories and hits that scripts rely on (field names are part of the interface):
/// `id`, `namespace`, `agent`, `kind`, `content`, `cause`, `outcome`, `succeeded`, `tags`, `importance`,
/// `metadata`, `created_at`, `updated_at`, `expires_at`, `supersedes`, `recall_count`, `last_recalled_at`,
/// `helpful_count`, `unhelpful_count`; `embedding` on export; `score` on hits, and `explain` on text
/// recall hits. Input also accepts `what` / `why` for `content` / `cause`, and
/// ignores the usage fields (a store counts its own recalls).
package enum MemoryJSON {
    package static func object(_ m: Memory, embedding: [Float]? = nil, score: Float? = nil) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(m.id.description), "namespace": .string(m.namespace), "agent": optional(m.agent),
            "kind": .string(m.kind.rawValue), "content": .string(m.content), "cause": optional(m.cause),
            "outcome": optional(m.outcome), "succeeded": m.succeeded.map(JSONValue.bool) ?? .null,
            "tags": .array(m.tags.map(JSONValue.string)), "importance": .number(m.importance),
            "metadata": .object(m.metadata), "created_at": .string(TimeParsing.format(m.createdAt)),
            "updated_at": .string(TimeParsing.format(m.updatedAt)),
            "expires_at": m.expiresAt.map { .string(TimeParsing.format($0)) } ?? .null,
            "supersedes": optional(m.supersedes?.description), "recall_count": .number(Double(m.recallCount)),
            "last_recalled_at": m.lastRecalledAt.map { .string(TimeParsing.format($0)) } ?? .null,
            "helpful_count": .number(Double(m.helpfulCount)),
            "unhelpful_count": .number(Double(m.unhelpfulCount)),
            "source": optional(m.source?.rawValue), "trust": .string(m.trust.description),
            "derived_from": .array(m.derivedFrom.map { .string($0.description) }),
            "written_by": optional(m.writtenBy), "flags": .array(m.flags.map(JSONValue.string)),
            "quarantined": .bool(m.quarantined), "fact_key": optional(m.factKey),
            "valid_from": m.validFrom.map { .string(TimeParsing.format($0)) } ?? .null,
            "valid_until": m.validUntil.map { .string(TimeParsing.format($0)) } ?? .null,
        ]
        if let embedding { o["embedding"] = vector(embedding) }
        if let score { o["score"] = .number(shortest(score)) }
        return .object(o)
    }

    /// A text-recall hit: the memory, its final `score`, and `explain` with every score behind its rank.
    package static func object(_ hit: RecallHit) -> JSONValue {
        guard case .object(var o) = object(hit.memory, score: hit.score), let e = hit.explanation else {
            return object(hit.memory, score: hit.score)
        }
        func number(_ x: Double?) -> JSONValue { x.map { .number(($0 * 1e6).rounded() / 1e6) } ?? .null }
        o["explain"] = .object([
            "cosine": number(e.cosine.map(Double.init)), "vector_rank": number(e.vectorRank.map(Double.init)),
            "keyword_score": number(e.keywordScore), "keyword_rank": number(e.keywordRank.map(Double.init)),
            "fused": number(e.fused), "context": number(e.context), "recency": number(e.recency),
            "importance": number(e.importance),
            "outcome": number(e.outcome), "feedback": number(e.feedback), "score": number(e.score),
        ])
        return .object(o)
    }

    /// The outcome of a remember: `id`, `status` (stored, duplicate, merged) and `near_duplicate`.
    package static func object(_ result: RememberResult) -> JSONValue {
        .object([
            "id": .string(result.id.description), "status": .string(result.status.rawValue),
            "near_duplicate": result.nearDuplicate.map {
                .object(["id": .string($0.id.description), "cosine": .number(Double($0.cosine))])
            } ?? .null,
            "ended": .array(result.ended.map { .string($0.description) }),
            "contradicts": .array(result.contradicts.map { .string($0.description) }),
            "quarantined": .bool(result.quarantined),
        ])
    }

    /// Changes to a memory from a JSON object: a field present sets it; `null` clears `cause`,
    /// `outcome`, `succeeded` and `expires_at`. `embedding` replaces the vector.
    package static func changes(from o: JSONObject) throws -> MemoryChanges {
        try o.rejectUnknown(WireSchema.changeFields)
        var changes = MemoryChanges()
        changes.content = try o.string("content")
        if o.fields["content"] == .null { throw EngramError.invalid(o.path + "content", "cannot be cleared") }
        if o.fields["cause"] != nil { changes.cause = .some(try o.string("cause")) }
        if o.fields["outcome"] != nil { changes.outcome = .some(try o.string("outcome")) }
        if o.fields["succeeded"] != nil { changes.succeeded = .some(try o.bool("succeeded")) }
        if o.fields["expires_at"] != nil { changes.expiresAt = .some(try o.date("expires_at")) }
        if o.fields["valid_until"] != nil { changes.validUntil = .some(try o.date("valid_until")) }
        changes.kind = try o.string("kind").map(MemoryKind.init(rawValue:))
        changes.tags = try o.strings("tags")
        changes.importance = try o.number("importance")
        if let meta = o["metadata"] {
            guard case .object(let fields) = meta else {
                throw EngramError.invalid(o.path + "metadata", "must be a JSON object")
            }
            changes.metadata = fields
        }
        if let e = o["embedding"] { changes.embedding = try vector(e, field: o.path + "embedding") }
        return changes
    }

    /// A vector as JSON numbers printed with the shortest text that reads back to the same Float.
    package static func vector(_ v: [Float]) -> JSONValue {
        .array(v.map { .number(shortest($0)) })
    }

    private static func shortest(_ f: Float) -> Double {
        Double(f.description) ?? Double(f)
    }

    private static func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }

    /// A stored memory from the object ``object(_:embedding:score:)`` wrote (another node's hit, a system
    /// of record's row): every field, the usage counts and flags included; `score`, `explain` and
    /// `embedding` are left to the caller.
    package static func memory(from value: JSONValue) throws -> Memory {
        guard case .object(var o) = value else {
            throw EngramError.invalid("memory", "must be a JSON object")
        }
        for field in ["score", "explain", "embedding"] { o[field] = nil }
        let new = try newMemory(from: .object(o), now: Date())
        guard let id = new.id, let created = new.createdAt else {
            throw EngramError.invalid(new.id == nil ? "id" : "created_at", "is required")
        }
        var m = Memory(id: id, namespace: new.namespace, content: new.content, createdAt: created)
        m.updatedAt = new.updatedAt ?? created
        (m.agent, m.kind, m.cause, m.outcome, m.succeeded) = (
            new.agent, new.kind, new.cause, new.outcome, new.succeeded
        )
        (m.tags, m.importance, m.metadata, m.expiresAt) = (
            new.tags, new.importance, new.metadata, new.expiresAt
        )
        (m.supersedes, m.source, m.derivedFrom, m.writtenBy) = (
            new.supersedes, new.source, new.derivedFrom, new.writtenBy
        )
        (m.trust, m.quarantined) = (new.trust ?? .agent, new.quarantined ?? false)
        (m.factKey, m.validFrom, m.validUntil) = (new.factKey, new.validFrom, new.validUntil)
        func count(_ field: String) -> Int { o[field]?.numberValue.map { Int($0) } ?? 0 }
        (m.recallCount, m.helpfulCount, m.unhelpfulCount) = (
            count("recall_count"), count("helpful_count"), count("unhelpful_count")
        )
        m.lastRecalledAt = try date(o["last_recalled_at"], "last_recalled_at")
        if case .array(let flags)? = o["flags"] { m.flags = flags.compactMap(\.stringValue) }
        return m
    }

    /// A recall hit from the object ``object(_:)-(RecallHit)`` wrote (its `explain` is not read back).
    package static func hit(from value: JSONValue) throws -> RecallHit {
        guard case .object(let o) = value, let score = o["score"]?.numberValue else {
            throw EngramError.invalid("score", "is required")
        }
        var hit = RecallHit(try memory(from: value), score: Float(score))
        if case .object(let e)? = o["explain"] {
            func number(_ key: String) -> Double? { e[key]?.numberValue }
            hit.explanation = HitExplanation(
                cosine: number("cosine").map(Float.init), vectorRank: number("vector_rank").map { Int($0) },
                keywordScore: number("keyword_score"), keywordRank: number("keyword_rank").map { Int($0) },
                fused: number("fused") ?? 0, context: number("context") ?? 0, recency: number("recency") ?? 0,
                importance: number("importance") ?? 0, outcome: number("outcome") ?? 0,
                feedback: number("feedback") ?? 0, score: number("score") ?? score)
        }
        return hit
    }

    /// The fields a memory object may hold (``WireSchema``); export writes the usage fields, which
    /// import ignores (a store counts its own recalls).
    package static var knownFields: Set<String> { WireSchema.newMemoryFields }

    /// A memory from a JSON object, with an error naming the first bad field. `embedding` is empty
    /// when the object has none (the caller embeds the text then).
    package static func newMemory(from value: JSONValue, now: Date) throws -> NewMemory {
        guard case .object(var o) = value else { throw EngramError.invalid("line", "must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !knownFields.contains($0) }) {
            throw EngramError.invalid(unknown, "is not a memory field")
        }
        // Each field read once, by its own name: another name stands for it (``WireSchema/inputAliases``),
        // and an error names what the input wrote.
        let spelled = try JSONObject.resolveAliases(&o, WireSchema.inputAliases)
        func named(_ field: String) -> String { spelled[field] ?? field }
        guard let content = try string(o["content"], "content") else {
            throw EngramError.invalid("content", "is required")
        }
        var m = NewMemory(content: content, embedding: [])
        m.cause = try string(o["cause"], named("cause"))
        m.outcome = try string(o["outcome"], "outcome")
        if let v = o["succeeded"], v != .null {
            guard case .bool(let b) = v else {
                throw EngramError.invalid("succeeded", "must be true, false or null")
            }
            m.succeeded = b
        }
        if let ns = try string(o["namespace"], "namespace") { m.namespace = ns }
        m.agent = try string(o["agent"], "agent")
        if let kind = try string(o["kind"], "kind") { m.kind = MemoryKind(rawValue: kind) }
        if let tags = o["tags"], tags != .null {
            guard case .array(let items) = tags, let strings = Optional(items.compactMap(\.stringValue)),
                strings.count == items.count
            else { throw EngramError.invalid("tags", "must be an array of strings") }
            m.tags = strings
        }
        if let imp = o["importance"], imp != .null {
            guard let n = imp.numberValue else { throw EngramError.invalid("importance", "must be a number") }
            m.importance = n
        }
        if let meta = o["metadata"], meta != .null {
            guard case .object(let fields) = meta else {
                throw EngramError.invalid("metadata", "must be a JSON object")
            }
            m.metadata = fields
        }
        m.createdAt = try date(o["created_at"], "created_at")
        m.updatedAt = try date(o["updated_at"], "updated_at")
        m.expiresAt = try date(o["expires_at"], "expires_at")
        if let ttl = try string(o["ttl"], "ttl") {
            guard m.expiresAt == nil else {
                throw EngramError.invalid("ttl", "is given together with expires_at")
            }
            m.expiresAt = now.addingTimeInterval(try TimeParsing.ttl(ttl, field: "ttl"))
        }
        if let id = try string(o["id"], "id") {
            guard let parsed = MemoryID(id) else { throw EngramError.invalid("id", "is not a UUID") }
            m.id = parsed
        }
        if let s = try string(o["supersedes"], "supersedes") {
            guard let parsed = MemoryID(s) else { throw EngramError.invalid("supersedes", "is not a UUID") }
            m.supersedes = parsed
        }
        if let e = o["embedding"], e != .null { m.embedding = try vector(e, field: "embedding") }
        try readProvenance(o, named: named, into: &m)
        return m
    }

    /// `source`, `trust`, `derived_from`, `written_by`, `quarantined`, `fact_key`, `valid_from` and
    /// `valid_until`; `flags` is computed by the store, so it is ignored.
    private static func readProvenance(
        _ fields: [String: JSONValue], named: (String) -> String, into m: inout NewMemory
    ) throws {
        m.source = try string(fields["source"], "source").map(MemorySource.init(rawValue:))
        m.trust = try string(fields["trust"], "trust").map { try TrustLevel(name: $0) }
        if let v = fields["derived_from"], v != .null {
            guard case .array(let items) = v else {
                throw EngramError.invalid(named("derived_from"), "must be an array of ids")
            }
            m.derivedFrom = try items.map { item in
                guard let text = item.stringValue, let id = MemoryID(text) else {
                    throw EngramError.invalid(named("derived_from"), "must be an array of ids")
                }
                return id
            }
        }
        m.writtenBy = try string(fields["written_by"], "written_by")
        if let v = fields["quarantined"], v != .null {
            guard case .bool(let b) = v else {
                throw EngramError.invalid("quarantined", "must be true or false")
            }
            m.quarantined = b
        }
        m.factKey = try string(fields["fact_key"], named("fact_key"))
        m.validFrom = try date(fields["valid_from"], named("valid_from"))
        m.validUntil = try date(fields["valid_until"], named("valid_until"))
    }

    /// A vector from a JSON array of numbers.
    package static func vector(_ value: JSONValue, field: String) throws -> [Float] {
        guard case .array(let items) = value else {
            throw EngramError.invalid(field, "must be an array of numbers")
        }
        return try items.map { item in
            guard let n = item.numberValue else {
                throw EngramError.invalid(field, "must be an array of numbers")
            }
            let f = Float(n)
            guard f.isFinite else {
                throw EngramError.invalid(field, "contains a value outside the float range")
            }
            return f
        }
    }

    private static func string(_ value: JSONValue?, _ field: String) throws -> String? {
        guard let value, value != .null else { return nil }
        guard let s = value.stringValue else { throw EngramError.invalid(field, "must be a string") }
        return s
    }

    private static func date(_ value: JSONValue?, _ field: String) throws -> Date? {
        guard let value, value != .null else { return nil }
        if let n = value.numberValue, n.isFinite { return Date(timeIntervalSince1970: n) }
        if let s = value.stringValue, let d = TimeParsing.iso8601(s) { return d }
        throw EngramError.invalid(field, "must be an ISO 8601 time or seconds since 1970")
    }
}

/// Pretty JSON for one document, compact JSON for JSON Lines.
package enum JSONOutput {
    package static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    package static func line(_ value: JSONValue) -> String { value.jsonText }
}
