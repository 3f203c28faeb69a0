import Engram
import EngramMCP
import EngramService
import EngramTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

@testable import EngramServer

/// A store with a built-in embedder (hashing-256, so text works without a model) and a server built
/// over it, driven in-process without a socket as Hummingbird's own tests do.
final class ServerHarness: @unchecked Sendable {  // Sendable: configured before use, then only read.
    static let dimension = 256
    let dir = TemporaryDirectory("engram-server")
    let store: MemoryStore
    var configuration: ServerConfiguration
    /// Serve the MCP endpoint at /mcp too.
    var mcp = false
    private(set) var service: MemoryService?

    init(options: StoreOptions = StoreOptions()) throws {
        store = try MemoryStore.create(
            at: dir.appending("store"), dimension: Self.dimension, embedder: "hashing-256", options: options)
        configuration = ServerConfiguration(keysPath: dir.appending("store/keys.json"))
    }

    deinit { try? store.close() }

    /// Creates a key in the harness's key file and returns its text.
    func createKey(
        _ name: String, namespaces: [String]?, actions: Scope.Actions, maxTrust: TrustLevel = .agent,
        rate: Double? = nil, dailyWrites: Int? = nil
    ) throws -> (key: String, id: String) {
        var file = try KeyFile(path: configuration.keysPath)
        let scope =
            try namespaces.map { try Scope(namespaces: $0, actions: actions) }
            ?? .everyNamespace(actions: actions)
        let (key, record) = try file.create(
            name: name, scope: scope.writing(atMost: maxTrust), rate: rate, dailyWrites: dailyWrites)
        return (key, record.id)
    }

    /// Runs `body` against a freshly built server.
    func run(_ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        var endpoint: (@Sendable (MemoryService) -> any MCPEndpoint)?
        if mcp { endpoint = { service in MCPHTTPSessions(service: service, checksOrigin: true) } }
        let (application, handle) = try EngramServer.buildApplication(
            store: store, configuration: configuration, resolver: EmbedderResolver(environment: [:]),
            mcp: endpoint)
        service = handle.service
        try await application.test(.router) { client in try await body(Client(tester: client)) }
        try await handle.shutdown()
    }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPFields
        var text: String
        var json: JSONValue? { try? JSONValue(parsing: text) }

        /// The value at a path of object keys and array indices (`"hits", 0, "id"`).
        subscript(_ path: any Sendable...) -> JSONValue? {
            var value = json
            for step in path {
                switch (value, step) {
                case (.object(let o)?, let key as String): value = o[key]
                case (.array(let a)?, let i as Int): value = a.indices.contains(i) ? a[i] : nil
                default: return nil
                }
            }
            return value
        }

        var errorCode: String? { self["error", "code"]?.stringValue }
        var errorField: String? { self["error", "field"]?.stringValue }
    }

    struct Client: Sendable {
        let tester: any TestClientProtocol

        func call(
            _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, key: String? = nil,
            header: String = "bearer"
        ) async throws -> Reply {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let key {
                if header == "bearer" {
                    headers[.authorization] = "Bearer \(key)"
                } else if let name = HTTPField.Name("X-API-Key") {
                    headers[name] = key
                }
            }
            return try await tester.execute(
                uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
            ) { response in
                Reply(
                    status: Int(response.status.code), headers: response.headers,
                    text: String(buffer: response.body))
            }
        }

        func post(_ uri: String, _ body: JSONValue, key: String? = nil) async throws -> Reply {
            try await call(.post, uri, body.jsonText, key: key)
        }
    }
}

extension JSONValue {
    /// A JSON array of numbers from a vector.
    static func vector(_ v: [Float]) -> JSONValue { .array(v.map { .number(Double($0)) }) }
    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
