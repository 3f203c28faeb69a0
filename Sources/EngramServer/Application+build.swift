package import Engram
package import EngramMCP
package import EngramService
import Foundation
import HTTPTypes
package import Hummingbird
package import Logging
import NIOCore

/// The HTTP API as routes over one ``MemoryService`` (see `openapi.json` for the full contract): each
/// route reads its request, calls the service within the caller's key scope, and writes the answer.
package enum EngramServer {
    /// What the routes share: the service and the server's own parts (keys, metrics, limits).
    struct Parts: Sendable {
        let service: MemoryService
        let configuration: ServerConfiguration
        let metrics: ServerMetrics
        let keys: KeyRing
        let keyLimits = KeyLimits()
    }

    /// The server application for a store: built by a function, so tests drive it without a socket.
    /// `onRunning` receives the bound port (useful with port 0).
    package static func buildApplication(
        store: MemoryStore, configuration: ServerConfiguration,
        resolver: EmbedderResolver = EmbedderResolver(),
        logger: Logger = Logger(label: "engram.server"),
        mcp: (@Sendable (MemoryService) -> any MCPEndpoint)? = nil,
        cluster: (any ClusterBackend)? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> (application: some ApplicationProtocol, handle: ServerHandle) {
        // Refuse an unsafe configuration before starting any worker thread.
        try configuration.validate(keysExist: FileManager.default.fileExists(atPath: configuration.keysPath))
        let keys = try KeyRing(path: configuration.keysPath)
        let metrics = ServerMetrics(hitThreshold: store.options.hitThreshold)
        let service = MemoryService(
            store: store,
            limits: .init(
                workers: configuration.workers, queueDepth: configuration.queueDepth,
                maxBatch: configuration.maxBatch),
            resolver: resolver, metrics: metrics, cluster: cluster)
        let parts = Parts(service: service, configuration: configuration, metrics: metrics, keys: keys)
        let router = buildRouter(parts, mcp: mcp?(service))
        let application = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "engram"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        return (application, ServerHandle(parts: parts))
    }

    /// Builds the server and runs it until SIGTERM or SIGINT, then drains requests in flight and stops
    /// the workers. The caller closes the store afterwards.
    package static func serve(
        store: MemoryStore, configuration: ServerConfiguration, resolver: EmbedderResolver, logger: Logger,
        mcp: (@Sendable (MemoryService) -> any MCPEndpoint)? = nil,
        cluster: (any ClusterBackend)? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let (application, handle) = try buildApplication(
            store: store, configuration: configuration, resolver: resolver, logger: logger, mcp: mcp,
            cluster: cluster, onRunning: onRunning)
        do {
            try await application.runService()
        } catch {
            try? await handle.shutdown()
            throw error
        }
        try await handle.shutdown()
    }

    /// A write answer with the cluster's token added (a single store's answers have none).
    static func tokened(_ answer: JSONValue, _ token: String?) -> JSONValue {
        guard let token, case .object(var o) = answer else { return answer }
        o["token"] = .string(token)
        return .object(o)
    }

    static func buildRouter(_ parts: Parts, mcp: (any MCPEndpoint)? = nil) -> Router<EngramContext> {
        let router = Router(context: EngramContext.self)
        let service = parts.service
        let metrics = parts.metrics
        router.add(middleware: RequestLogMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware())
        let limit = parts.configuration.maxBodyBytes

        router.get("/healthz") { _, _ in JSONResponse.make(.object(["status": "ok"])) }
        router.get("/readyz") { _, _ in
            let report = try await service.health(maxAge: .seconds(10))
            return JSONResponse.make(
                ResultJSON.readiness(report), status: report.healthy ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            let gauges = try await service.gauges()
            metrics.storeGauges(gauges.stats, workingItems: gauges.workingItems, scanned: gauges.scanned)
            metrics.queueDepth(gauges.queued)
            if let figures = service.cluster?.figures { metrics.clusterGauges(figures) }
            return JSONResponse.make(text: metrics.exposition(), contentType: "text/plain; version=0.0.4")
        }
        router.get("/openapi.json") { _, _ in JSONResponse.make(text: try OpenAPIDocument.text()) }

        let v1 = router.group("v1").add(middleware: KeyAuthenticator(parts: parts))
        v1.post("memories") { request, context in
            var request = request
            let remember = try RememberRequest(json: try await request.jsonObject(limit: limit), now: Date())
            let (results, token) = try await WriteToken.capture {
                try await service.remember(remember, scope: context.scope)
            }
            return JSONResponse.make(ResultJSON.remembered(results, token: token), status: .created)
        }
        v1.get("memories") { request, context in
            let query = request.uri.queryParameters
            let limitText = query["limit"].map(String.init)
            guard let pageSize = Int(limitText ?? "100"), (1...1000).contains(pageSize) else {
                throw EngramError.invalid("limit", "must be a whole number from 1 to 1000")
            }
            let cursor = try query["cursor"].map { text in
                guard let id = MemoryID(String(text)) else {
                    throw EngramError.invalid("cursor", "is not a memory id")
                }
                return id
            }
            let filter = MemoryFilter(
                namespace: query["namespace"].map { FilterParsing.namespace(String($0)) })
            let page = try await service.list(
                ListRequest(filter: filter, limit: pageSize, cursor: cursor), scope: context.scope)
            return JSONResponse.make(ResultJSON.page(page))
        }
        v1.post("memories/forget") { request, context in
            var request = request
            let filter = try RequestJSON.forgetFilter(try await request.jsonObject(limit: limit), now: Date())
            let n = try await service.forget(matching: filter, scope: context.scope)
            return JSONResponse.make(.object(["forgotten": .number(Double(n))]))
        }
        for (path, quarantined) in [("quarantine", true), ("release", false)] {
            v1.post("memories/{id}/\(path)") { _, context in
                let (n, token) = try await WriteToken.capture {
                    try await service.setQuarantined([try id(context)], quarantined, scope: context.scope)
                }
                return JSONResponse.make(tokened(.object(["changed": .number(Double(n))]), token))
            }
        }
        v1.post("memories/purge") { request, context in
            var request = request
            let (target, reason) = try RequestJSON.purgeTarget(
                try await request.jsonObject(limit: limit), now: Date())
            return JSONResponse.make(
                ResultJSON.object(try await service.purge(target, reason: reason, scope: context.scope)))
        }
        v1.get("audit") { request, context in
            let query = request.uri.queryParameters
            let since = try query["since"].map {
                try TimeParsing.date(String($0), field: "since", now: Date())
            }
            let after =
                try query["after"].map { text -> Int in
                    guard let n = Int(String(text)), n >= 0 else {
                        throw EngramError.invalid("after", "must be an entry number")
                    }
                    return n
                } ?? 0
            let entries = try await service.auditEntries(
                since: since, after: after, limit: 1000, scope: context.scope)
            return JSONResponse.make(.object(["entries": .array(entries.map(ResultJSON.object))]))
        }
        v1.get("audit/verify") { _, context in
            JSONResponse.make(ResultJSON.object(try await service.verifyAudit(scope: context.scope)))
        }
        v1.get("memories/{id}") { _, context in
            JSONResponse.make(
                MemoryJSON.object(try await service.memory(try id(context), scope: context.scope)))
        }
        v1.patch("memories/{id}") { request, context in
            var request = request
            let update = try UpdateRequest(
                id: try id(context), json: try await request.jsonObject(limit: limit))
            let (updated, token) = try await WriteToken.capture {
                try await service.update(update, scope: context.scope)
            }
            return JSONResponse.make(tokened(MemoryJSON.object(updated.memory), token))
        }
        v1.delete("memories/{id}") { _, context in
            let (_, token) = try await WriteToken.capture {
                try await service.forget(try id(context), scope: context.scope)
            }
            guard let token else { return JSONResponse.noContent() }
            return JSONResponse.make(.object(["token": .string(token)]))
        }
        v1.get("memories/{id}/history") { _, context in
            JSONResponse.make(
                ResultJSON.versions(try await service.history(try id(context), scope: context.scope)))
        }
        v1.post("memories/{id}/feedback") { request, context in
            var request = request
            let memoryID = try id(context)
            let helpful = try RequestJSON.helpful(try await request.jsonObject(limit: limit))
            try await service.feedback(memoryID, helpful: helpful, scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.post("recall") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: limit)
            var recall = try RecallRequest(
                json: try JSONObject(parsing: Data(body.readableBytesView)), now: Date())
            if service.cluster != nil {
                recall.forwarded = ForwardedRecall(
                    body: Array(body.readableBytesView),
                    authorization: KeyAuthenticator.presentedKey(request).map { "Bearer \($0)" },
                    isShare: HTTPField.Name(ClusterHeaders.shareName).flatMap { request.headers[$0] } == "1")
                // A gathering node's probe for this shard's candidates, or its fusion bounds: this share
                // ranks on the scale of every shard.
                if recall.forwarded?.isShare == true, case .text(let text, var options) = recall.query {
                    func header(_ name: String) -> String? {
                        HTTPField.Name(name).flatMap { request.headers[$0] }
                    }
                    if let header = header(ClusterHeaders.boundsName) {
                        guard let bounds = ClusterHeaders.bounds(header) else {
                            throw EngramError.invalid(ClusterHeaders.boundsName, "is not four bounds")
                        }
                        options.bounds = bounds
                    }
                    if let header = header(ClusterHeaders.embeddingName) {
                        guard let embedding = ClusterHeaders.embedding(header) else {
                            throw EngramError.invalid(ClusterHeaders.embeddingName, "is not an embedding")
                        }
                        recall.queryEmbedding = embedding
                    }
                    if let header = header(ClusterHeaders.probeName) {
                        guard let perSide = Int(header), (1...Limits.maxK).contains(perSide) else {
                            throw EngramError.invalid(
                                ClusterHeaders.probeName, "is not a number of candidates")
                        }
                        options.perSide = perSide
                    }
                    recall.query = .text(text, options)
                }
            }
            let (hits, plan) = try await service.recallExplained(recall, scope: context.scope)
            guard case .object(var answer) = ResultJSON.hits(hits) else {
                return JSONResponse.make(ResultJSON.hits(hits))
            }
            if recall.rendersPrompt { answer["prompt"] = .string(RecalledContext.render(hits)) }
            if let plan { answer["plan"] = ResultJSON.plan(plan) }
            return JSONResponse.make(.object(answer))
        }
        v1.post("search") { request, context in
            var request = request
            let search = try SearchRequest(json: try await request.jsonObject(limit: limit), now: Date())
            return JSONResponse.make(ResultJSON.hits(try await service.search(search, scope: context.scope)))
        }
        v1.get("count") { request, context in
            let namespace = request.uri.queryParameters["namespace"].map {
                FilterParsing.namespace(String($0))
            }
            let n = try await service.count(
                matching: MemoryFilter(namespace: namespace), scope: context.scope)
            return JSONResponse.make(.object(["count": .number(Double(n))]))
        }
        v1.get("stats") { _, context in
            JSONResponse.make(try ResultJSON.stats(try await service.stats(scope: context.scope)))
        }

        v1.get("index") { _, context in
            guard let status = try await service.indexStatus(scope: context.scope) else {
                throw EngramError(.notFound, "the store has no approximate index", field: "index")
            }
            return JSONResponse.make(ResultJSON.index(status))
        }
        v1.post("index") { request, context in
            var request = request
            let buffer = try await request.collectBody(upTo: limit)
            let body = try JSONObject(
                parsing: buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView))
            let (lists, bits) = try RequestJSON.indexBuild(body)
            let (status, seconds) = try await service.buildIndex(
                lists: lists, bits: bits, scope: context.scope)
            return JSONResponse.make(ResultJSON.index(status, buildSeconds: seconds))
        }
        v1.delete("index") { _, context in
            try await service.dropIndex(scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.get("working") { request, context in
            guard let namespace = request.uri.queryParameters["namespace"].map(String.init) else {
                throw EngramError.invalid("namespace", "is required: /v1/working?namespace=NS")
            }
            return JSONResponse.make(
                ResultJSON.entries(try await service.workingList(namespace: namespace, scope: context.scope)))
        }
        v1.post("working/promote") { request, context in
            var request = request
            let promote = try PromoteRequest(json: try await request.jsonObject(limit: limit))
            let id = try await service.workingPromote(promote, scope: context.scope)
            return JSONResponse.make(.object(["id": .string(id.description)]), status: .created)
        }
        // Namespaces hold '/', so an entry's path is /v1/working/NAMESPACE.../KEY: the last segment is the key.
        v1.put("working/**") { request, context in
            var request = request
            let (namespace, key) = try entry(context)
            let set = try WorkingSetRequest(
                namespace: namespace, key: key, json: try await request.jsonObject(limit: limit))
            try await service.workingSet(set, scope: context.scope)
            return JSONResponse.noContent()
        }
        v1.get("working/**") { _, context in
            let (namespace, key) = try entry(context)
            return JSONResponse.make(
                ResultJSON.entry(
                    try await service.workingGet(namespace: namespace, key: key, scope: context.scope)))
        }
        v1.delete("working/**") { _, context in
            let (namespace, key) = try entry(context)
            try await service.workingDelete(namespace: namespace, key: key, scope: context.scope)
            return JSONResponse.noContent()
        }
        if let mcp { addMCPRoutes(router, mcp, parts: parts) }
        return router
    }

    /// `/mcp`: the MCP tools over Streamable HTTP, each request within the scope of its API key.
    private static func addMCPRoutes(_ router: Router<EngramContext>, _ mcp: any MCPEndpoint, parts: Parts) {
        let limit = parts.configuration.maxBodyBytes
        let group = router.group("mcp").add(
            middleware: KeyAuthenticator(parts: parts))
        let handler: @Sendable (Request, EngramContext) async throws -> Response = { request, context in
            var request = request
            let body =
                request.method == .post
                ? Data(try await request.collectBody(upTo: limit).readableBytesView) : nil
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = await mcp.handle(
                MCPHTTPRequest(method: request.method.rawValue, headers: headers, body: body),
                scope: context.scope,
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
                return Response(
                    status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            case .stream(let stream):
                return Response(
                    status: status, headers: fields,
                    body: ResponseBody(asyncSequence: stream.map { ByteBuffer(bytes: $0) }))
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
package struct ServerHandle: Sendable {
    let parts: EngramServer.Parts
    var service: MemoryService { parts.service }

    /// Writes the key use counted since the last audit entry, then stops the worker threads once the
    /// server has drained its requests.
    package func shutdown() async throws {
        let due = parts.keyLimits.takeUses()
        try? await service.recordKeyUse(due.uses, over: due.seconds)
        try await service.shutdown()
    }
}
