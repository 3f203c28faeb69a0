public import Engram
public import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An embedder served over HTTP by any OpenAI-compatible `/v1/embeddings` endpoint: OpenAI, Ollama,
/// vLLM, llama.cpp's server.
///
/// Texts go in batches of ``batchSize``; each request has a timeout; 429 and 5xx answers and transport
/// failures are retried with exponential backoff (honouring `Retry-After`), other errors fail at once
/// with the server's message. The API key comes from an environment variable and is sent as a bearer
/// token. Kept out of the `Engram` library so that the core links no network client.
public final class OpenAICompatibleEmbedder: Embedder, Sendable {
    /// `openai-compatible:<model>`.
    public var identifier: String { Self.identifierPrefix + model }
    /// Identifiers of stores embedded by such a server start with this.
    public static let identifierPrefix = "openai-compatible:"
    /// Length of every vector.
    public let dimension: Int
    /// The server, e.g. `https://api.openai.com` or `http://127.0.0.1:11434`.
    public let baseURL: URL
    /// The model name sent with each request.
    public let model: String
    /// Texts per request.
    public let batchSize: Int
    /// Seconds before one request is abandoned.
    public let timeout: TimeInterval
    /// Attempts per batch, the first included.
    public let maxAttempts: Int
    /// First backoff in seconds; doubled after each retry.
    public let initialBackoff: TimeInterval
    private let apiKey: String?
    private let session: URLSession

    /// An embedder for `model` at `baseURL`.
    /// - Parameter dimension: the model's dimension; nil asks the server once with a probe text.
    public init(
        baseURL: URL, model: String, apiKey: String?, dimension: Int? = nil, batchSize: Int = 64,
        timeout: TimeInterval = 30, maxAttempts: Int = 4, initialBackoff: TimeInterval = 0.5
    ) throws {
        guard !model.isEmpty else { throw EngramError.invalid("model", "must not be empty") }
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.batchSize = max(1, batchSize)
        self.timeout = timeout
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: configuration)
        if let dimension {
            self.dimension = dimension
        } else {
            let probe = try OpenAICompatibleEmbedder(
                baseURL: baseURL, model: model, apiKey: apiKey, dimension: 0, batchSize: 1, timeout: timeout,
                maxAttempts: maxAttempts, initialBackoff: initialBackoff)
            self.dimension = try probe.request(["dimension probe"], expectedDimension: nil)[0].count
        }
        guard (1...Limits.maxDimension).contains(self.dimension) || dimension == 0 else {
            throw EngramError.invalid(
                "dimension", "the server's vectors have an unusable dimension \(self.dimension)")
        }
    }

    /// Embeds texts, one request per batch.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        var result: [[Float]] = []
        result.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            result += try request(
                Array(texts[start..<min(start + batchSize, texts.count)]), expectedDimension: dimension)
        }
        return result
    }

    private func request(_ texts: [String], expectedDimension: Int?) throws -> [[Float]] {
        var urlRequest = URLRequest(url: baseURL.appendingPathComponent("v1/embeddings"))
        urlRequest.httpMethod = "POST"
        urlRequest.timeoutInterval = timeout
        urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { urlRequest.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        urlRequest.httpBody = Data(
            JSONValue.object(["model": .string(model), "input": .array(texts.map(JSONValue.string))]).jsonText
                .utf8)

        var backoff = initialBackoff
        var lastError = EngramError(.io, "no attempt was made", field: "embedder")
        for attempt in 1...maxAttempts {
            let (data, response, error) = send(urlRequest)
            if let error {
                lastError = EngramError(
                    .io, "request to \(baseURL.absoluteString) failed: \(error.localizedDescription)",
                    field: "embedder")
            } else if let http = response as? HTTPURLResponse {
                if http.statusCode == 200 {
                    return try decode(
                        data ?? Data(), count: texts.count, expectedDimension: expectedDimension)
                }
                let message = Self.serverMessage(data)
                lastError = EngramError(
                    .io, "embedding server answered \(http.statusCode): \(message)", field: "embedder")
                guard http.statusCode == 429 || http.statusCode >= 500 else { throw lastError }
                if let retryAfter = (http.value(forHTTPHeaderField: "Retry-After")).flatMap(Double.init) {
                    backoff = max(0, min(retryAfter, 60))
                }
            }
            if attempt < maxAttempts {
                Thread.sleep(forTimeInterval: backoff)
                backoff *= 2
            }
        }
        throw lastError
    }

    /// One request, waited for synchronously (the `Embedder` protocol is synchronous).
    private func send(_ request: URLRequest) -> (Data?, URLResponse?, (any Error)?) {
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: request) { data, response, error in
            box.set(data, response, error)
            done.signal()
        }.resume()
        done.wait()
        return box.get()
    }

    private func decode(_ data: Data, count: Int, expectedDimension: Int?) throws -> [[Float]] {
        guard
            case .object(let root) = try JSONValue(
                parsing: String(decoding: data, as: UTF8.self), field: "response"),
            case .array(let items)? = root["data"]
        else { throw EngramError(.io, "the embedding server's answer has no data array", field: "embedder") }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in items.enumerated() {
            guard case .object(let o) = item, case .array(let values)? = o["embedding"] else {
                throw EngramError(
                    .io, "the embedding server's answer has an item without an embedding", field: "embedder")
            }
            let index = o["index"]?.numberValue.map(Int.init) ?? position
            guard (0..<count).contains(index) else {
                throw EngramError(
                    .io, "the embedding server answered an index out of range", field: "embedder")
            }
            let vector = values.compactMap { $0.numberValue.map(Float.init) }
            guard vector.count == values.count, vector.allSatisfy(\.isFinite) else {
                throw EngramError(
                    .io, "the embedding server answered a non-numeric embedding", field: "embedder")
            }
            if let expectedDimension, vector.count != expectedDimension {
                throw EngramError(
                    .dimensionMismatch,
                    "the embedding server answered \(vector.count) values, expected \(expectedDimension)",
                    field: "embedder")
            }
            vectors[index] = vector
        }
        guard vectors.allSatisfy({ $0 != nil }) else {
            throw EngramError(
                .io, "the embedding server answered \(items.count) embeddings for \(count) texts",
                field: "embedder")
        }
        return vectors.compactMap { $0 }
    }

    private static func serverMessage(_ data: Data?) -> String {
        guard let data, let value = try? JSONValue(parsing: String(decoding: data, as: UTF8.self)) else {
            return "no details"
        }
        if case .object(let o) = value, case .object(let error)? = o["error"],
            let message = error["message"]?.stringValue
        {
            return String(message.prefix(200))
        }
        return String(value.jsonText.prefix(200))
    }
}

/// Carries a data task's result from URLSession's queue to the waiting caller.
// Sendable: written once before the semaphore signals, read after.
private final class ResponseBox: @unchecked Sendable {
    private var data: Data?
    private var response: URLResponse?
    private var error: (any Error)?

    func set(_ data: Data?, _ response: URLResponse?, _ error: (any Error)?) {
        self.data = data
        self.response = response
        self.error = error
    }

    func get() -> (Data?, URLResponse?, (any Error)?) { (data, response, error) }
}
