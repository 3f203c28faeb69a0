import Engram
import EngramBenchSupport
import EngramService
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

@Suite("Server: recall through the approximate index, exact and explain")
struct ServerIndexTests {
    @Test("explain adds the plan; exact forces the scan; a text recall explains its vector side")
    func explainAndExact() async throws {
        var options = StoreOptions()
        options.approximate = ApproximateSearch(exactBelow: 0, exactFraction: 0)
        let h = try ServerHarness(options: options)
        var rng = SeededGenerator(seed: 31)
        let vectors = rng.clusteredVectors(count: 400, dimension: ServerHarness.dimension)
        try h.store.remember(
            vectors.enumerated().map { i, v in
                NewMemory(content: "memory number \(i)", namespace: "team", embedding: v)
            })
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
}
