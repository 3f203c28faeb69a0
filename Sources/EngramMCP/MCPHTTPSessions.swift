package import Engram
package import EngramService
import Foundation
import MCP

/// The MCP tools at `/mcp` on `engram serve`: one swift-sdk `Server` and stateful transport per
/// session (one shared server refuses a second client's initialize), each session bound to the
/// scope and key that opened it, so another key cannot use it even with its id.
package actor MCPHTTPSessions: MCPEndpoint {
    private struct Session {
        let transport: StatefulHTTPServerTransport
        let server: Server
        let scope: Scope
        let caller: String?
        var lastUsed: ContinuousClock.Instant
    }

    /// Sessions kept at most; the longest idle goes first when a new one needs room.
    static let maxSessions = 1024
    /// A session idle this long is closed when new sessions arrive.
    static let idleLimit: Duration = .seconds(1800)

    private let tools: MemoryTools
    private let checksOrigin: Bool
    private var sessions: [String: Session] = [:]

    /// - Parameter checksOrigin: refuse browsers' requests from non-local origins (on for loopback
    ///   binds; a server on another address is reached by other hosts and protected by its keys).
    package init(service: MemoryService, checksOrigin: Bool) {
        tools = MemoryTools(service: service)
        self.checksOrigin = checksOrigin
    }

    package func handle(_ request: MCPHTTPRequest, scope: Scope, caller: String?) async -> MCPHTTPResponse {
        if let body = request.body, !body.isEmpty, let refusal = CheckedMessages.refusal(for: body) {
            return MCPHTTPResponse(
                status: 400, headers: ["Content-Type": "application/json"], body: .data(refusal))
        }
        let mcpRequest = MCP.HTTPRequest(
            method: request.method, headers: request.headers, body: request.body, path: "/mcp")
        if let id = mcpRequest.header(HTTPHeaderName.sessionID) {
            guard var session = sessions[id], session.caller == caller, session.scope == scope else {
                return Self.plain(404, "unknown MCP session")
            }
            session.lastUsed = .now
            sessions[id] = session
            let response = await session.transport.handleRequest(mcpRequest)
            if request.method == "DELETE" {
                sessions[id] = nil
                await session.server.stop()
            }
            return Self.convert(response)
        }
        // No session yet: this must be an initialize request; give it a server of its own.
        evictIdle()
        guard sessions.count < Self.maxSessions else { return Self.plain(503, "too many MCP sessions") }
        var validators: [any HTTPRequestValidator] = [
            AcceptHeaderValidator(mode: .sseRequired), ContentTypeValidator(), ProtocolVersionValidator(),
            SessionValidator(),
        ]
        if checksOrigin { validators.insert(OriginValidator.localhost(), at: 0) }
        let transport = StatefulHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: validators))
        let server = await EngramMCPServer.makeServer(tools: tools, scope: scope)
        do {
            try await server.start(transport: transport)
        } catch {
            return Self.plain(500, "the MCP session could not start")
        }
        let response = await transport.handleRequest(mcpRequest)
        if let id = response.headers.first(where: {
            $0.key.lowercased() == HTTPHeaderName.sessionID.lowercased()
        })?.value {
            sessions[id] = Session(
                transport: transport, server: server, scope: scope, caller: caller, lastUsed: .now)
        } else {
            await server.stop()
        }
        return Self.convert(response)
    }

    private func evictIdle() {
        let now = ContinuousClock.now
        for (id, session) in sessions where now - session.lastUsed > Self.idleLimit {
            sessions[id] = nil
            Task { await session.server.stop() }
        }
        if sessions.count >= Self.maxSessions,
            let oldest = sessions.min(by: { $0.value.lastUsed < $1.value.lastUsed })
        {
            sessions[oldest.key] = nil
            Task { await oldest.value.server.stop() }
        }
    }

    private static func convert(_ response: MCP.HTTPResponse) -> MCPHTTPResponse {
        switch response {
        case .stream(let stream, let headers):
            return MCPHTTPResponse(status: response.statusCode, headers: headers, body: .stream(stream))
        default:
            return MCPHTTPResponse(
                status: response.statusCode, headers: response.headers,
                body: response.bodyData.map { .data($0) } ?? .none)
        }
    }

    private static func plain(_ status: Int, _ message: String) -> MCPHTTPResponse {
        let body = #"{"jsonrpc":"2.0","error":{"code":-32001,"message":"\#(message)"},"id":null}"#
        return MCPHTTPResponse(
            status: status, headers: ["Content-Type": "application/json"], body: .data(Data(body.utf8)))
    }
}
