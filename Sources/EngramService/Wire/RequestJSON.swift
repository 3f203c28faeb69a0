package import Engram
package import Foundation

// Typed requests from the JSON bodies of the HTTP API and the MCP tools' arguments: one reading
// for both, every failure an ``EngramError`` naming the field.

extension RememberRequest {
    /// One memory object, or `{"memories": [...], "near_duplicate": cosine}`.
    package init(json body: JSONObject, now: Date) throws {
        guard body.fields["memories"] != nil else {
            self.init(memories: [try MemoryJSON.newMemory(from: .object(body.fields), now: now)])
            return
        }
        try body.rejectUnknown(["memories", "near_duplicate"])
        guard case .array(let items)? = body["memories"] else {
            throw EngramError.invalid("memories", "must be an array of memory objects")
        }
        let memories = try items.enumerated().map { i, item in
            try MemoryService.naming("memories[\(i)]") { try MemoryJSON.newMemory(from: item, now: now) }
        }
        // Its range is the service's to check, the same for every front end.
        let nearDuplicate = try body.number("near_duplicate").map(Float.init)
        self.init(memories: memories, nearDuplicate: nearDuplicate, isBatch: true)
    }
}

extension RecallRequest {
    /// The fields a recall body may hold (``WireSchema``).
    package static var jsonFields: Set<String> { WireSchema.recallFieldNames }
    /// The fields that only apply to a text query.
    static let textOptionFields = ["mode", "fusion", "candidates", "signals", "neighbours"]

    /// `{"query": text}` (hybrid by default) or `{"vector": [...]}` (exact cosine), with `k`,
    /// `filter`, `min_score` and, for a text, the ranking options.
    package init(json body: JSONObject, now: Date, defaultK: Int = 10) throws {
        try body.rejectUnknown(Self.jsonFields)
        let format = try body.string("format") ?? "hits"
        guard format == "hits" || format == "prompt" else {
            throw EngramError.invalid("format", "must be hits or prompt")
        }
        let k = try body.int("k") ?? defaultK
        let filter = try FilterParsing.filter(json: body["filter"], now: now)
        let minScore = try body.number("min_score").map(Float.init)
        if let vectorJSON = body["vector"] {
            guard body["query"] == nil else {
                throw EngramError.invalid("query", "give a query or a vector, not both")
            }
            for name in Self.textOptionFields where body[name] != nil {
                throw EngramError.invalid(name, "applies to a text query, not a vector")
            }
            let vector = try MemoryJSON.vector(vectorJSON, field: "vector")
            self.init(query: .vector(vector), k: k, filter: filter, minScore: minScore)
        } else {
            guard let query = try body.string("query") else {
                throw EngramError.invalid("query", "give a query text or a vector")
            }
            let options = try RankingParsing.options(body)
            self.init(query: .text(query, options), k: k, filter: filter, minScore: minScore)
        }
        rendersPrompt = format == "prompt"
        exact = try body.bool("exact") ?? false
        explainsPlan = try body.bool("explain") ?? false
        token = try body.string("token")
    }
}

extension SearchRequest {
    /// `{"query": words, "k": n, "filter": {...}}`.
    package init(json body: JSONObject, now: Date, defaultK: Int = 10) throws {
        try body.rejectUnknown(["query", "k", "filter"])
        guard let query = try body.string("query") else { throw EngramError.invalid("query", "is required") }
        self.init(
            text: query, k: try body.int("k") ?? defaultK,
            filter: try FilterParsing.filter(json: body["filter"], now: now))
    }
}

extension UpdateRequest {
    /// The fields to change (see ``MemoryJSON/changes(from:)``).
    package init(id: MemoryID, json body: JSONObject) throws {
        self.init(id: id, changes: try MemoryJSON.changes(from: body))
    }
}

