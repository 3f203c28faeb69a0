public import Engram
import Foundation

/// A scripted OpenAI-compatible server: answers from `script` in order, then embeds with a hashing
/// embedder; records every request.
public final class FakeEmbeddingServer: Sendable {
    /// What the fake server has seen and how it should answer.
    public final class State: Sendable {
        package let requests = Locked<[LoopbackHTTPServer.Request]>([])
        let script: Locked<[LoopbackHTTPServer.Response]>
        /// The model name it answers for.
        public let model: HashingEmbedder
        let requireKey: String?

        init(script: [LoopbackHTTPServer.Response], requireKey: String?) throws {
            self.script = Locked(script)
            self.requireKey = requireKey
            model = try HashingEmbedder(dimension: 16)
        }

        func answer(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response {
            requests.withLock { $0.append(request) }
            if let scripted = script.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return scripted }
            if let requireKey, request.headers["authorization"] != "Bearer \(requireKey)" {
                return .init(status: 401, body: Data(#"{"error": {"message": "invalid api key"}}"#.utf8))
            }
            guard request.method == "POST", request.path == "/v1/embeddings",
                case .object(let body)? = try? JSONValue(
                    parsing: String(decoding: request.body, as: UTF8.self)),
                case .array(let inputs)? = body["input"]
            else { return .init(status: 400, body: Data(#"{"error": {"message": "bad request"}}"#.utf8)) }
            let texts = inputs.compactMap(\.stringValue)
            let vectors = (try? model.embed(texts)) ?? []
            // Answer in reverse order with explicit indexes, as servers may.
            let data = vectors.enumerated().reversed().map { i, v in
                JSONValue.object([
                    "index": .number(Double(i)), "embedding": .array(v.map { .number(Double($0)) }),
                ])
            }
            return .init(status: 200, body: Data(JSONValue.object(["data": .array(data)]).jsonText.utf8))
        }
    }

    /// What it has seen and how it should answer.
    public let state: State
    /// The loopback server underneath.
    public let server: LoopbackHTTPServer
    /// The model name it answers for.
    public var model: HashingEmbedder { state.model }

    /// Creates it.
    public init(script: [LoopbackHTTPServer.Response] = [], requireKey: String? = nil) throws {
        let state = try State(script: script, requireKey: requireKey)
        self.state = state
        server = try LoopbackHTTPServer { state.answer($0) }
    }
}
