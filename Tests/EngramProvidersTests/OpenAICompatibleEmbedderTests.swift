import Engram
import EngramProviders
import EngramTestSupport
import Foundation
import Synchronization
import Testing

@Suite("OpenAI-compatible HTTP embedder against a local server", .serialized)
struct OpenAICompatibleEmbedderTests {
    @Test("batches requests, sends the key, keeps order, and equals the server's model")
    func batching() throws {
        let fake = try FakeEmbeddingServer(requireKey: "sk-test")
        let embedder = try OpenAICompatibleEmbedder(
            baseURL: fake.server.url, model: "nomic-embed", apiKey: "sk-test", dimension: 16, batchSize: 3)
        let texts = (0..<7).map { "text number \($0)" }
        let vectors = try embedder.embed(texts)
        #expect(vectors == (try fake.model.embed(texts)))
        let requests = fake.state.requests.withLock { $0 }
        #expect(requests.count == 3)
        #expect(requests.allSatisfy { $0.headers["content-type"] == "application/json" })
        #expect(embedder.identifier == "openai-compatible:nomic-embed")
    }

    @Test("learns the dimension from the server when not told")
    func probeDimension() throws {
        let fake = try FakeEmbeddingServer()
        let embedder = try OpenAICompatibleEmbedder(baseURL: fake.server.url, model: "m", apiKey: nil)
        #expect(embedder.dimension == 16)
    }

    @Test("retries 429 and 5xx with backoff, then succeeds")
    func retries() throws {
        let fake = try FakeEmbeddingServer(script: [
            .init(status: 429, headers: ["Retry-After": "0"]), .init(status: 503), .init(status: 500),
        ])
        let embedder = try OpenAICompatibleEmbedder(
            baseURL: fake.server.url, model: "m", apiKey: nil, dimension: 16, maxAttempts: 4,
            initialBackoff: 0.01)
        #expect(try embedder.embed(["hello"]) == (try fake.model.embed(["hello"])))
        #expect(fake.state.requests.withLock { $0.count } == 4)
    }

    @Test("a 401 fails at once with the server's message; exhausted retries and timeouts fail clearly")
    func failures() throws {
        let fake = try FakeEmbeddingServer(requireKey: "right")
        let wrongKey = try OpenAICompatibleEmbedder(
            baseURL: fake.server.url, model: "m", apiKey: "wrong", dimension: 16, initialBackoff: 0.01)
        do {
            _ = try wrongKey.embed(["x"])
            Issue.record("accepted a wrong key")
        } catch let error as EngramError {
            #expect(error.message.contains("401") && error.message.contains("invalid api key"))
        }
        #expect(fake.state.requests.withLock { $0.count } == 1)

        let failing = try FakeEmbeddingServer(script: Array(repeating: .init(status: 502), count: 3))
        let e = try OpenAICompatibleEmbedder(
            baseURL: failing.server.url, model: "m", apiKey: nil, dimension: 16, maxAttempts: 3,
            initialBackoff: 0.01)
        #expect(throws: EngramError.self) { try e.embed(["x"]) }
        #expect(failing.state.requests.withLock { $0.count } == 3)

        let slow = try FakeEmbeddingServer(script: [.init(status: 200, delay: 2)])
        let impatient = try OpenAICompatibleEmbedder(
            baseURL: slow.server.url, model: "m", apiKey: nil, dimension: 16, timeout: 0.3, maxAttempts: 1)
        let started = Date()
        do {
            _ = try impatient.embed(["x"])
            Issue.record("a 2 s answer beat a 0.3 s timeout")
        } catch let error as EngramError {
            #expect(error.message.contains("failed"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 1.9)

        let wrongDimension = try OpenAICompatibleEmbedder(
            baseURL: fake.server.url, model: "m", apiKey: "right", dimension: 8)
        #expect(throws: EngramError.self) { try wrongDimension.embed(["x"]) }
        let garbage = try FakeEmbeddingServer(script: [.init(status: 200, body: Data("not json".utf8))])
        let g = try OpenAICompatibleEmbedder(
            baseURL: garbage.server.url, model: "m", apiKey: nil, dimension: 16, maxAttempts: 1)
        #expect(throws: EngramError.self) { try g.embed(["x"]) }
        // Keep every server (and its serving thread) alive to the end, so no socket number is reused early.
        withExtendedLifetime((fake, failing, slow, garbage)) {}
    }
}
