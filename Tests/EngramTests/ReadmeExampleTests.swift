import Engram
import EngramTestSupport
import Foundation
import Testing

/// The README's library example, kept compiling and passing here. Keep the two in step.
@Suite("README example")
struct ReadmeExampleTests {
    @Test("the library example runs as written")
    func example() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("agent.engram")

        // --- README example start ---
        let embedder = try HashingEmbedder()  // lexical and offline; any `Embedder` works
        let store = try MemoryStore.create(
            at: path, dimension: embedder.dimension, embedder: embedder.identifier)

        var memory = NewMemory(
            content: "Customer says checkout is slow",
            cause: "Database connection pool exhausted in the payment service",
            outcome: "Raised the pool from 20 to 80 connections; resolved in 2.3 h",
            succeeded: true, namespace: "acme/support/user-42", agent: "triage",
            tags: ["checkout", "latency"], embedding: [])
        memory.embedding = try embedder.embed(EmbeddingText.of(memory))
        let id = try store.remember(memory)

        let query = try embedder.embed("checkout is slow again")
        let hits = try store.recall(
            query, k: 5, filter: MemoryFilter(namespace: .prefix("acme/support"), succeeded: true))
        for hit in hits {
            print(hit.score, hit.memory.content, "->", hit.memory.outcome ?? "")
        }

        try store.working.set("current-ticket", "T-1042", namespace: "acme/support", ttl: 30 * 60)
        try store.close()
        // --- README example end ---

        #expect(hits.first?.memory.id == id)
        #expect(
            try MemoryStore.open(at: path).working.get("current-ticket", namespace: "acme/support")?.value
                == "T-1042")
    }

    @Test("the least-privilege example runs as written")
    func scopedExample() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        let v: [Float] = [1, 0, 0]
        let query: [Float] = [0.9, 0.1, 0]

        // --- README least-privilege start ---
        let agent = store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .readWrite))
        try agent.remember(NewMemory(content: "...", namespace: "acme/support/user-42", embedding: v))
        let hits = try agent.recall(query)  // only acme/support and below, still exact top-k
        // permissionDenied: no .forget
        #expect(throws: EngramError.self) { try agent.forget(hits[0].memory.id) }
        // --- README least-privilege end ---

        #expect(hits.count == 1)
    }
}
