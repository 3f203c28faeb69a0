import Engram
import EngramTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `engram mcp` and `/mcp` driven by the official Python MCP client (Tests/MCPClient/mcp_client_test.py),
/// from the virtual environment `make test` installs. Without it the tests are skipped, except
/// under `CI=true`, where a missing client fails them.
@Suite("MCP with a real client", .serialized)
struct MCPEndToEndTests {
    static var python: String? { Fixtures.testPython }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MCPClient/mcp_client_test.py").path
    }

    static func runClient(_ arguments: [String]) throws -> (status: Int32, output: String) {
        guard let python else {
            #expect(
                ProcessInfo.processInfo.environment["CI"] != "true",
                "the MCP client is not installed (make mcp-client)")
            return (0, "ok (skipped: no MCP client)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static var binary: String { Fixtures.productsDirectory().appendingPathComponent("engram").path }

    @Test(
        "over stdio, confined by ENGRAM_SCOPE: every tool, schemas, errors, scope refusal, forget reaches recall"
    )
    func stdio() async throws {
        let dir = TemporaryDirectory("engram-mcp")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let (status, output) = try Self.runClient([Self.binary, store, "stdio"])
        #expect(status == 0 && output.hasSuffix("ok\n") || output.contains("skipped"), "\(output)")
    }

    @Test(
        "over Streamable HTTP on engram serve, scoped by the API key: the same checks, 401 without a key, two sessions"
    )
    func http() async throws {
        let dir = TemporaryDirectory("engram-mcp-http")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let created = try runBinary([
            "keys", "create", "--store", store, "--namespace", "agents/h", "--actions", "read,write,forget",
        ])
        let key = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try ServerProcess(store: store)
        defer { server.stop(SIGTERM) }
        let (status, output) = try Self.runClient([
            Self.binary, store, "http", "http://127.0.0.1:\(server.port)/mcp", key,
        ])
        #expect(status == 0 && output.hasSuffix("ok\n") || output.contains("skipped"), "\(output)")
    }
}
