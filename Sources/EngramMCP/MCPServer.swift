package import Engram
package import EngramService
import Foundation
import Logging
import MCP

/// Engram as an MCP server: the tools of ``MemoryTools`` behind the swift-sdk's `Server`.
package enum EngramMCPServer {
    static let name = "engram"
    static let version = EngramVersion.current
    static let instructions = """
        Long-term memory shared across conversations. Before acting, recall what happened before \
        (and what worked); after acting, remember what happened, why, and how it ended.
        """

    /// The tools as MCP lists them.
    static let tools: [Tool] = MemoryTools.definitions.map { d in
        Tool(
            name: d.name, description: d.description, inputSchema: value(d.schema),
            annotations: .init(
                readOnlyHint: d.readOnly, destructiveHint: d.destructive, idempotentHint: d.idempotent,
                openWorldHint: false),
            outputSchema: value(d.output))
    }

    /// A server answering `tools/list` and `tools/call` within `scope`.
    static func makeServer(tools memoryTools: MemoryTools, scope: Scope) async -> Server {
        let server = Server(
            name: name, version: version, instructions: instructions,
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { params in
            let arguments = (params.arguments ?? [:]).mapValues(json)
            let outcome = await memoryTools.call(params.name, arguments: arguments, scope: scope)
            let structured: Value? = value(outcome.structured)
            let content: [Tool.Content] = [.text(text: outcome.text, annotations: nil, _meta: nil)]
            return CallTool.Result(
                content: content, structuredContent: structured, isError: outcome.isError, _meta: nil)
        }
        return server
    }

    /// `engram mcp`: serves the tools over standard input and output until the client closes them.
    /// The embedding model loads once, on first use.
    package static func serveStdio(store: MemoryStore, scope: Scope, resolver: EmbedderResolver) async throws
    {
        let service = MemoryService(store: store, resolver: resolver)
        let server = await makeServer(tools: MemoryTools(service: service), scope: scope)
        var logger = Logger(label: "engram.mcp") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        try await server.start(transport: CheckedStdioTransport(logger: logger))
        await server.waitUntilCompleted()
        await server.stop()
        try await service.shutdown()
    }

    // MARK: Values

    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let n):
            if n == n.rounded(), abs(n) < 9.007_199_254_740_992e15 { return .int(Int(n)) }
            return .double(n)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(value))
        case .object(let o): return .object(o.mapValues(value))
        }
    }

    static func json(_ value: Value) -> JSONValue {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .number(Double(i))
        case .double(let d): return .number(d)
        case .string(let s): return .string(s)
        case .data(_, let data): return .string(data.base64EncodedString())
        case .array(let a): return .array(a.map(json))
        case .object(let o): return .object(o.mapValues(json))
        }
    }
}
