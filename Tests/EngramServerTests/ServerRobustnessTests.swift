import Engram
import EngramMCP
import EngramTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Testing

@testable import EngramServer
@testable import EngramService

@Suite("HTTP API: contract, backpressure, metrics, fuzzed bodies")
struct ServerRobustnessTests {
    /// The (method, path template) pairs the OpenAPI document declares.
    static func documentedRoutes() throws -> Set<String> {
        let document = try JSONValue(parsing: try OpenAPIDocument.text())
        guard case .object(let top) = document, top["openapi"] == "3.1.0",
            case .object(let paths)? = top["paths"]
        else {
            throw EngramError.invalid("openapi", "not an OpenAPI 3.1 document")
        }
        var routes: Set<String> = []
        for (path, item) in paths {
            guard case .object(let operations) = item else { continue }
            for method in operations.keys where ["get", "put", "post", "patch", "delete"].contains(method) {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    /// A router path as the document writes it (`{id}`; the working catch-all as `{namespace}/{key}`).
    static func documentPath(_ routerPath: String) -> String {
        let path = routerPath.hasPrefix("/") ? routerPath : "/" + routerPath
        return path.replacingOccurrences(of: "/**", with: "/{namespace}/{key}").replacingOccurrences(
            of: ":id", with: "{id}")
    }

    @Test("every route is in openapi.json and every documented path and method is served")
    func openAPIMatchesRouter() async throws {
        let h = try ServerHarness()
        let (application, handle) = try EngramServer.buildApplication(
            store: h.store, configuration: h.configuration, resolver: EmbedderResolver(environment: [:]))
        _ = application
        let mcp = MCPHTTPSessions(service: handle.service, checksOrigin: true)
        let served = Set(
            EngramServer.buildRouter(handle.parts, mcp: mcp).routes.map {
                "\($0.method) \(Self.documentPath($0.path.description))"
            })
        try await handle.shutdown()
        let documented = try Self.documentedRoutes()
        #expect(
            served == documented,
            "only served: \(served.subtracting(documented)); only documented: \(documented.subtracting(served))"
        )

        h.mcp = true
        try await h.run { client in
            let served = try await client.call(.get, "/openapi.json")
            #expect(served.status == 200)
            #expect(served["openapi"] == "3.1.0")
            // Each documented operation answers with something other than "no such route".
            for route in documented {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                let uri = String(parts[1]).replacingOccurrences(
                    of: "{id}", with: MemoryID(UUID()).description
                )
                .replacingOccurrences(of: "{namespace}", with: "ns").replacingOccurrences(
                    of: "{key}", with: "k")
                let reply = try await client.call(
                    method, uri, method == .get || method == .delete ? nil : "{}")
                #expect(
                    !(reply.status == 404 && reply.text.contains("no such route")) && reply.status != 405,
                    "\(route): \(reply.status)")
            }
        }
    }

    @Test("past the queue depth requests get 503 with Retry-After, and are served again once it drains")
    func backpressure() async throws {
        let h = try ServerHarness()
        h.configuration.queueDepth = 4
        try await h.run { client in
            let pool = try #require(h.service?.pool)
            for _ in 0..<4 { try pool.admit() }
            let refused = try await client.call(.post, "/v1/recall", #"{"query":"anything"}"#)
            #expect(refused.status == 503)
            #expect(refused.errorCode == "overloaded")
            #expect(refused.headers[.retryAfter] == "1")
            for _ in 0..<4 { pool.release() }
            #expect(try await client.call(.post, "/v1/recall", #"{"query":"anything"}"#).status == 200)
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.text.contains(#"engram_rejected_total{reason="queue_full"} 1"#))
        }
    }

    @Test("/metrics counts requests by route pattern and never labels with namespaces, ids or keys")
    func metrics() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            let created = try await client.call(
                .post, "/v1/memories", #"{"content":"zebra migration notes","namespace":"tenant-secret-ns"}"#)
            let id = try #require(created["ids", 0]?.stringValue)
            _ = try await client.call(.get, "/v1/memories/\(id)")
            _ = try await client.call(.post, "/v1/recall", #"{"query":"zebra","k":1}"#)
            _ = try await client.call(.post, "/v1/recall", #"{"vector":[1]}"#)
            _ = try await client.call(.put, "/v1/working/w/k", #"{"value":1,"ttl_seconds":60}"#)
            let text = try await client.call(.get, "/metrics").text
            for expected in [
                #"engram_http_requests_total{route="/v1/memories",method="POST",status="201"} 1"#,
                #"engram_http_requests_total{route="/v1/memories/{id}",method="GET",status="200"} 1"#,
                #"engram_http_requests_total{route="/v1/recall",method="POST",status="422"} 1"#,
                "engram_memories 1.0", "engram_namespaces 1.0", "engram_working_items 1.0",
                "engram_recall_queries_total 1", "engram_vectors_scanned_total 1\n",
                "engram_knowledge_hit_ratio", "engram_embed_duration_seconds_count",
                "engram_http_request_duration_seconds_bucket", "engram_queue_depth",
                #"engram_store_bytes{file="vectors"}"#,
            ] {
                #expect(text.contains(expected), "missing \(expected)")
            }
            #expect(!text.contains("tenant-secret-ns"))
            #expect(!text.contains(id))
            #expect(!text.contains("zebra"))
        }
    }

    @Test("2,000 seeded random bodies on every route: no 5xx, no crash, rejected writes store nothing")
    func fuzzedBodies() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            let seeded = try await client.call(
                .post, "/v1/memories", #"{"content":"seed memory","namespace":"fuzz"}"#)
            let id = try #require(seeded["ids", 0]?.stringValue)
            var g = SeededGenerator(seed: 2026)
            let targets: [(HTTPRequest.Method, String)] = [
                (.post, "/v1/memories"), (.post, "/v1/recall"), (.post, "/v1/search"),
                (.patch, "/v1/memories/\(id)"),
                (.post, "/v1/memories/forget"), (.post, "/v1/memories/\(id)/feedback"),
                (.put, "/v1/working/fuzz/k"),
                (.post, "/v1/working/promote"),
            ]
            var statuses: [Int: Int] = [:]
            for i in 0..<2000 {
                let (method, uri) = targets[i % targets.count]
                let body = BodyFuzzer.body(&g)
                let before = try h.store.count()
                let reply = try await client.call(method, uri, body)
                if reply.status >= 400 {
                    #expect(
                        try h.store.count() == before,
                        "a rejected request changed the store: \(body.prefix(200))")
                }
                statuses[reply.status, default: 0] += 1
                #expect(
                    reply.status < 500,
                    "\(method) \(uri) \(body.prefix(200)) -> \(reply.status) \(reply.text.prefix(200))")
                if reply.status >= 400 { #expect(reply.errorCode != nil, "error bodies are JSON errors") }
            }
            #expect(
                (statuses[400] ?? 0) > 0 && (statuses[422] ?? 0) > 0,
                "the fuzzer reaches both parsing and validation: \(statuses)")
            #expect(try h.store.health().healthy)
        }
    }
}

/// Random JSON request bodies: valid-looking objects with fields of the API's names and random
/// values, mutated (wrong types, huge and non-finite numbers, deep nesting, truncation, garbage).
enum BodyFuzzer {
    static let fields = [
        "content", "cause", "outcome", "succeeded", "namespace", "kind", "tags", "importance", "metadata",
        "embedding",
        "memories", "query", "vector", "k", "filter", "min_score", "mode", "fusion", "candidates", "signals",
        "confirm",
        "helpful", "value", "ttl_seconds", "key", "expires_at", "ttl", "id", "supersedes", "near_duplicate",
        "namespace_prefix", "tags_any", "tags_all", "since", "until", "include_expired", "agents", "kinds",
    ]

    static func body(_ g: inout SeededGenerator) -> String {
        let text = value(&g, depth: 0, object: true).jsonText
        switch g.next() % 10 {
        case 0: return String(text.prefix(Int(g.next() % UInt64(max(text.count, 1)))))  // truncated
        case 1:
            return ["", "null", "[]", "\"x\"", "{\"a\":", "{}}", "\u{0}", "{\"content\":\"\u{FFFD}\"}"][
                Int(g.next() % 8)]
        default: return text
        }
    }

    static func value(_ g: inout SeededGenerator, depth: Int, object: Bool = false) -> JSONValue {
        if object || (depth < 3 && g.next() % 5 == 0) {
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int(g.next() % 6) {
                o[fields[Int(g.next() % UInt64(fields.count))]] = value(&g, depth: depth + 1)
            }
            return .object(o)
        }
        switch g.next() % 9 {
        case 0: return .null
        case 1: return .bool(g.next() % 2 == 0)
        case 2: return .number([0, -1, 1, 0.5, 1e308, -1e308, 3, 100_001, 1e-300][Int(g.next() % 9)])
        case 3:
            return .string(
                [
                    "", "acme/support", "//", "x", "7d", "2026-11-01", "hybrid", "rrf:60", "weighted:2", "é🙂",
                    String(repeating: "a", count: 300),
                ][Int(g.next() % 11)])
        case 4: return .array((0..<Int(g.next() % 4)).map { _ in value(&g, depth: depth + 1) })
        case 5: return .array((0..<Int(g.next() % 3 == 0 ? 256 : 3)).map { _ in .number(g.gaussian()) })
        case 6: return .string(MemoryID(UUID()).description)
        case 7: return .object(["content": .string("fuzz"), "namespace": "fuzz"])
        default: return .number(Double(Int(g.next() % 20)) - 5)
        }
    }
}