extension WorkingSetRequest {
    /// `{"value": any JSON, "ttl_seconds": n}` for the entry at `namespace` / `key`.
    package init(namespace: String, key: String, json body: JSONObject) throws {
        try body.rejectUnknown(["value", "ttl_seconds"])
        guard let value = body.fields["value"] else { throw EngramError.invalid("value", "is required") }
        guard let ttl = try body.number("ttl_seconds") else {
            throw EngramError.invalid("ttl_seconds", "is required")
        }
        self.init(namespace: namespace, key: key, value: value, ttl: ttl)
    }
}

extension PromoteRequest {
    /// `{"namespace": ..., "key": ..., "kind": ..., "tags": [...]}`.
    package init(json body: JSONObject) throws {
        try body.rejectUnknown(["namespace", "key", "kind", "tags"])
        guard let namespace = try body.string("namespace") else {
            throw EngramError.invalid("namespace", "is required")
        }
        guard let key = try body.string("key") else { throw EngramError.invalid("key", "is required") }
        self.init(
            namespace: namespace, key: key,
            kind: try body.string("kind").map(MemoryKind.init(rawValue:)) ?? .note,
            tags: try body.strings("tags") ?? [])
    }
}

/// The small request bodies that are one field or two.
package enum RequestJSON {
    /// `{"filter": {...}, "confirm": true}`: forgetting by filter cannot be undone, so it must be confirmed.
    package static func forgetFilter(_ body: JSONObject, now: Date) throws -> MemoryFilter {
        try body.rejectUnknown(["filter", "confirm"])
        guard try body.bool("confirm") == true else {
            throw EngramError.invalid("confirm", "must be true: forgetting by filter cannot be undone")
        }
        guard body["filter"] != nil else {
            throw EngramError.invalid("filter", "is required (use {} to mean every memory in scope)")
        }
        return try FilterParsing.filter(json: body["filter"], now: now)
    }

    /// `{"ids": [..]}`, `{"source": "external"}`, `{"derived_from": [..]}` or `{"filter": {..}}`, with
    /// `"confirm": true` and an optional `"reason"` kept in the tombstones.
    package static func purgeTarget(_ body: JSONObject, now: Date) throws -> (PurgeTarget, String) {
        try body.rejectUnknown([
            "ids", "source", "derived_from", "derivedFrom", "filter", "confirm", "reason",
        ])
        guard try body.bool("confirm") == true else {
            throw EngramError.invalid("confirm", "must be true: a purge cannot be undone")
        }
        let given = ["ids", "source", "derived_from", "derivedFrom", "filter"].filter { body[$0] != nil }
        guard given.count == 1 else {
            throw EngramError.invalid("ids", "give one of ids, source, derived_from and filter")
        }
        func ids(_ name: String) throws -> [MemoryID] {
            try (body.strings(name) ?? []).map { text in
                guard let id = MemoryID(text) else {
                    throw EngramError.invalid(name, "must be an array of ids")
                }
                return id
            }
        }
        let reason = try body.string("reason") ?? ""
        switch given[0] {
        case "ids": return (.ids(try ids("ids")), reason)
        case "source": return (.source(MemorySource(rawValue: try body.string("source") ?? "")), reason)
        case "filter": return (.filter(try FilterParsing.filter(json: body["filter"], now: now)), reason)
        default: return (.derivedFrom(try ids(given[0])), reason)
        }
    }

    /// `{"lists": N, "bits": 4|8}`, both optional: how to build the approximate index.
    package static func indexBuild(_ body: JSONObject) throws -> (lists: Int?, bits: Int) {
        try body.rejectUnknown(["lists", "bits"])
        return (try body.int("lists"), try body.int("bits") ?? 4)
    }

    /// `{"helpful": true|false}`.
    package static func helpful(_ body: JSONObject) throws -> Bool {
        try body.rejectUnknown(["helpful"])
        guard let helpful = try body.bool("helpful") else {
            throw EngramError.invalid("helpful", "is required: true or false")
        }
        return helpful
    }
}
