import Engram
import EngramService
import EngramTestSupport
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

@Suite("HTTP API: memories, recall, working memory")
struct ServerTests {
    /// Seeds `count` memories with seeded vectors over a few namespaces; returns the oracle and namespaces.
    static func seed(_ h: ServerHarness, count: Int = 120) throws -> (BruteForceOracle, [MemoryID: String]) {
        var g = SeededGenerator(seed: 7)
        var oracle = BruteForceOracle()
        var namespaceOf: [MemoryID: String] = [:]
        let namespaces = ["acme/support", "acme/support/user-1", "acme/billing", "globex"]
        let memories = (0..<count).map { i in
            Fixtures.memory(
                g.vector(dimension: ServerHarness.dimension), index: i,
                namespace: namespaces[i % namespaces.count])
        }
        let ids = try h.store.remember(memories)
        for (id, m) in zip(ids, memories) {
            oracle.entries.append(.init(id: id, vector: m.embedding))
            namespaceOf[id] = m.namespace
        }
        return (oracle, namespaceOf)
    }

    static func hits(_ reply: ServerHarness.Reply) throws -> [(id: MemoryID, score: Float)] {
        try #require(reply.status == 200, "status \(reply.status): \(reply.text)")
        let list = try #require(reply["hits"]?.arrayValue)
        return try list.map { hit in
            guard case .object(let o) = hit, let id = o["id"]?.stringValue.flatMap(MemoryID.init),
                let score = o["score"]?.numberValue
            else { throw EngramError.invalid("hit", "malformed") }
            return (id, Float(score))
        }
    }

    static func mismatch(
        _ hits: [(id: MemoryID, score: Float)], _ oracle: BruteForceOracle, query: [Float], k: Int,
        where admit: @escaping (MemoryID) -> Bool = { _ in true }
    ) -> String? {
        let truth = oracle.ranking(query, where: admit)
        guard hits.count == min(k, truth.count) else {
            return "got \(hits.count) hits, expected \(min(k, truth.count))"
        }
        let score = Dictionary(uniqueKeysWithValues: truth.map { ($0.id, $0.score) })
        for (i, hit) in hits.enumerated() {
            guard let s = score[hit.id] else { return "hit \(i) is not admitted" }
            if abs(Double(hit.score) - s) > 1e-4 { return "hit \(i) score \(hit.score) vs true \(s)" }
            if abs(s - truth[i].score) > 1e-4 { return "hit \(i) is not the true rank-\(i) memory" }
        }
        return nil
    }

