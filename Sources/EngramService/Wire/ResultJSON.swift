package import Engram

// The JSON answers of the HTTP API (the MCP tools reshape some of them), from the service's typed
// results.

/// Results of ``MemoryService`` operations as the API's JSON objects.
package enum ResultJSON {
    /// `{"ids": [...], "results": [{"id", "status", "near_duplicate"}]}`.
    package static func remembered(_ results: [RememberResult], token: String? = nil) -> JSONValue {
        var o: [String: JSONValue] = [
            "ids": .array(results.map { .string($0.id.description) }),
            "results": .array(results.map(MemoryJSON.object)),
        ]
        if let token { o["token"] = .string(token) }
        return .object(o)
    }

    /// `{"hits": [memory + score (+ explain)]}`.
    package static func hits(_ hits: [RecallHit]) -> JSONValue {
        .object(["hits": .array(hits.map(MemoryJSON.object))])
    }

    /// `{"path", "reason", "estimated_matches", "vectors_scored", "lists_probed", "reranked"}`.
    package static func plan(_ plan: RecallPlan) -> JSONValue {
        .object([
            "path": .string(plan.path.rawValue), "reason": .string(plan.reason),
            "estimated_matches": .number(Double(plan.estimatedMatches)),
            "vectors_scored": .number(Double(plan.vectorsScored)),
            "lists_probed": .number(Double(plan.listsProbed)), "reranked": .number(Double(plan.reranked)),
        ])
    }

    /// `{"hits": [memory + score]}`, the score being BM25's.
    package static func hits(_ hits: [KeywordHit]) -> JSONValue {
        .object(["hits": .array(hits.map { MemoryJSON.object($0.memory, score: Float($0.score)) })])
    }

    /// `{"versions": [current, older...]}`.
    package static func versions(_ memories: [Memory]) -> JSONValue {
        .object(["versions": .array(memories.map { MemoryJSON.object($0) })])
    }

    /// `{"memories": [...], "next_cursor": id or null}`.
    package static func page(_ page: MemoryPage) -> JSONValue {
        .object([
            "memories": .array(page.memories.map { MemoryJSON.object($0) }),
            "next_cursor": page.nextCursor.map { .string($0.description) } ?? .null,
        ])
    }

    /// The figures a scope may see: the whole store's (snake_case keys), or only its namespaces'.
    package static func stats(_ result: StatsResult) throws -> JSONValue {
        switch result {
        case .whole(let stats):
            return try JSONValue(parsing: try StatsJSON.data(stats, pretty: false), field: "stats")
        case .visible(let memories, let byNamespace, let dimension, let embedder):
            return .object([
                "memories": .number(Double(memories)),
                "by_namespace": .object(byNamespace.mapValues { .number(Double($0)) }),
                "dimension": .number(Double(dimension)), "embedder": .string(embedder),
            ])
        }
    }

    /// What the approximate index holds; `build_s` when it was just built.
    package static func index(_ s: IndexStatus, buildSeconds: Double? = nil) -> JSONValue {
        var object: [String: JSONValue] = [
            "lists": .number(Double(s.lists)), "bits": .number(Double(s.bits)),
            "probes": .number(Double(s.probes)), "entries": .number(Double(s.entries)),
            "memories": .number(Double(s.memories)), "index_bytes": .number(Double(s.bytes)),
            "vector_bytes": .number(Double(s.vectorBytes)),
        ]
        if let buildSeconds { object["build_s"] = .number(buildSeconds) }
        return .object(object)
    }

    /// One working-memory entry.
    package static func entry(_ entry: WorkingEntry) -> JSONValue {
        .object([
            "namespace": .string(entry.namespace), "key": .string(entry.key), "value": entry.value,
            "created_at": .string(TimeParsing.format(entry.createdAt)),
            "expires_at": .string(TimeParsing.format(entry.expiresAt)),
        ])
    }

    /// `{"entries": [...]}`.
    package static func entries(_ entries: [WorkingEntry]) -> JSONValue {
        .object(["entries": .array(entries.map(entry))])
    }

    /// `{"ready": bool, "checks": [{"name", "passed", "detail"}]}`.
    package static func readiness(_ report: HealthReport) -> JSONValue {
        let checks: [JSONValue] = report.checks.map {
            .object(["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)])
        }
        return .object(["ready": .bool(report.healthy), "checks": .array(checks)])
    }

    /// An audit entry: `seq`, `at`, `actor`, `action`, `ids`, `detail`, `hash`.
    package static func object(_ e: AuditEntry) -> JSONValue {
        .object([
            "seq": .number(Double(e.seq)), "at": .string(TimeParsing.format(e.at)),
            "actor": e.actor.map(JSONValue.string) ?? .null, "action": .string(e.action),
            "ids": .array(e.ids.map { .string($0.description) }), "detail": .string(e.detail),
            "hash": .string(e.hash),
        ])
    }

    /// A purge's answer: `purged` (live memories) and `versions` (every id removed).
    package static func object(_ result: PurgeResult) -> JSONValue {
        .object([
            "purged": .number(Double(result.memories.count)),
            "versions": .array(result.versions.map { .string($0.description) }),
        ])
    }

    /// An audit check: `intact`, `entries`, `head`, `first_bad`, `problem`.
    package static func object(_ result: AuditVerification) -> JSONValue {
        .object([
            "intact": .bool(result.isIntact), "entries": .number(Double(result.entries)),
            "head": result.head.map(JSONValue.string) ?? .null,
            "first_bad": result.firstBad.map { .number(Double($0)) } ?? .null,
            "problem": result.problem.map(JSONValue.string) ?? .null,
        ])
    }

    /// A tombstone: `id`, `namespace`, `purged_at`, `actor`, `reason`.
    package static func object(_ t: Tombstone) -> JSONValue {
        .object([
            "id": .string(t.id.description), "namespace": .string(t.namespace),
            "purged_at": .string(TimeParsing.format(t.purgedAt)),
            "actor": t.actor.map(JSONValue.string) ?? .null,
            "reason": .string(t.reason),
        ])
    }
}
