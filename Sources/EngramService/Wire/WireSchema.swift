package import Engram

/// The JSON wire shapes, defined once: each field of each object with its JSON Schema and meaning.
///
/// What reads and writes JSON takes its field names from here (``MemoryJSON``, ``FilterParsing``,
/// ``RecallRequest``), and `make schema` writes `openapi.json`'s components, the MCP tools' schemas
/// and the README's field reference from it; tests fail when those are stale, and validate real
/// responses of every route against the components.
package enum WireSchema {
    /// One field of a memory as it crosses the wire.
    struct MemoryField {
        var name: String
        var description: String
        /// Its schema in a memory the API returns; nil for a field that is only read (`ttl`, aliases).
        var output: JSONValue?
        /// Its schema in a memory the API reads (`POST /v1/memories`, an import line).
        var input: JSONValue
        /// Whether an update (`PATCH`) may change it.
        var changes = false
    }

    // MARK: Building blocks

    static func type(_ names: String..., extra: [String: JSONValue] = [:]) -> JSONValue {
        var o = extra
        o["type"] = names.count == 1 ? .string(names[0]) : .array(names.map(JSONValue.string))
        return .object(o)
    }

    static let string = type("string")
    static let nullableString = type("string", "null")
    static let strings = type("array", extra: ["items": type("string")])
    static let uuid = type("string", extra: ["format": "uuid"])
    static let time = type("string", extra: ["format": "date-time"])
    static let nullableTime = type("string", "null", extra: ["format": "date-time"])
    static let inputTime = type("string", "number", "null")
    static let vector = type("array", "null", extra: ["items": type("number")])
    static let unit = type("number", extra: ["minimum": 0, "maximum": 1])
    static let count = type("integer", extra: ["minimum": 0])

    static func names(_ names: String...) -> JSONValue { .array(names.map(JSONValue.string)) }

    /// `[{"required": [a]}, {"required": [b]}]`: one of two fields must be there.
    static func eitherRequired(_ a: String, _ b: String) -> JSONValue {
        .array([.object(["required": names(a)]), .object(["required": names(b)])])
    }

    static func described(_ schema: JSONValue, _ description: String) -> JSONValue {
        guard case .object(var o) = schema else { return schema }
        o["description"] = .string(description)
        return .object(o)
    }

    static func ref(_ name: String) -> JSONValue {
        .object(["$ref": .string("#/components/schemas/\(name)")])
    }

    static func object(
        _ properties: [(String, JSONValue)], required: [String] = [], closed: Bool = true
    ) -> JSONValue {
        var o: [String: JSONValue] = [
            "type": "object",
            "properties": .object(Dictionary(properties, uniquingKeysWith: { a, _ in a })),
        ]
        if !required.isEmpty { o["required"] = .array(required.map(JSONValue.string)) }
        if closed { o["additionalProperties"] = false }
        return .object(o)
    }

    // MARK: Memories

    /// Every field of a memory, in the order the reference lists them: the named fields, then the other
    /// names input accepts for some of them.
    static let memoryFields: [MemoryField] =
        namedFields
        + inputAliases.map { alias, name in
            MemoryField(
                name: alias, description: "Input only: another name for `\(name)`.", output: nil,
                input: namedFields.first { $0.name == name }?.input ?? .object([:]))
        }

    /// Other names input accepts: `what` and `why` for `content` and `cause`, and the library's camelCase
    /// spellings of the snake_case fields.
    package static let inputAliases: [(String, String)] = [
        ("what", "content"), ("why", "cause"), ("derivedFrom", "derived_from"), ("factKey", "fact_key"),
        ("validFrom", "valid_from"), ("validUntil", "valid_until"),
    ]

    private static let namedFields: [MemoryField] =
        [
            MemoryField(
                name: "id", description: "Stable id, a UUID v7 (time-ordered); given on import to keep it.",
                output: uuid, input: uuid),
            MemoryField(
                name: "namespace",
                description: "Where it belongs, `/`-separated (`acme/support/user-42`); default `default`.",
                output: string, input: type("string", extra: ["minLength": 1])),
            MemoryField(
                name: "agent", description: "Who wrote it.", output: nullableString,
                input: type("string", "null", extra: ["minLength": 1])),
            MemoryField(
                name: "kind",
                description: "`episode` (default), `fact`, `procedure`, `note`, or any short word.",
                output: string, input: type("string", extra: ["minLength": 1]), changes: true),
            MemoryField(
                name: "content", description: "What happened (required, non-empty).", output: string,
                input: type("string", extra: ["minLength": 1]), changes: true),
            MemoryField(
                name: "cause", description: "Why it happened.", output: nullableString, input: nullableString,
                changes: true),
            MemoryField(
                name: "outcome", description: "What was done and how it ended.", output: nullableString,
                input: nullableString, changes: true),
            MemoryField(
                name: "succeeded", description: "Whether the approach worked.",
                output: type("boolean", "null"),
                input: type("boolean", "null"), changes: true),
            MemoryField(
                name: "tags", description: "Short labels.", output: strings,
                input: type("array", "null", extra: ["items": string]), changes: true),
            MemoryField(
                name: "importance", description: "0 to 1 (default 0.5).", output: unit,
                input: type("number", "null", extra: ["minimum": 0, "maximum": 1]), changes: true),
            MemoryField(
                name: "metadata", description: "A JSON object to filter on.", output: type("object"),
                input: type("object", "null"), changes: true),
            MemoryField(
                name: "created_at",
                description: "When it happened (ISO 8601, or seconds since 1970 on input); default now.",
                output: time, input: inputTime),
            MemoryField(
                name: "updated_at", description: "When this version was written.", output: time,
                input: inputTime),
            MemoryField(
                name: "expires_at", description: "When it stops being recalled; null for never.",
                output: nullableTime,
                input: inputTime, changes: true),
            MemoryField(
                name: "supersedes", description: "The older version this one replaced.",
                output: type("string", "null", extra: ["format": "uuid"]),
                input: type("string", "null", extra: ["format": "uuid"])),
            MemoryField(
                name: "recall_count",
                description: "How often it was recalled (kept by the store; ignored on input).",
                output: count, input: type("number", "null")),
            MemoryField(
                name: "last_recalled_at", description: "When it was last recalled (ignored on input).",
                output: nullableTime, input: inputTime),
            MemoryField(
                name: "helpful_count", description: "Feedback: times it helped (ignored on input).",
                output: count,
                input: type("number", "null")),
            MemoryField(
                name: "unhelpful_count", description: "Feedback: times it did not help (ignored on input).",
                output: count,
                input: type("number", "null")),
            MemoryField(
                name: "source",
                description:
                    "Where it came from: `user`, `agent` (default), `tool`, `external`, or another short name (trusted least).",
                output: nullableString, input: nullableString),
            MemoryField(
                name: "trust",
                description:
                    "How far it may be trusted, lowest first: `untrusted`, `external`, `agent`, `user`, `system`. Defaults from the source, never above what it derives from nor above the key's maximum.",
                output: trustLevel,
                input: type("string", "null", extra: ["enum": .array(trustNames + [.null])])),
            MemoryField(
                name: "derived_from", description: "Ids of the memories it was derived from.",
                output: type("array", extra: ["items": uuid]),
                input: type("array", "null", extra: ["items": uuid])),
            MemoryField(
                name: "written_by", description: "The API key (or scope) that wrote it; kept on import.",
                output: nullableString, input: nullableString),
            MemoryField(
                name: "flags",
                description:
                    "What the store found in its text: `instruction-like`, `invisible-unicode`, `long-token` (ignored on input: computed).",
                output: strings, input: type("array", "null", extra: ["items": type("string")])),
            MemoryField(
                name: "quarantined",
                description:
                    "Kept out of recall unless asked for; on input (import), keeps an exported quarantine.",
                output: type("boolean"), input: type("boolean", "null")),
            MemoryField(
                name: "fact_key",
                description:
                    "The fact it states a value of (`user-42/shipping-address`): storing a new value ends the old one's validity.",
                output: nullableString, input: nullableString),
            MemoryField(
                name: "valid_from", description: "Since when it holds (null: since it was created).",
                output: nullableTime, input: inputTime),
            MemoryField(
                name: "valid_until", description: "When it stopped holding; null while it still does.",
                output: nullableTime, input: inputTime, changes: true),
            MemoryField(
                name: "embedding",
                description: "The vector; the store's embedder makes it from the text when absent.",
                output: nil, input: vector, changes: true),
            MemoryField(
                name: "ttl",
                description:
                    "Input only: expire after a duration such as `90s`, `12h`, `7d` (instead of `expires_at`).",
                output: nil, input: nullableString),
        ]

    static let trustNames = TrustLevel.allCases.map { JSONValue.string($0.description) }
    static let trustLevel = type("string", extra: ["enum": .array(trustNames)])

    /// The fields a memory object may hold on input (a remember body, an import line).
    package static let newMemoryFields = Set(memoryFields.map(\.name))
    /// The fields an update may change.
    package static let changeFields = Set(memoryFields.filter(\.changes).map(\.name))

    static func memorySchema(_ field: MemoryField, _ schema: JSONValue) -> (String, JSONValue) {
        (field.name, described(schema, field.description))
    }

    // MARK: Requests

    /// The filter object of recall, search, forget and count (all fields ANDed).
    static let filterFields: [(String, JSONValue)] =
        namedFilterFields
        + filterAliases.map { alias, name in
            (
                alias,
                described(
                    namedFilterFields.first { $0.0 == name }?.1 ?? .object([:]), "Another name for `\(name)`."
                )
            )
        }

    /// Other names a filter accepts: the library's camelCase spellings.
    package static let filterAliases: [(String, String)] = [("minTrust", "min_trust"), ("asOf", "as_of")]

    private static let namedFilterFields: [(String, JSONValue)] = [
        (
            "namespace",
            described(
                type("string", extra: ["minLength": 1]),
                "Only this namespace; end it with `/` to include everything below it.")
        ),
        (
            "namespace_prefix",
            described(type("string", extra: ["minLength": 1]), "This namespace and everything below it.")
        ),
        ("agents", described(strings, "Only memories by one of these agents.")),
        ("kinds", described(strings, "Only these kinds (episode, fact, procedure, note, ...).")),
        ("tags_any", described(strings, "Only memories with at least one of these tags.")),
        ("tags_all", described(strings, "Only memories with all of these tags.")),
        (
            "since",
            described(
                type("string", "number"),
                "Created at or after: ISO 8601, seconds since 1970, or an age (`7d`, `12h`).")
        ),
        (
            "until",
            described(type("string", "number"), "Created before: ISO 8601, seconds since 1970, or an age.")
        ),
        (
            "succeeded",
            described(type("boolean"), "Only memories whose approach worked (true) or failed (false).")
        ),
        ("include_expired", described(type("boolean"), "Include memories past their expiry.")),
        ("min_trust", described(trustLevel, "Only memories trusted at least this much.")),
        ("include_quarantined", described(type("boolean"), "Include quarantined memories.")),
        (
            "as_of",
            described(
                type("string", "number"),
                "Only memories that held at this time (valid from before it, until after it); by default, those holding now."
            )
        ),
        ("any_time", described(type("boolean"), "Memories whatever their validity, ended ones too.")),
        (
            "metadata",
            described(type("object"), #"Per key: a value to equal, {"in": [...]}, or {"gte": n, "lte": n}."#)
        ),
    ]
    /// The names of ``filterFields``.
    package static let filterFieldNames = Set(filterFields.map(\.0))

    /// The ranking options of a text recall.
    static let rankingFields: [(String, JSONValue)] = [
        (
            "mode",
            described(
                type("string", extra: ["enum": names("hybrid", "vector", "keyword")]),
                "Ranking: hybrid (default), vector or keyword.")
        ),
        (
            "fusion",
            described(
                type("string", extra: ["minLength": 1]),
                "How hybrid mode fuses its rankings: `weighted:W` (vector weight W, default `weighted:0.5`) or `rrf:K`."
            )
        ),
        (
            "candidates",
            described(
                type("integer", extra: ["minimum": 1]),
                "Candidates each retriever contributes before fusion (default 30).")
        ),
        (
            "signals",
            described(
                type("boolean"),
                "false ranks by relevance alone, without the recency, importance, outcome and feedback boosts."
            )
        ),
        (
            "neighbours",
            described(
                unit,
                "Share (default 0.3) of the best relevance of the memories written just before and after a hit, within an hour, added to its score; 0 turns it off."
            )
        ),
    ]

    static let recallFields: [(String, JSONValue)] =
        [
            (
                "query",
                described(
                    type("string", extra: ["minLength": 1]), "What to look for, in words (hybrid by default)."
                )
            ),
            (
                "vector",
                described(
                    type("array", extra: ["items": type("number"), "minItems": 1]),
                    "A query vector instead (exact cosine).")
            ),
            (
                "k",
                described(
                    type(
                        "integer",
                        extra: ["minimum": 1, "maximum": .number(Double(Limits.maxK)), "default": 10]),
                    "How many hits.")
            ),
            ("filter", ref("Filter")),
            ("min_score", described(type("number"), "Leave out hits with a lower score.")),
            (
                "format",
                described(
                    type("string", extra: ["enum": names("hits", "prompt")]),
                    "prompt: the answer also holds `prompt`, the hits quoted as data with source, trust and date inside markers their content cannot forge."
                )
            ),
            (
                "exact",
                described(
                    type("boolean", extra: ["default": false]),
                    "Scan every matching vector even when the store's approximate index would serve this recall."
                )
            ),
            (
                "explain",
                described(
                    type("boolean", extra: ["default": false]),
                    "The answer also holds `plan`: which search ran (exact or index), why, and how many vectors it scored."
                )
            ),
            (
                "token",
                described(
                    type("string"),
                    "Cluster nodes: a write answer's `token`; the recall sees that write (and every earlier one)."
                )
            ),
        ] + rankingFields
    /// The fields a recall request may hold.
    package static let recallFieldNames = Set(recallFields.map(\.0))

    // MARK: Components

    /// `components.schemas` of the OpenAPI document.
    package static var components: [String: JSONValue] {
        let outputs = memoryFields.compactMap { f in f.output.map { memorySchema(f, $0) } }
        let memory = object(
            outputs, required: memoryFields.filter { $0.output != nil }.map(\.name), closed: false)
        let newMemory: JSONValue = {
            guard case .object(var o) = object(memoryFields.map { memorySchema($0, $0.input) }) else {
                return .null
            }
            o["anyOf"] = eitherRequired("content", "what")
            return .object(o)
        }()
        let explain = object(
            [
                "cosine", "vector_rank", "keyword_score", "keyword_rank", "fused", "context", "recency",
                "importance",
                "outcome", "feedback", "score",
            ].map { ($0, type("number", "null")) },
            closed: false)
        let hit: JSONValue = .object([
            "allOf": .array([
                ref("Memory"),
                object(
                    [
                        ("score", described(type("number"), "The final score (higher is better).")),
                        ("explain", described(ref("Explain"), "A text recall's per-signal scores.")),
                    ],
                    required: ["score"], closed: false),
            ])
        ])
        let error = object(
            [
                (
                    "error",
                    object(
                        [
                            (
                                "code",
                                described(
                                    string,
                                    "invalidArgument, dimensionMismatch, notFound, permissionDenied, unauthenticated, tooLarge, overloaded, rateLimited, quotaExceeded, ..."
                                )
                            ),
                            ("message", string),
                            ("field", described(string, "The field or argument at fault, when one is.")),
                        ],
                        required: ["code", "message"], closed: false)
                )
            ], required: ["error"], closed: false)
        let rememberResult = object(
            [
                ("id", uuid),
                ("status", type("string", extra: ["enum": names("stored", "duplicate", "merged")])),
                (
                    "near_duplicate",
                    type(
                        "object", "null",
                        extra: ["properties": .object(["id": uuid, "cosine": type("number")])])
                ),
                (
                    "ended",
                    described(
                        type("array", extra: ["items": uuid]),
                        "Memories whose validity this one ended (the fact key's earlier value).")
                ),
                ("quarantined", described(type("boolean"), "Whether it was stored quarantined.")),
                (
                    "contradicts",
                    described(
                        type("array", extra: ["items": uuid]),
                        "Stored quarantined with a fact key: the key's current values it contradicts (they stay current)."
                    )
                ),
            ],
            required: ["id", "status", "near_duplicate"], closed: false)
        let workingEntry = object(
            [
                ("namespace", string), ("key", string), ("value", described(.object([:]), "Any JSON value.")),
                ("created_at", time), ("expires_at", time),
            ],
            required: ["namespace", "key", "value", "created_at", "expires_at"], closed: false)
        let recallRequest: JSONValue = {
            guard case .object(var o) = object(recallFields) else { return .null }
            o["oneOf"] = eitherRequired("query", "vector")
            return .object(o)
        }()
        let check = object(
            [("name", string), ("passed", type("boolean")), ("detail", string)],
            required: ["name", "passed", "detail"],
            closed: false)
        return [
            "Error": error,
            "Memory": memory,
            "NewMemory": newMemory,
            "MemoryBatch": object(
                [
                    ("memories", type("array", extra: ["items": ref("NewMemory"), "minItems": 1])),
                    (
                        "near_duplicate",
                        described(
                            type("number", "null", extra: ["minimum": -1, "maximum": 1]),
                            "Report an older memory of the same namespace at or above this cosine.")
                    ),
                ],
                required: ["memories"]),
            "RememberResult": rememberResult,
            "Changed": object([("changed", count)], required: ["changed"], closed: false),
            "PurgeRequest": object(
                [
                    ("ids", type("array", extra: ["items": uuid])),
                    ("source", described(string, "Every memory written with this source.")),
                    (
                        "derived_from",
                        described(
                            type("array", extra: ["items": uuid]),
                            "These memories and everything derived from them, transitively.")
                    ),
                    ("filter", ref("Filter")),
                    ("confirm", described(type("boolean", extra: ["const": true]), "Must be true.")),
                    ("reason", described(string, "Kept in the tombstones (never the content).")),
                ], required: ["confirm"], closed: false),
            "Purged": object(
                [("purged", count), ("versions", type("array", extra: ["items": uuid]))],
                required: ["purged", "versions"], closed: false),
            "AuditEntry": object(
                [
                    ("seq", type("integer", extra: ["minimum": 1])), ("at", time), ("actor", nullableString),
                    ("action", string), ("ids", type("array", extra: ["items": uuid])), ("detail", string),
                    ("hash", string),
                ], required: ["seq", "at", "actor", "action", "ids", "detail", "hash"], closed: false),
            "AuditEntries": object(
                [("entries", type("array", extra: ["items": ref("AuditEntry")]))], required: ["entries"],
                closed: false),
            "AuditVerification": object(
                [
                    ("intact", type("boolean")), ("entries", count), ("head", nullableString),
                    ("first_bad", type("integer", "null")), ("problem", nullableString),
                ], required: ["intact", "entries", "head", "first_bad", "problem"], closed: false),
            "Remembered": object(
                [
                    ("ids", type("array", extra: ["items": uuid])),
                    ("results", type("array", extra: ["items": ref("RememberResult")])),
                    (
                        "token",
                        described(
                            type("string"),
                            "Cluster nodes only: pass it as a recall's `token` to be sure to see this write."
                        )
                    ),
                ],
                required: ["ids", "results"], closed: false),
            "Changes": object(memoryFields.filter(\.changes).map { memorySchema($0, $0.input) }),
            "Filter": object(filterFields),
            "RecallRequest": recallRequest,
            "SearchRequest": object(
                [
                    ("query", type("string", extra: ["minLength": 1])),
                    ("k", type("integer", extra: ["minimum": 1, "default": 10])), ("filter", ref("Filter")),
                ],
                required: ["query"]),
            "Explain": explain,
            "Hit": hit,
            "Hits": object(
                [("hits", type("array", extra: ["items": ref("Hit")])), ("plan", ref("Plan"))],
                required: ["hits"],
                closed: false),
            "Plan": object(
                [
                    (
                        "path",
                        described(
                            type("string", extra: ["enum": names("exact", "index")]), "Which search ran.")
                    ),
                    ("reason", described(string, "Why the planner chose it.")),
                    (
                        "estimated_matches",
                        described(type("integer"), "Memories the filter admits (estimated when wide).")
                    ),
                    (
                        "vectors_scored",
                        described(type("integer"), "Full vectors, or codes plus re-scored vectors, scored.")
                    ),
                    ("lists_probed", described(type("integer"), "Index lists read (0 when exact).")),
                    (
                        "reranked",
                        described(type("integer"), "Candidates re-scored with their exact vectors.")
                    ),
                ],
                required: [
                    "path", "reason", "estimated_matches", "vectors_scored", "lists_probed", "reranked",
                ],
                closed: false),
            "Page": object(
                [
                    ("memories", type("array", extra: ["items": ref("Memory")])),
                    (
                        "next_cursor",
                        described(
                            type("string", "null", extra: ["format": "uuid"]),
                            "Pass as `cursor` for the next page; null on the last.")
                    ),
                ],
                required: ["memories", "next_cursor"], closed: false),
            "Versions": object(
                [
                    (
                        "versions",
                        described(
                            type("array", extra: ["items": ref("Memory")]),
                            "The current version, then the older ones, newest first.")
                    )
                ],
                required: ["versions"], closed: false),
            "ForgetRequest": object(
                [
                    ("filter", ref("Filter")),
                    (
                        "confirm",
                        described(.object(["const": true]), "Forgetting by filter cannot be undone.")
                    ),
                ],
                required: ["filter", "confirm"]),
            "Forgotten": object([("forgotten", count)], required: ["forgotten"], closed: false),
            "Count": object([("count", count)], required: ["count"], closed: false),
            "Index": object(
                [
                    ("lists", described(count, "Inverted lists.")),
                    ("bits", described(count, "Bits per dimension of the codes (4 or 8).")),
                    ("probes", described(count, "Lists a recall reads by default.")),
                    ("entries", described(count, "Codes held, stale ones included until a compaction.")),
                    ("memories", described(count, "Live memories.")),
                    ("index_bytes", described(count, "Memory the index takes.")),
                    ("vector_bytes", described(count, "Memory the live float vectors take, for comparison.")),
                    ("build_s", described(type("number"), "Seconds the build took (build answers only).")),
                ],
                required: ["lists", "bits", "probes", "entries", "memories", "index_bytes", "vector_bytes"],
                closed: false),
            "IndexBuild": object(
                [
                    ("lists", described(count, "Inverted lists (default: about 2 x the square root of n).")),
                    (
                        "bits",
                        described(type("integer", extra: ["enum": .array([4, 8])]), "Bits per dimension.")
                    ),
                ],
                required: []),
            "Feedback": object(
                [("helpful", described(type("boolean"), "Did the memory help?"))], required: ["helpful"]),
            "WorkingEntry": workingEntry,
            "WorkingEntries": object(
                [("entries", type("array", extra: ["items": ref("WorkingEntry")]))], required: ["entries"],
                closed: false),
            "WorkingSet": object(
                [
                    ("value", described(.object([:]), "Any JSON value.")),
                    (
                        "ttl_seconds",
                        described(type("number", extra: ["exclusiveMinimum": 0]), "Seconds until it expires.")
                    ),
                ],
                required: ["value", "ttl_seconds"]),
            "Promote": object(
                [("namespace", string), ("key", string), ("kind", string), ("tags", strings)],
                required: ["namespace", "key"]),
            "Promoted": object([("id", uuid)], required: ["id"], closed: false),
            "Stats": object(
                [
                    ("memories", count),
                    ("by_namespace", type("object", extra: ["additionalProperties": count])),
                    ("dimension", count), ("embedder", string),
                ],
                required: ["memories", "by_namespace", "dimension", "embedder"], closed: false),
            "Readiness": object(
                [("ready", type("boolean")), ("checks", type("array", extra: ["items": check]))],
                required: ["ready", "checks"],
                closed: false),
            "Liveness": object(
                [("status", type("string", extra: ["const": "ok"]))], required: ["status"], closed: false),
        ]
    }

    // MARK: Parts for other documents (the MCP tools)

    /// The given memory fields as they are written, with their descriptions.
    package static func memoryOutputProperties(_ names: [String]) -> [String: JSONValue] {
        Dictionary(
            uniqueKeysWithValues: memoryFields.filter { names.contains($0.name) }.compactMap { f in
                f.output.map { (f.name, described($0, f.description)) }
            })
    }

    /// The given memory fields as they are read, with their descriptions.
    package static func memoryInputProperties(_ names: [String]) -> [String: JSONValue] {
        Dictionary(
            uniqueKeysWithValues: memoryFields.filter { names.contains($0.name) }.map { f in
                (f.name, described(f.input, f.description))
            })
    }

    /// The given filter fields.
    package static func filterProperties(_ names: [String]) -> [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: filterFields.filter { names.contains($0.0) })
    }

    /// A text recall's ranking options.
    package static var rankingProperties: [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: rankingFields)
    }

    /// The properties of a component object.
    package static func properties(of component: String) -> [String: JSONValue] {
        guard case .object(let o)? = components[component], case .object(let properties)? = o["properties"]
        else { return [:] }
        return properties
    }

    /// `schema` with every `$ref` to a component replaced by the component itself, for documents that
    /// must stand alone.
    package static func resolved(_ schema: JSONValue) -> JSONValue {
        let all = components
        func resolve(_ value: JSONValue, depth: Int) -> JSONValue {
            switch value {
            case .object(let o):
                if case .string(let ref)? = o["$ref"], depth < 8,
                    let component = all[String(ref.dropFirst("#/components/schemas/".count))]
                {
                    var inner = resolve(component, depth: depth + 1)
                    if case .object(var io) = inner, let description = o["description"] {
                        io["description"] = description
                        inner = .object(io)
                    }
                    return inner
                }
                return .object(o.mapValues { resolve($0, depth: depth) })
            case .array(let a): return .array(a.map { resolve($0, depth: depth) })
            default: return value
            }
        }
        return resolve(schema, depth: 0)
    }

    // MARK: Documents

    /// The OpenAPI document with its components and version made from this table; the rest (paths,
    /// servers, security) is kept from `document`.
    package static func openAPI(updating document: JSONValue) -> JSONValue {
        guard case .object(var top) = document else { return document }
        if case .object(var info)? = top["info"] {
            info["version"] = .string(EngramVersion.current)
            top["info"] = .object(info)
        }
        var components: [String: JSONValue] = [:]
        if case .object(let existing)? = top["components"] { components = existing }
        components["schemas"] = .object(Self.components)
        top["components"] = .object(components)
        return .object(top)
    }

    /// The README's field reference: a Markdown table of a memory's fields (`update`: a `PATCH` may
    /// change it).
    package static var fieldReference: String {
        var lines = ["| field | type | update | meaning |", "|---|---|---|---|"]
        for field in memoryFields {
            let schema = field.output ?? field.input
            var types: [String] = []
            if case .object(let o) = schema {
                switch o["type"] {
                case .string(let t)?: types = [t]
                case .array(let ts)?: types = ts.compactMap(\.stringValue)
                default: break
                }
                if case .string(let format)? = o["format"] {
                    types = types.map { $0 == "string" ? format : $0 }
                }
                if case .object(let items)? = o["items"], case .string(let item)? = items["type"] {
                    types = types.map { $0 == "array" ? "array of \(item)s" : $0 }
                }
            }
            let update = field.changes ? "yes" : ""
            lines.append(
                "| `\(field.name)` | \(types.joined(separator: " or ")) | \(update) | \(field.description) |")
        }
        return lines.joined(separator: "\n")
    }
}
