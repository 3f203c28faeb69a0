package import Engram
package import EngramService
import Foundation

/// Engram's MCP tools: their schemas, descriptions and hints, and what each call does. A call reads
/// its arguments with the same request readers as the HTTP API and runs the same ``MemoryService``
/// operation, within the caller's scope.
package struct MemoryTools: Sendable {
    /// One tool as MCP lists it.
    package struct Definition: Sendable {
        package var name: String
        package var description: String
        package var schema: JSONValue
        /// The shape of the tool's structured result (of a successful call).
        package var output: JSONValue
        package var readOnly: Bool
        package var destructive: Bool
        package var idempotent: Bool
    }

    /// A tool's answer: the structured result, a short text rendering, and whether it is an error.
    package struct Outcome: Sendable {
        package var structured: JSONValue
        package var text: String
        package var isError: Bool
    }

    let service: MemoryService

    package init(service: MemoryService) { self.service = service }

    // MARK: Schemas (from the one wire definition, WireSchema)

    private static func object(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        .object([
            "type": "object", "properties": .object(properties),
            "required": .array(required.map(JSONValue.string)),
            "additionalProperties": false,
        ])
    }

    private static func string(_ description: String) -> JSONValue {
        .object(["type": "string", "description": .string(description)])
    }
    private static func integer(_ description: String, min: Int, max: Int) -> JSONValue {
        .object([
            "type": "integer", "minimum": .number(Double(min)), "maximum": .number(Double(max)),
            "description": .string(description),
        ])
    }

    /// A result shape: the wire component `name` with every reference resolved (MCP schemas stand alone).
    private static func output(_ name: String) -> JSONValue {
        WireSchema.resolved(.object(["$ref": .string("#/components/schemas/\(name)")]))
    }

    /// An object result with the given fields.
    private static func result(_ properties: [String: JSONValue]) -> JSONValue {
        .object([
            "type": "object", "properties": .object(properties),
            "required": .array(properties.keys.sorted().map(JSONValue.string)),
        ])
    }

    /// The filter fields a recall or search takes as arguments of its own (flattened).
    static let filterProperties = WireSchema.filterProperties(
        [
            "namespace", "namespace_prefix", "kinds", "tags_any", "tags_all", "since", "until", "succeeded",
            "min_trust", "as_of",
        ])

    /// The fields of a compact hit or listed memory: what an agent needs, so a recall never floods the
    /// context window.
    static let compactFields = [
        "id", "content", "cause", "outcome", "succeeded", "namespace", "created_at", "source", "trust",
    ]

    private static func compactItems(score: Bool) -> JSONValue {
        var properties = WireSchema.memoryOutputProperties(compactFields)
        if score { properties["score"] = .object(["type": "number"]) }
        return .object([
            "type": "object", "properties": .object(properties),
            "required": .array(properties.keys.sorted().map(JSONValue.string)),
        ])
    }

    package static let definitions: [Definition] = [
        Definition(
            name: "remember",
            description: """
                Store a memory: what happened (content), why (cause), what was done and how it ended (outcome), \
                and whether it worked (succeeded). Store the cause and outcome whenever you know them: later \
                recalls find fixes by their symptoms. Exact duplicates in the namespace are not stored twice \
                (status "duplicate" with the existing id).
                """,
            schema: object(
                WireSchema.memoryInputProperties(
                    [
                        "content", "cause", "outcome", "succeeded", "namespace", "kind", "tags", "importance",
                        "metadata", "source", "trust", "derived_from", "fact_key", "valid_from",
                        "valid_until",
                    ]),
                required: ["content"]),
            output: output("RememberResult"),
            readOnly: false, destructive: false, idempotent: true),
        Definition(
            name: "recall",
            description: """
                Find the memories that best answer a question, best first: meaning and keywords combined, with \
                small boosts for recent, important and successful memories. Returns compact hits (id, score, \
                content, cause, outcome, succeeded, namespace, created_at). Ask in words, e.g. "why did the \
                deploy fail last time and what fixed it".
                """,
            schema: object(
                filterProperties.merging(WireSchema.rankingProperties) { a, _ in a }.merging([
                    "query": string("What to look for, in words."),
                    "k": integer("How many hits (default 5).", min: 1, max: 50),
                    "format": .object([
                        "type": "string", "enum": .array(["hits", "prompt"]),
                        "description":
                            "prompt: the text result quotes each hit as data with its source, trust and date, inside markers its content cannot forge.",
                    ]),
                ]) { a, _ in a }, required: ["query"]),
            output: result(["hits": .object(["type": "array", "items": compactItems(score: true)])]),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "search",
            description:
                "Keyword search (BM25 over content, cause, outcome and tags) when exact words matter, such as an error code or a name. Compact hits.",
            schema: object(
                filterProperties.merging([
                    "query": string("Words to look for."),
                    "k": integer("How many hits (default 5).", min: 1, max: 50),
                ]) { a, _ in a }, required: ["query"]),
            output: result(["hits": .object(["type": "array", "items": compactItems(score: true)])]),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "get_memory",
            description: "One memory by id, with every field (tags, metadata, times, feedback counts).",
            schema: object(
                ["id": string("The memory's id (a UUID from recall or remember).")], required: ["id"]),
            output: output("Memory"),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "list_memories",
            description:
                "Memories in creation order, a page at a time (compact). Pass next_cursor back as cursor for the next page.",
            schema: object([
                "namespace": string("Only this namespace; end it with '/' to include everything below it."),
                "limit": integer("Memories per page (default 20).", min: 1, max: 100),
                "cursor": string("next_cursor from the previous page."),
            ]),
            output: result([
                "memories": .object(["type": "array", "items": compactItems(score: false)]),
                "next_cursor": .object(["type": .array(["string", "null"])]),
            ]),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "update_memory",
            description:
                "Change some fields of a memory. The change is a new version (the old one stays in its history); the new version's id is returned.",
            schema: object(
                WireSchema.memoryInputProperties(
                    ["content", "cause", "outcome", "succeeded", "kind", "tags", "importance", "metadata"]
                ).merging(["id": string("The memory to change.")]) { a, _ in a },
                required: ["id"]),
            output: output("Memory"),
            readOnly: false, destructive: false, idempotent: false),
        Definition(
            name: "forget",
            description: "Delete one memory by id, for good (it no longer comes back from recall or search).",
            schema: object(["id": string("The memory to forget.")], required: ["id"]),
            output: result(["forgotten": .object(["type": "string", "format": "uuid"])]),
            readOnly: false, destructive: true, idempotent: true),
        Definition(
            name: "feedback",
            description:
                "Report whether a recalled memory helped; helpful memories rank a little higher in later recalls.",
            schema: object(
                [
                    "id": string("The recalled memory."),
                    "helpful": .object(["type": "boolean", "description": "Did it help?"]),
                ],
                required: ["id", "helpful"]),
            output: result(["recorded": .object(["type": "boolean"])]),
            readOnly: false, destructive: false, idempotent: false),
        Definition(
            name: "working_set",
            description:
                "Keep a short-lived value (a plan, a customer's cart, a step counter) under a key for ttl_seconds; it then disappears by itself.",
            schema: object(
                WireSchema.properties(of: "WorkingSet").merging([
                    "namespace": string("Where the entry lives."), "key": string("The entry's name."),
                ]) { a, _ in a }, required: ["namespace", "key", "value", "ttl_seconds"]),
            output: result([
                "namespace": .object(["type": "string"]), "key": .object(["type": "string"]),
                "stored": .object(["type": "boolean"]),
            ]),
            readOnly: false, destructive: false, idempotent: true),
        Definition(
            name: "working_get",
            description: "Read a short-lived working-memory entry (an error if it is missing or expired).",
            schema: object(
                ["namespace": string("Where the entry lives."), "key": string("The entry's name.")],
                required: ["namespace", "key"]),
            output: output("WorkingEntry"),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "working_list",
            description: "Every unexpired working-memory entry in a namespace.",
            schema: object(["namespace": string("The namespace.")], required: ["namespace"]),
            output: output("WorkingEntries"),
            readOnly: true, destructive: false, idempotent: true),
        Definition(
            name: "stats",
            description:
                "How many memories there are (by namespace, within what this connection may see) and the store's embedder.",
            schema: object([:]),
            output: output("Stats"),
            readOnly: true, destructive: false, idempotent: true),
    ]

    /// The tools as a JSON document (name, description, input and output schemas), for `make schema`.
    package static var document: JSONValue {
        .array(
            definitions.map { d in
                .object([
                    "name": .string(d.name), "description": .string(d.description), "inputSchema": d.schema,
                    "outputSchema": d.output,
                ])
            })
    }

    // MARK: Calls

    /// Runs a tool. Never throws: a refusal or bad argument comes back as a tool error with the same
    /// `code` and `field` as the CLI and the HTTP API.
    package func call(_ name: String, arguments: [String: JSONValue], scope: Scope) async -> Outcome {
        do {
            guard let definition = Self.definitions.first(where: { $0.name == name }) else {
                throw EngramError.invalid("name", "no tool is called \(name)")
            }
            if case .object(let schema) = definition.schema,
                case .object(let properties)? = schema["properties"],
                let unknown = arguments.keys.sorted().first(where: { properties[$0] == nil })
            {
                throw EngramError.invalid(unknown, "is not an argument of \(name)")
            }
            let structured = try await run(
                name, JSONObject(.object(arguments), field: "arguments"), scope: scope)
            return Outcome(structured: structured, text: Self.render(name, structured), isError: false)
        } catch {
            let failure = ServiceError(error)
            if failure.code == .internal {
                return Self.failure(
                    code: "unavailable", message: "the server is busy or stopping; retry shortly", field: nil)
            }
            return Self.failure(code: failure.code.rawValue, message: failure.message, field: failure.field)
        }
    }

    private static func failure(code: String, message: String, field: String?) -> Outcome {
        Outcome(
            structured: ErrorJSON.object(code: code, message: message, field: field),
            text: "\(code): " + (field.map { "\($0): " } ?? "") + message,
            isError: true)
    }

    private func run(_ name: String, _ a: JSONObject, scope: Scope) async throws -> JSONValue {
        let now = Date()
        switch name {
        case "remember":
            var request = try RememberRequest(json: a, now: now)
            // What reaches memory through a model's tool call is external unless the caller says otherwise.
            for i in request.memories.indices where request.memories[i].source == nil {
                request.memories[i].source = .external
            }
            let results = try await service.remember(request, scope: scope)
            return MemoryJSON.object(results[0])
        case "recall", "search":
            var body: [String: JSONValue] = ["query": a["query"] ?? .null, "k": a["k"] ?? 5]
            if name == "recall" {
                for option in ["mode", "fusion", "candidates", "signals", "neighbours"] {
                    body[option] = a.fields[option]
                }
            }
            let filter = a.fields.filter { Self.filterProperties[$0.key] != nil }
            if !filter.isEmpty { body["filter"] = .object(filter) }
            let request = try JSONObject(.object(body), field: "arguments")
            let format = try a.string("format") ?? "hits"
            guard ["hits", "prompt"].contains(format) else {
                throw EngramError.invalid("format", "must be hits or prompt")
            }
            var prompt: String?
            let result: JSONValue
            if name == "recall" {
                let hits = try await service.recall(try RecallRequest(json: request, now: now), scope: scope)
                if format == "prompt" { prompt = RecalledContext.render(hits) }
                result = ResultJSON.hits(hits)
            } else {
                result = ResultJSON.hits(
                    try await service.search(try SearchRequest(json: request, now: now), scope: scope))
            }
            var answer: [String: JSONValue] = [
                "hits": .array(Self.items(result, "hits").map { Self.compact($0, score: true) })
            ]
            if let prompt { answer["prompt"] = .string(prompt) }
            return .object(answer)
        case "get_memory":
            return MemoryJSON.object(try await service.memory(try Self.id(a), scope: scope))
        case "list_memories":
            let cursor = try a.string("cursor").map { text -> MemoryID in
                guard let id = MemoryID(text) else {
                    throw EngramError.invalid("cursor", "is not a memory id")
                }
                return id
            }
            let limit = try a.int("limit") ?? 20
            guard (1...100).contains(limit) else {
                throw EngramError.invalid("limit", "must be from 1 to 100")
            }
            let namespace = try a.string("namespace").map(FilterParsing.namespace)
            let page = ResultJSON.page(
                try await service.list(
                    ListRequest(filter: MemoryFilter(namespace: namespace), limit: limit, cursor: cursor),
                    scope: scope))
            guard case .object(var o) = page else { return page }
            o["memories"] = .array(Self.items(page, "memories").map { Self.compact($0, score: false) })
            return .object(o)
        case "update_memory":
            var changes = a.fields
            changes["id"] = nil
            let update = try UpdateRequest(
                id: try Self.id(a), json: JSONObject(.object(changes), field: "arguments"))
            return MemoryJSON.object(try await service.update(update, scope: scope).memory)
        case "forget":
            let id = try Self.id(a)
            try await service.forget(id, scope: scope)
            return .object(["forgotten": .string(id.description)])
        case "feedback":
            let helpful = try RequestJSON.helpful(
                JSONObject(.object(["helpful": a["helpful"] ?? .null]), field: "arguments"))
            try await service.feedback(try Self.id(a), helpful: helpful, scope: scope)
            return .object(["recorded": true])
        case "working_set":
            let (namespace, key) = try Self.entry(a)
            let body = try JSONObject(
                .object(["value": a.fields["value"] ?? .null, "ttl_seconds": a["ttl_seconds"] ?? .null]),
                field: "arguments")
            try await service.workingSet(
                WorkingSetRequest(namespace: namespace, key: key, json: body), scope: scope)
            return .object(["namespace": .string(namespace), "key": .string(key), "stored": true])
        case "working_get":
            let (namespace, key) = try Self.entry(a)
            return ResultJSON.entry(
                try await service.workingGet(namespace: namespace, key: key, scope: scope))
        case "working_list":
            guard let namespace = try a.string("namespace") else {
                throw EngramError.invalid("namespace", "is required")
            }
            return ResultJSON.entries(try await service.workingList(namespace: namespace, scope: scope))
        case "stats":
            let stats = try ResultJSON.stats(try await service.stats(scope: scope))
            guard case .object(let o) = stats else { return stats }
            return .object(
                o.filter { ["memories", "by_namespace", "dimension", "embedder"].contains($0.key) })
        default:
            throw EngramError.invalid("name", "no tool is called \(name)")
        }
    }

    private static func id(_ a: JSONObject) throws -> MemoryID {
        guard let text = try a.string("id") else { throw EngramError.invalid("id", "is required") }
        guard let id = MemoryID(text) else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        return id
    }

    private static func entry(_ a: JSONObject) throws -> (String, String) {
        guard let namespace = try a.string("namespace") else {
            throw EngramError.invalid("namespace", "is required")
        }
        guard let key = try a.string("key") else { throw EngramError.invalid("key", "is required") }
        return (namespace, key)
    }

    private static func items(_ value: JSONValue, _ field: String) -> [JSONValue] {
        guard case .object(let o) = value, case .array(let items)? = o[field] else { return [] }
        return items
    }

    /// The fields an agent needs from a hit (``compactFields``).
    private static func compact(_ memory: JSONValue, score: Bool) -> JSONValue {
        guard case .object(let o) = memory else { return memory }
        var keep = compactFields
        if score { keep.append("score") }
        return .object(o.filter { keep.contains($0.key) })
    }

    /// A short text for clients that show text only.
    static func render(_ tool: String, _ value: JSONValue) -> String {
        guard case .object(let o) = value else { return value.jsonText }
        if let prompt = o["prompt"]?.stringValue { return prompt }
        if case .array(let hits)? = o["hits"] ?? o["memories"] {
            if hits.isEmpty { return "no matching memories" }
            return hits.map { hit -> String in
                guard case .object(let h) = hit else { return hit.jsonText }
                var line = ""
                if let score = h["score"]?.numberValue { line += String(format: "%.3f ", score) }
                line += (h["id"]?.stringValue ?? "") + " " + (h["content"]?.stringValue ?? "")
                if let cause = h["cause"]?.stringValue { line += " | why: " + cause }
                if let outcome = h["outcome"]?.stringValue { line += " | outcome: " + outcome }
                if case .bool(let worked)? = h["succeeded"] { line += worked ? " (worked)" : " (failed)" }
                return line
            }.joined(separator: "\n")
        }
        return value.jsonText
    }
}