    @Test(
        "vector recall equals brute force, with and without a filter, also for 64 concurrent (coalesced) queries"
    )
    func vectorRecallMatchesOracle() async throws {
        let h = try ServerHarness()
        let (oracle, namespaceOf) = try Self.seed(h)
        try await h.run { client in
            var g = SeededGenerator(seed: 99)
            let q = g.vector(dimension: ServerHarness.dimension)
            let all = try Self.hits(
                try await client.post("/v1/recall", .object(["vector": .vector(q), "k": 10])))
            #expect(Self.mismatch(all, oracle, query: q, k: 10) == nil)
            let filtered = try Self.hits(
                try await client.post(
                    "/v1/recall",
                    .object(["vector": .vector(q), "k": 7, "filter": .object(["namespace": "acme/support/"])])
                ))
            #expect(
                Self.mismatch(filtered, oracle, query: q, k: 7) {
                    namespaceOf[$0]?.hasPrefix("acme/support") == true
                } == nil)

            let queries = (0..<64).map { _ in g.vector(dimension: ServerHarness.dimension) }
            let replies = try await withThrowingTaskGroup(of: (Int, ServerHarness.Reply).self) { group in
                for (i, query) in queries.enumerated() {
                    group.addTask {
                        (i, try await client.post("/v1/recall", .object(["vector": .vector(query), "k": 5])))
                    }
                }
                var out: [Int: ServerHarness.Reply] = [:]
                for try await (i, reply) in group { out[i] = reply }
                return out
            }
            for (i, query) in queries.enumerated() {
                let reply = try #require(replies[i])
                #expect(Self.mismatch(try Self.hits(reply), oracle, query: query, k: 5) == nil, "query \(i)")
            }
        }
    }

    @Test("text recall answers as the library does (hybrid by default, each mode, explain included)")
    func textRecallMatchesLibrary() async throws {
        let h = try ServerHarness()
        let texts = [
            ("payment service timed out", "connection pool too small", "raised the pool size to 50"),
            ("printer jams on tray two", "worn roller", "replaced the roller"),
            ("VPN drops every hour", "DHCP lease too short", "longer lease"),
            ("slow checkout page", "database timeout in payment service", "added an index"),
        ]
        try await h.run { client in
            for (content, cause, outcome) in texts {
                let reply = try await client.post(
                    "/v1/memories",
                    .object([
                        "content": .string(content), "cause": .string(cause), "outcome": .string(outcome),
                        "namespace": "acme/support", "succeeded": true,
                    ]))
                #expect(reply.status == 201, "\(reply.text)")
                #expect(reply["results", 0, "status"] == "stored")
            }
            let embedder = try EmbedderResolver(environment: [:]).textEmbedder(for: h.store)
            for mode in RecallMode.allCases {
                let reply = try await client.post(
                    "/v1/recall",
                    .object(["query": "payment timeout", "k": 3, "mode": .string(mode.rawValue)]))
                let got = try Self.hits(reply).map(\.id)
                let expected = try h.store.recall(
                    text: "payment timeout", embedder: mode == .keyword ? nil : embedder, k: 3,
                    options: TextRecallOptions(mode: mode)
                ).map(\.memory.id)
                #expect(got == expected, "mode \(mode)")
                #expect(reply["hits", 0, "explain", "score"]?.numberValue != nil)
            }
            // The time-neighbour share, as the library takes it: 0 turns the context off.
            let plain = try await client.post(
                "/v1/recall", .object(["query": "payment timeout", "k": 3, "neighbours": 0]))
            let expected = try h.store.recall(
                text: "payment timeout", embedder: embedder, k: 3, options: TextRecallOptions(neighbours: 0)
            ).map(\.memory.id)
            #expect(try Self.hits(plain).map(\.id) == expected)
            #expect((0..<3).allSatisfy { plain["hits", $0, "explain", "context"]?.numberValue == 0 })
            let refused = try await client.post(
                "/v1/recall", .object(["query": "payment timeout", "neighbours": 2]))
            #expect(refused.status == 422 && refused.errorField == "options.neighbours", "\(refused.text)")
        }
    }

    @Test("a batch is atomic: one bad memory rejects it with the field named, nothing stored")
    func batchIsAtomic() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            let bad = try await client.call(
                .post, "/v1/memories", #"{"memories":[{"content":"a"},{"content":"b"},{"content":""}]}"#)
            #expect(bad.status == 422)
            #expect(bad.errorCode == "invalidArgument")
            #expect(bad.errorField == "memories[2].content")
            let nan = try await client.call(
                .post, "/v1/memories", #"{"memories":[{"content":"a","embedding":[1e999]}]}"#)
            #expect(nan.status == 422 || nan.status == 400, "\(nan.text)")
            let dims = try await client.call(.post, "/v1/memories", #"{"content":"a","embedding":[1,2,3]}"#)
            #expect(dims.status == 422)
            #expect(dims.errorCode == "dimensionMismatch")
            #expect(try await client.call(.get, "/v1/count")["count"] == 0)
            let good = try await client.call(
                .post, "/v1/memories", #"{"memories":[{"content":"a"},{"content":"b"},{"content":"a"}]}"#)
            #expect(good.status == 201)
            #expect(good["results", 2, "status"] == "duplicate")
            #expect(try await client.call(.get, "/v1/count")["count"] == 2)
        }
    }

    @Test("bad requests get the JSON error and the status that fits")
    func errors() async throws {
        let h = try ServerHarness()
        h.configuration.maxBodyBytes = 2048
        h.configuration.maxBatch = 3
        try await h.run { client in
            let malformed = try await client.call(.post, "/v1/recall", "{not json")
            #expect(malformed.status == 400)
            #expect(malformed.errorField == "body")
            let unknown = try await client.call(.post, "/v1/recall", #"{"query":"x","top_k":3}"#)
            #expect(unknown.status == 422)
            #expect(unknown.errorField == "top_k")
            let badK = try await client.call(.post, "/v1/recall", #"{"query":"x","k":0}"#)
            #expect(badK.status == 422)
            #expect(badK.errorField == "k")
            let badFilter = try await client.call(
                .post, "/v1/recall", #"{"query":"x","filter":{"since":"yesterday"}}"#)
            #expect(badFilter.errorField == "filter.since")
            let huge = try await client.call(
                .post, "/v1/memories", "{\"content\":\"" + String(repeating: "x", count: 5000) + "\"}")
            #expect(huge.status == 413)
            #expect(huge.errorCode == "tooLarge")
            let tooMany = try await client.call(
                .post, "/v1/memories",
                #"{"memories":[{"content":"a"},{"content":"b"},{"content":"c"},{"content":"d"}]}"#)
            #expect(tooMany.status == 413)
            #expect(tooMany.errorField == "memories")
            #expect(try await client.call(.get, "/v1/memories/not-an-id").status == 404)
            #expect(try await client.call(.get, "/v1/memories/\(MemoryID(UUID()))").errorCode == "notFound")
            #expect(try await client.call(.get, "/v2/nothing").status == 404)
            let noConfirm = try await client.call(.post, "/v1/memories/forget", #"{"filter":{}}"#)
            #expect(noConfirm.status == 422)
            #expect(noConfirm.errorField == "confirm")
            #expect(try await client.call(.get, "/v1/memories?limit=0").errorField == "limit")
        }
    }

    @Test("get, update (a new version, re-embedded), history, feedback, forget by id and by filter")
    func lifecycle() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            let created = try await client.call(
                .post, "/v1/memories", #"{"content":"disk full on db-1","namespace":"ops","tags":["disk"]}"#)
            let id = try #require(created["ids", 0]?.stringValue)
            let old = try h.store.embeddings(of: [try #require(MemoryID(id))]).values.first
            let updated = try await client.call(
                .patch, "/v1/memories/\(id)", #"{"outcome":"rotated logs","succeeded":true}"#)
            #expect(updated.status == 200, "\(updated.text)")
            let newID = try #require(updated["id"]?.stringValue)
            #expect(updated["supersedes"]?.stringValue == id)
            #expect(updated["outcome"] == "rotated logs")
            let new = try h.store.embeddings(of: [try #require(MemoryID(newID))]).values.first
            #expect(new != nil && new != old, "changed text is embedded again")
            let history = try await client.call(.get, "/v1/memories/\(newID)/history")
            #expect(history["versions"]?.arrayValue?.count == 2)
            #expect(
                try await client.call(.post, "/v1/memories/\(newID)/feedback", #"{"helpful":true}"#).status
                    == 204)
            #expect(try await client.call(.get, "/v1/memories/\(newID)")["helpful_count"] == 1)
            #expect(try await client.call(.delete, "/v1/memories/\(newID)").status == 204)
            #expect(try await client.call(.delete, "/v1/memories/\(newID)").status == 404)
            _ = try await client.call(
                .post, "/v1/memories",
                #"{"memories":[{"content":"a","namespace":"x/1"},{"content":"b","namespace":"x/2"},{"content":"c","namespace":"y"}]}"#
            )
            let forgot = try await client.call(
                .post, "/v1/memories/forget", #"{"filter":{"namespace_prefix":"x"},"confirm":true}"#)
            #expect(forgot["forgotten"] == 2)
            #expect(try await client.call(.get, "/v1/count")["count"] == 1)
        }
    }

    @Test("listing pages through every memory exactly once with the cursor")
    func pagination() async throws {
        let h = try ServerHarness()
        let (_, namespaceOf) = try Self.seed(h, count: 45)
        try await h.run { client in
            var seen: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/memories?namespace=acme/&limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.call(.get, uri)
                try #require(page.status == 200)
                seen += (page["memories"]?.arrayValue ?? []).compactMap { m in
                    if case .object(let o) = m { return o["id"]?.stringValue }
                    return nil
                }
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            let expected = namespaceOf.filter { $0.value.hasPrefix("acme/") }.keys.map(\.description).sorted()
            #expect(seen == expected)
            #expect(
                try await client.call(.get, "/v1/count?namespace=globex")["count"]?.numberValue
                    == Double(namespaceOf.values.filter { $0 == "globex" }.count))
        }
    }

    @Test("working memory: set, get, list, delete and promote, with namespaces that hold slashes")
    func workingMemory() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            #expect(
                try await client.call(
                    .put, "/v1/working/acme/support/user-1/cart", #"{"value":{"items":3},"ttl_seconds":60}"#
                ).status == 204)
            #expect(
                try await client.call(
                    .put, "/v1/working/acme%2Fsupport%2Fuser-1/note",
                    #"{"value":"call back at 5","ttl_seconds":60}"#
                ).status == 204)
            let cart = try await client.call(.get, "/v1/working/acme/support/user-1/cart")
            #expect(cart["value", "items"] == 3)
            #expect(cart["namespace"] == "acme/support/user-1")
            let list = try await client.call(.get, "/v1/working?namespace=acme/support/user-1")
            #expect(list["entries"]?.arrayValue?.count == 2)
            let bad = try await client.call(.put, "/v1/working/acme/k", #"{"value":1,"ttl_seconds":0}"#)
            #expect(bad.status == 422)
            #expect(bad.errorField == "ttl")
            let promoted = try await client.call(
                .post, "/v1/working/promote",
                #"{"namespace":"acme/support/user-1","key":"note","tags":["callback"]}"#)
            #expect(promoted.status == 201, "\(promoted.text)")
            let id = try #require(promoted["id"]?.stringValue)
            #expect(try await client.call(.get, "/v1/memories/\(id)")["content"] == "call back at 5")
            #expect(try await client.call(.get, "/v1/working/acme/support/user-1/note").status == 404)
            #expect(try await client.call(.delete, "/v1/working/acme/support/user-1/cart").status == 204)
            #expect(try await client.call(.delete, "/v1/working/acme/support/user-1/cart").status == 404)
        }
    }

    @Test("search answers keyword queries with BM25 scores, filtered")
    func search() async throws {
        let h = try ServerHarness()
        try await h.run { client in
            _ = try await client.call(
                .post, "/v1/memories",
                #"{"memories":[{"content":"refund issued for order 7","namespace":"a"},{"content":"refund denied","namespace":"b"},{"content":"password reset","namespace":"a"}]}"#
            )
            let reply = try await client.post(
                "/v1/search", .object(["query": "refund", "filter": .object(["namespace": "a"])]))
            let hits = try #require(reply["hits"]?.arrayValue)
            #expect(hits.count == 1)
            #expect(reply["hits", 0, "content"] == "refund issued for order 7")
            let expected = try h.store.search(
                text: "refund", k: 10, filter: MemoryFilter(namespace: .exact("a")))
            #expect(Float(reply["hits", 0, "score"]?.numberValue ?? 0) == Float(expected[0].score))
        }
    }
}
