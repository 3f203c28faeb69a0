import Engram
import EngramMCP
import EngramSchemaFiles
import EngramService
import EngramTestSupport
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

@Suite("The one wire definition: generated files are current, real responses match the OpenAPI schemas")
struct WireSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("openapi.json, mcp-tools.json and the README's field reference are what `make schema` writes")
    func generatedFilesAreCurrent() throws {
        for file in try SchemaFiles.render(root: Self.root) {
            let onDisk = try String(contentsOf: Self.root.appendingPathComponent(file.path), encoding: .utf8)
            #expect(onDisk == file.contents, "\(file.path) is stale: run `make schema`")
        }
    }

    @Test("the field sets the readers accept are the table's")
    func readersUseTheTable() throws {
        #expect(MemoryJSON.knownFields == WireSchema.newMemoryFields)
        #expect(FilterParsing.jsonFields == WireSchema.filterFieldNames)
        #expect(RecallRequest.jsonFields == WireSchema.recallFieldNames)
        // A field the table does not list is refused by the reader.
        #expect(throws: EngramError.invalid("colour", "is not a memory field")) {
            try MemoryJSON.newMemory(from: .object(["content": "x", "colour": "red"]), now: Date())
        }
    }

    /// One recorded answer: the documented path it belongs to, and what came back.
    struct Sample {
        var method: String
        var path: String
        var status: Int
        var body: JSONValue?
    }

    @Test(
        "every route's answers, successes and errors, validate against openapi.json with a JSON Schema validator"
    )
    func responsesMatchTheDocument() async throws {
        guard let python = Fixtures.testPython else {
            #expect(
                ProcessInfo.processInfo.environment["CI"] != "true",
                "the test venv is missing (make mcp-client)")
            return
        }
        let h = try ServerHarness()
        let samples = Locked<[Sample]>([])
        let (reader, _) = try h.createKey("reader", namespaces: ["team"], actions: .read)
        let (admin, _) = try h.createKey("admin", namespaces: nil, actions: .all)
        try await h.run { client in
            func record(
                _ method: HTTPRequest.Method, _ uri: String, _ path: String, _ body: String? = nil,
                key: String? = ""
            ) async throws -> ServerHarness.Reply {
                let key = key == "" ? admin : key
                let reply = try await client.call(method, uri, body, key: key)
                let sample = Sample(
                    method: method.rawValue.lowercased(), path: path, status: reply.status,
                    body: reply.text.isEmpty ? nil : reply.json)
                samples.withLock { $0.append(sample) }
                return reply
            }
            _ = try await record(.get, "/healthz", "/healthz")
            _ = try await record(.get, "/readyz", "/readyz")
            _ = try await record(.get, "/openapi.json", "/openapi.json")
            let created = try await record(
                .post, "/v1/memories", "/v1/memories",
                #"{"content": "checkout slow", "cause": "pool", "outcome": "raised it", "succeeded": true, "namespace": "team/a", "tags": ["db"], "metadata": {"t": 1}}"#
            )
            let id = try #require(created["ids", 0]?.stringValue)
            _ = try await record(
                .post, "/v1/memories", "/v1/memories",
                #"{"memories": [{"content": "one", "namespace": "team/a"}, {"content": "checkout slow", "namespace": "team/a"}], "near_duplicate": 0.5}"#
            )
            _ = try await record(.post, "/v1/memories", "/v1/memories", #"{"content": ""}"#)
            _ = try await record(.post, "/v1/memories", "/v1/memories", "not json")
            _ = try await record(.post, "/v1/memories", "/v1/memories", #"{"content": "x"}"#, key: reader)
            _ = try await record(.post, "/v1/memories", "/v1/memories", #"{"content": "x"}"#, key: "k_wrong")
            _ = try await record(.get, "/v1/memories?limit=1", "/v1/memories")
            _ = try await record(.get, "/v1/memories?limit=0", "/v1/memories")
            _ = try await record(.get, "/v1/memories/\(id)", "/v1/memories/{id}")
            _ = try await record(
                .get, "/v1/memories/00000000-0000-7000-8000-000000000000", "/v1/memories/{id}")
            _ = try await record(.get, "/v1/memories/\(id)/history", "/v1/memories/{id}/history")
            _ = try await record(
                .post, "/v1/memories/\(id)/feedback", "/v1/memories/{id}/feedback", #"{"helpful": true}"#)
            _ = try await record(.post, "/v1/recall", "/v1/recall", #"{"query": "checkout", "k": 3}"#)
            let vector = Array(repeating: "0.1", count: ServerHarness.dimension).joined(separator: ",")
            _ = try await record(.post, "/v1/recall", "/v1/recall", #"{"vector": [\#(vector)], "k": 2}"#)
            _ = try await record(.post, "/v1/recall", "/v1/recall", #"{"vector": [1]}"#)
            _ = try await record(
                .post, "/v1/search", "/v1/search", #"{"query": "checkout", "filter": {"namespace": "team/"}}"#
            )
            _ = try await record(.get, "/v1/count?namespace=team/", "/v1/count")
            _ = try await record(.get, "/v1/stats", "/v1/stats")
            _ = try await record(.get, "/v1/stats", "/v1/stats", key: reader)
            _ = try await record(.get, "/v1/index", "/v1/index")  // none yet: 404
            _ = try await record(.post, "/v1/index", "/v1/index", #"{"lists": 2}"#, key: reader)
            _ = try await record(.post, "/v1/index", "/v1/index", #"{"bits": 5}"#)
            _ = try await record(.post, "/v1/index", "/v1/index", #"{"lists": 2}"#)
            _ = try await record(.get, "/v1/index", "/v1/index")
            _ = try await record(.delete, "/v1/index", "/v1/index")
            let updated = try await record(
                .patch, "/v1/memories/\(id)", "/v1/memories/{id}", #"{"outcome": "raised the pool to 50"}"#)
            let newID = try #require(updated["id"]?.stringValue)
            _ = try await record(
                .put, "/v1/working/team/a/plan", "/v1/working/{namespace}/{key}",
                #"{"value": {"step": 1}, "ttl_seconds": 60}"#)
            _ = try await record(.get, "/v1/working/team/a/plan", "/v1/working/{namespace}/{key}")
            _ = try await record(.get, "/v1/working/team/a/none", "/v1/working/{namespace}/{key}")
            _ = try await record(.get, "/v1/working?namespace=team/a", "/v1/working")
            _ = try await record(
                .post, "/v1/working/promote", "/v1/working/promote",
                #"{"namespace": "team/a", "key": "plan"}"#)
            _ = try await record(.delete, "/v1/working/team/a/plan", "/v1/working/{namespace}/{key}")
            _ = try await record(
                .post, "/v1/memories/\(newID)/quarantine", "/v1/memories/{id}/quarantine")
            _ = try await record(
                .post, "/v1/memories/\(newID)/release", "/v1/memories/{id}/release")
            _ = try await record(
                .post, "/v1/memories/\(newID)/release", "/v1/memories/{id}/release", key: reader)
            _ = try await record(
                .post, "/v1/recall", "/v1/recall",
                #"{"query": "checkout", "k": 3, "format": "prompt", "filter": {"min_trust": "agent"}}"#)
            _ = try await record(
                .post, "/v1/recall", "/v1/recall", #"{"query": "checkout", "filter": {"min_trust": "high"}}"#)
            _ = try await record(.get, "/v1/audit?since=1d", "/v1/audit")
            _ = try await record(.get, "/v1/audit", "/v1/audit", key: reader)
            _ = try await record(.get, "/v1/audit/verify", "/v1/audit/verify")
            let doomed = try await record(
                .post, "/v1/memories", "/v1/memories",
                #"{"content": "to purge", "namespace": "team/a", "source": "scraper"}"#)
            #expect(doomed["results", 0, "status"]?.stringValue == "stored")
            _ = try await record(
                .post, "/v1/memories/purge", "/v1/memories/purge", #"{"source": "scraper", "confirm": true}"#)
            _ = try await record(.post, "/v1/memories/purge", "/v1/memories/purge", #"{"source": "scraper"}"#)
            _ = try await record(
                .post, "/v1/memories/forget", "/v1/memories/forget", #"{"filter": {"namespace": "team/a"}}"#)
            _ = try await record(.delete, "/v1/memories/\(newID)", "/v1/memories/{id}")
            _ = try await record(
                .post, "/v1/memories/forget", "/v1/memories/forget",
                #"{"filter": {"namespace": "team/"}, "confirm": true}"#)
        }
        let recorded = samples.withLock { $0 }
        let documented = try Set(ServerRobustnessTests.documentedRoutes())
        let seen = Set(recorded.map { "\($0.method.uppercased()) \($0.path)" })
        let unsampled = documented.subtracting(seen).filter {
            !$0.hasSuffix("/mcp") && !$0.hasSuffix("/metrics")
        }
        #expect(unsampled.isEmpty, "routes without a sample: \(unsampled.sorted())")

        let dir = TemporaryDirectory("engram-openapi")
        let lines = recorded.map { s -> String in
            JSONValue.object([
                "method": .string(s.method), "path": .string(s.path), "status": .number(Double(s.status)),
                "body": s.body ?? .null,
            ]).jsonText
        }
        let samplesFile = dir.appending("samples.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: samplesFile, atomically: true, encoding: .utf8)
        let (status, text) = try Fixtures.runProcess(
            python,
            [
                Self.root.appendingPathComponent("Tests/Schema/validate_responses.py").path,
                Self.root.appendingPathComponent("Sources/EngramServer/openapi.json").path, samplesFile,
            ])
        #expect(status == 0, "\(text)")
        #expect(text.hasPrefix("ok "), "\(text)")
    }
}
