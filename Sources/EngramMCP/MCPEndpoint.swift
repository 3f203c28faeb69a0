package import Engram
package import Foundation

/// What `engram serve` needs of the MCP tools to serve them at `/mcp` (Streamable HTTP): requests and
/// answers in plain values, so that this target depends on no HTTP framework.
package protocol MCPEndpoint: Sendable {
    /// Answers one HTTP request to `/mcp` on behalf of a caller holding `scope` (from its API key)
    /// and identified by `caller` (the key's id, or nil without keys); a session opened by one caller
    /// is unknown to every other.
    func handle(_ request: MCPHTTPRequest, scope: Scope, caller: String?) async -> MCPHTTPResponse
}

/// An HTTP request as the MCP endpoint sees it.
package struct MCPHTTPRequest: Sendable {
    package var method: String
    package var headers: [String: String]
    package var body: Data?

    package init(method: String, headers: [String: String], body: Data?) {
        self.method = method
        self.headers = headers
        self.body = body
    }
}

/// The endpoint's answer: a status, headers, and a body that is either whole or a stream (SSE).
package struct MCPHTTPResponse: Sendable {
    package enum Body: Sendable {
        case none
        case data(Data)
        case stream(AsyncThrowingStream<Data, any Error>)
    }

    package var status: Int
    package var headers: [String: String]
    package var body: Body

    package init(status: Int, headers: [String: String], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
