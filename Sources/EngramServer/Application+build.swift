package import Engram
package import EngramService
import Foundation
package import Hummingbird
import HTTPTypes
import NIOCore
package import Logging

/// The HTTP API as routes over one ``EngramAPI`` (see `openapi.json` for the full contract).
package enum EngramServer {
    /// The server application for a store: built by a function, so tests drive it without a socket.
    /// `onRunning` receives the bound port (useful with port 0).
    package static func buildApplication(
        store: MemoryStore, configuration: ServerConfiguration, resolver: EmbedderResolver = EmbedderResolver(),
        logger: Logger = Logger(label: "engram.server"),
        mcp: (@Sendable (EngramAPI) -> any MCPEndpoint)? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> (application: some ApplicationProtocol, api: EngramAPIHandle) {
        // Refuse an unsafe configuration before starting any worker thread.
        try configuration.validate(keysExist: FileManager.default.fileExists(atPath: configuration.keysPath))
        let api = try EngramAPI(store: store, configuration: configuration, resolver: resolver)
        let router = buildRouter(api, mcp: mcp?(api))
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "engram"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        return (application, EngramAPIHandle(api: api))
    }

    /// Builds the server and runs it until SIGTERM or SIGINT, then drains requests in flight and stops
    /// the workers. The caller closes the store afterwards.
    package static func serve(
        store: MemoryStore, configuration: ServerConfiguration, resolver: EmbedderResolver, logger: Logger,
        mcp: (@Sendable (EngramAPI) -> any MCPEndpoint)? = nil, onRunning: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let (application, handle) = try buildApplication(
            store: store, configuration: configuration, resolver: resolver, logger: logger, mcp: mcp, onRunning: onRunning)
        do {
            try await application.runService()
        } catch {
            try? await handle.shutdown()
            throw error
        }
        try await handle.shutdown()
    }

    static func buildRouter(_ api: EngramAPI, mcp: (any MCPEndpoint)? = nil) -> Router<EngramContext> {
        let router = Router(context: EngramContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: api.metrics))
        router.add(middleware: ErrorMiddleware())
        let limit = api.configuration.maxBodyBytes

        router.get("/healthz") { _, _ in JSONResponse.make(.object(["status": "ok"])) }
        router.get("/readyz") { _, _ in try await api.ready() }
        router.get("/metrics") { _, _ in try await api.metricsText() }
        router.get("/openapi.json") { _, _ in JSONResponse.make(text: try OpenAPIDocument.text()) }

        let v1 = router.group("v1").add(middleware: KeyAuthenticator(keys: api.keys, metrics: api.metrics))
        v1.post("memories") { request, context in
            var request = request
            return JSONResponse.make(
                try await api.remember(try await request.jsonObject(limit: limit), scope: context.scope), status: .created)
        }
        v1.get("memories") { request, context in
            let query = request.uri.queryParameters
            let limitText = query["limit"].map(String.init)
            guard let pageSize = Int(limitText ?? "100"), (1...1000).contains(pageSize) else {
                throw EngramError.invalid("limit", "must be a whole number from 1 to 1000")
            }
            let cursor = try query["cursor"].map { text in
                guard let id = MemoryID(String(text)) else { throw EngramError.invalid("cursor", "is not a memory id") }
                return id
            }
            return JSONResponse.make(
                try await api.list(
                    namespace: query["namespace"].map(String.init), limit: pageSize, cursor: cursor, scope: context.scope))
        }
        v1.post("memories/forget") { request, context in
            var request = request
            return JSONResponse.make(try await api.forget(matching: try await request.jsonObject(limit: limit), scope: context.scope))
        }
        v1.get("memories/{id}") { _, context in JSONResponse.make(try await api.memory(try id(context), scope: context.scope)) }
        v1.patch("memories/{id}") { request, context in
            var request = request
            return JSONResponse.make(try await api.update(try id(context), try await request.jsonObject(limit: limit), scope: context.scope))
        }
        v1.delete("memories/{id}") { _, context in
            try await api.forget(try id(context), scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.get("memories/{id}/history") { _, context in JSONResponse.make(try await api.history(try id(context), scope: context.scope)) }
        v1.post("memories/{id}/feedback") { request, context in
            var request = request
            try await api.feedback(try id(context), try await request.jsonObject(limit: limit), scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.post("recall") { request, context in
            var request = request
            return JSONResponse.make(try await api.recall(try await request.jsonObject(limit: limit), scope: context.scope))
        }
        v1.post("search") { request, context in
            var request = request
            return JSONResponse.make(try await api.search(try await request.jsonObject(limit: limit), scope: context.scope))
        }
        v1.get("count") { request, context in
            JSONResponse.make(
                try await api.count(namespace: request.uri.queryParameters["namespace"].map(String.init), scope: context.scope))
        }
        v1.get("stats") { _, context in JSONResponse.make(try await api.stats(scope: context.scope)) }

        v1.get("working") { request, context in
            guard let namespace = request.uri.queryParameters["namespace"].map(String.init) else {
                throw EngramError.invalid("namespace", "is required: /v1/working?namespace=NS")
            }
            return JSONResponse.make(try await api.workingList(namespace: namespace, scope: context.scope))
        }
        v1.post("working/promote") { request, context in
            var request = request
            return JSONResponse.make(
                try await api.workingPromote(try await request.jsonObject(limit: limit), scope: context.scope), status: .created)
        }
        // Namespaces hold '/', so an entry's path is /v1/working/NAMESPACE.../KEY: the last segment is the key.
        v1.put("working/**") { request, context in
            var request = request
            let (namespace, key) = try entry(context)
            try await api.workingSet(
                namespace: namespace, key: key, try await request.jsonObject(limit: limit), scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.get("working/**") { _, context in
            let (namespace, key) = try entry(context)
            return JSONResponse.make(try await api.workingGet(namespace: namespace, key: key, scope: context.scope))
        }
        v1.delete("working/**") { _, context in
            let (namespace, key) = try entry(context)
            try await api.workingDelete(namespace: namespace, key: key, scope: context.scope)
            return JSONResponse.noContent()
        }
        if let mcp { addMCPRoutes(router, mcp, api: api) }
        return router
    }

    /// `/mcp`: the MCP tools over Streamable HTTP, each request within the scope of its API key.
    private static func addMCPRoutes(_ router: Router<EngramContext>, _ mcp: any MCPEndpoint, api: EngramAPI) {
        let limit = api.configuration.maxBodyBytes
        let group = router.group("mcp").add(middleware: KeyAuthenticator(keys: api.keys, metrics: api.metrics))
        let handler: @Sendable (Request, EngramContext) async throws -> Response = { request, context in
            var request = request
            let body = request.method == .post ? Data(try await request.collectBody(upTo: limit).readableBytesView) : nil
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = await mcp.handle(
                MCPHTTPRequest(method: request.method.rawValue, headers: headers, body: body), scope: context.scope,
                caller: context.keyID.value)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let name = HTTPField.Name(name) { fields[name] = value }
            }
            let status = HTTPResponse.Status(code: answer.status)
            switch answer.body {
            case .none:
                return Response(status: status, headers: fields)
            case .data(let data):
                return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            case .stream(let stream):
                return Response(
                    status: status, headers: fields, body: ResponseBody(asyncSequence: stream.map { ByteBuffer(bytes: $0) }))
            }
        }
        group.post(use: handler)
        group.get(use: handler)
        group.delete(use: handler)
    }

    private static func id(_ context: EngramContext) throws -> MemoryID {
        guard let text = context.parameters.get("id"), let id = MemoryID(text) else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        return id
    }

    private static func entry(_ context: EngramContext) throws -> (namespace: String, key: String) {
        let segments = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }
        guard segments.count >= 2, let key = segments.last else {
            throw EngramError.invalid("path", "must be /v1/working/NAMESPACE/KEY")
        }
        return (segments.dropLast().joined(separator: "/"), key)
    }
}

/// What `engram serve` needs of a built server besides the application: a clean shutdown.
package struct EngramAPIHandle: Sendable {
    let api: EngramAPI

    /// Stops the worker threads once the server has drained its requests.
    package func shutdown() async throws { try await api.shutdown() }
}
