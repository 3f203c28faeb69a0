import Engram
import EngramMCP
import EngramService
import EngramTestSupport
import Foundation
import Testing

@testable import EngramServer

@Suite("MCP tools in-process")
struct MCPToolsTests {
    @Test("every tool has a strict object schema whose required fields are among its properties, and hints")
    func schemas() {
        let names = MemoryTools.definitions.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(
            Set(names) == [
                "remember", "recall", "search", "get_memory", "list_memories", "update_memory", "forget",
                "feedback", "working_set", "working_get", "working_list", "stats",
            ])
        for tool in MemoryTools.definitions {
            guard case .object(let schema) = tool.schema,
                case .object(let properties)? = schema["properties"],
                case .array(let required)? = schema["required"]
            else {
                Issue.record("\(tool.name): not an object schema")
                continue
            }
            #expect(schema["type"] == "object" && schema["additionalProperties"] == false, "\(tool.name)")
            for field in required {
                #expect(properties[field.stringValue ?? ""] != nil, "\(tool.name).\(field)")
            }
            #expect(tool.description.count > 40, "\(tool.name) has a description an LLM can act on")
            #expect(!(tool.readOnly && tool.destructive), "\(tool.name)")
        }
        #expect(MemoryTools.definitions.first { $0.name == "forget" }?.destructive == true)
    }

    @Test(
        "tools run within the scope: outside namespaces are refused as tool errors, nothing written, and forget reaches recall"
    )
    func scopeAndErrors() async throws {
        let h = try ServerHarness()
        let service = MemoryService(store: h.store, resolver: EmbedderResolver(environment: [:]))
        let tools = MemoryTools(service: service)
        let scope = try Scope(namespaces: ["team/a"], actions: .all)
        let stored = await tools.call(
            "remember", arguments: ["content": "rollback fixed the outage", "namespace": "team/a/x"],
            scope: scope)
        #expect(!stored.isError, "\(stored.text)")
        guard case .object(let result) = stored.structured, let id = result["id"]?.stringValue else {
            Issue.record("no id")
            return
        }
        let outside = await tools.call(
            "remember", arguments: ["content": "x", "namespace": "team/b"], scope: scope)
        #expect(outside.isError)
        #expect(
            outside.structured
                == .object([
                    "error": .object([
                        "code": "permissionDenied",
                        "message": "namespace team/b is outside this handle's scope", "field": "namespace",
                    ])
                ]))
        let unknown = await tools.call("recall", arguments: ["query": "x", "limit": 3], scope: scope)
        #expect(unknown.isError && unknown.text.contains("limit"))
        #expect(try h.store.count() == 1)
        let recalled = await tools.call("recall", arguments: ["query": "what fixed the outage"], scope: scope)
        #expect(recalled.text.contains(id))
        let ranked = await tools.call(
            "recall",
            arguments: [
                "query": "what fixed the outage", "fusion": "rrf:60", "candidates": 10, "signals": false,
            ], scope: scope)
        #expect(!ranked.isError && ranked.text.contains(id), "\(ranked.text)")
        let badFusion = await tools.call(
            "recall", arguments: ["query": "x", "fusion": "bogus"], scope: scope)
        #expect(badFusion.isError && badFusion.text.contains("fusion"))
        #expect(!(await tools.call("forget", arguments: ["id": .string(id)], scope: scope)).isError)
        #expect(
            !(await tools.call("recall", arguments: ["query": "what fixed the outage"], scope: scope)).text
                .contains(id))
        try await service.shutdown()
    }

    @Test("an MCP session is bound to the key that opened it: another key with its id gets 404")
    func sessionsAreBoundToKeys() async throws {
        let h = try ServerHarness()
        let service = MemoryService(store: h.store, resolver: EmbedderResolver(environment: [:]))
        let sessions = MCPHTTPSessions(service: service, checksOrigin: true)
        let initialize =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
        let headers = [
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "Host": "127.0.0.1:8420",
        ]
        let scope = try Scope(namespaces: ["a"], actions: .read)
        let opened = await sessions.handle(
            MCPHTTPRequest(method: "POST", headers: headers, body: Data(initialize.utf8)), scope: scope,
            caller: "k_aaaa")
        #expect(opened.status == 200)
        let id = try #require(opened.headers.first { $0.key.lowercased() == "mcp-session-id" }?.value)
        var next = headers
        next["mcp-session-id"] = id  // looked up case-insensitively
        next["MCP-Protocol-Version"] = "2025-06-18"
        let list = Data(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.utf8)
        let other = await sessions.handle(
            MCPHTTPRequest(method: "POST", headers: next, body: list), scope: scope, caller: "k_bbbb")
        #expect(other.status == 404)
        let same = await sessions.handle(
            MCPHTTPRequest(method: "POST", headers: next, body: list), scope: scope, caller: "k_aaaa")
        #expect(same.status == 200)
        var foreign = headers
        foreign["Origin"] = "https://evil.example"
        let refused = await sessions.handle(
            MCPHTTPRequest(method: "POST", headers: foreign, body: Data(initialize.utf8)), scope: scope,
            caller: "k_aaaa")
        #expect(
            refused.status >= 400,
            "a browser page from another origin cannot open a session on a loopback server")
        try await service.shutdown()
    }
}
