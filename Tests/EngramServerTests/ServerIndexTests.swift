import Engram
import EngramBenchSupport
import EngramService
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

@Suite("Server: recall through the approximate index, exact and explain")
struct ServerIndexTests {
    /// A server whose store plans every recall onto the index when it has one, holding `count` clustered
    /// memories ("memory number I") in `namespace`.
    static func harness(_ count: Int, seed: UInt64, namespace: String) throws -> (ServerHarness, [[Float]]) {
        var options = StoreOptions()
        options.approximate = ApproximateSearch(exactBelow: 0, exactFraction: 0)
        let h = try ServerHarness(options: options)
        var rng = SeededGenerator(seed: seed)
        let vectors = rng.clusteredVectors(count: count, dimension: ServerHarness.dimension)
        try h.store.remember(
            vectors.enumerated().map { i, v in
                NewMemory(content: "memory number \(i)", namespace: namespace, embedding: v)
            })
        return (h, vectors)
    }

    @Test("explain adds the plan; exact forces the scan; a text recall explains its vector side")
    func explainAndExact() async throws {
        let (h, vectors) = try Self.harness(400, seed: 31, namespace: "team")
        try h.store.buildIndex(lists: 8)
        let (key, _) = try h.createKey("reader", namespaces: nil, actions: .read)
        let vector = "[" + vectors[7].map { String($0) }.joined(separator: ",") + "]"
        try await h.run { client in
            let plain = try await client.call(
                .post, "/v1/recall", #"{"vector": \#(vector), "k": 3}"#, key: key)
            #expect(plain.status == 200 && plain["plan"] == nil)
            #expect(plain["hits", 0, "content"]?.stringValue == "memory number 7")
            let explained = try await client.call(
                .post, "/v1/recall", #"{"vector": \#(vector), "k": 3, "explain": true}"#, key: key)
            #expect(explained["plan", "path"]?.stringValue == "index")
            #expect(explained["hits", 0, "content"]?.stringValue == "memory number 7")
            let exact = try await client.call(
                .post, "/v1/recall", #"{"vector": \#(vector), "k": 3, "explain": true, "exact": true}"#,
                key: key)
            #expect(exact["plan", "path"]?.stringValue == "exact")
            #expect(exact["plan", "vectors_scored"]?.numberValue == 400)
            let text = try await client.call(
                .post, "/v1/recall", #"{"query": "memory number 12", "explain": true}"#, key: key)
            #expect(text.status == 200 && text["plan", "path"]?.stringValue == "index")
            let bad = try await client.call(
                .post, "/v1/recall", #"{"vector": \#(vector), "exact": "yes"}"#, key: key)
            #expect(bad.status == 422 && bad["error", "field"]?.stringValue == "exact")
        }
    }

    @Test("the index is built, shown and dropped over HTTP while the server holds the store, writes going on")
    func buildShowDrop() async throws {
        let (h, vectors) = try Self.harness(600, seed: 37, namespace: "team/a")
        let (admin, _) = try h.createKey("admin", namespaces: nil, actions: .all)
        let (team, _) = try h.createKey("team", namespaces: ["team"], actions: .all)
        @Sendable func vector(_ v: [Float]) -> String {
            "[" + v.map { String($0) }.joined(separator: ",") + "]"
        }
        try await h.run { client in
            let none = try await client.call(.get, "/v1/index", key: admin)
            #expect(none.status == 404 && none["error", "field"]?.stringValue == "index")
            let refused = try await client.call(.post, "/v1/index", #"{"lists": 4}"#, key: team)
            #expect(refused.status == 403, "a key limited to some namespaces may not build it")
            let badBits = try await client.call(.post, "/v1/index", #"{"bits": 5}"#, key: admin)
            #expect(badBits.status == 422 && badBits["error", "field"]?.stringValue == "bits")
            let unknown = try await client.call(.post, "/v1/index", #"{"lists": 4, "probes": 2}"#, key: admin)
            #expect(unknown.status == 422 && unknown["error", "field"]?.stringValue == "probes")
            // Writes through the server while the build runs; every one must be found by the index.
            @Sendable func write(_ i: Int) async throws -> String {
                let written = try await client.call(
                    .post, "/v1/memories",
                    #"{"content": "written during the build \#(i)", "namespace": "team/b", "embedding": \#(vector(vectors[i].map { -$0 }))}"#,
                    key: admin)
                return written["ids", 0]?.stringValue ?? ""
            }
            async let writes = {
                var ids: [String] = []
                for i in 0..<20 { ids.append(try await write(i)) }
                return ids
            }()
            let built = try await client.call(.post, "/v1/index", key: admin)
            #expect(built.status == 200, "\(built.text)")
            #expect((built["lists"]?.numberValue ?? 0) >= 1)
            #expect(built["bits"]?.numberValue == 4 && built["build_s"]?.numberValue != nil)
            let ids = try await writes
            #expect(ids.allSatisfy { !$0.isEmpty })
            let shown = try await client.call(.get, "/v1/index", key: team)
            #expect(shown.status == 200 && shown["memories"]?.numberValue == 620)
            #expect(shown["entries"]?.numberValue == 620, "every memory, those written during the build too")
            for (i, id) in ids.enumerated() {
                let hit = try await client.call(
                    .post, "/v1/recall",
                    #"{"vector": \#(vector(vectors[i].map { -$0 })), "k": 1, "explain": true, "filter": {"namespace": "team/b"}}"#,
                    key: admin)
                #expect(hit["plan", "path"]?.stringValue == "index")
                #expect(hit["hits", 0, "id"]?.stringValue == id, "write \(i) during the build")
            }
            let dropped = try await client.call(.delete, "/v1/index", key: admin)
            #expect(dropped.status == 204)
            #expect(try await client.call(.get, "/v1/index", key: admin).status == 404)
            let exact = try await client.call(
                .post, "/v1/recall", #"{"vector": \#(vector(vectors[3])), "k": 1, "explain": true}"#,
                key: admin)
            #expect(exact["plan", "path"]?.stringValue == "exact")
        }
        #expect(!FileManager.default.fileExists(atPath: h.store.path + "/vectors.index"))
    }
}
