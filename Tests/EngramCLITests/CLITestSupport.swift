import Engram
import EngramCLI
import EngramTestSupport
import Foundation
import Testing

/// One in-process `engram` run.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stdout parsed as JSON.
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
    }
}

/// Runs `engram` in-process against a store in a temporary directory.
struct CLI {
    let dir = TemporaryDirectory("engram-cli")
    var store: String { dir.appending("store") }

    /// In-process runs see no installed model unless a test passes one, so `init` picks the hashing
    /// embedder and results do not depend on the machine.
    static let environment = ["ENGRAM_MODELS": "/nonexistent/engram-models"]

    @discardableResult
    func run(
        _ args: [String], stdin: String = "", store: String? = nil, environment extra: [String: String] = [:]
    ) async -> CLIResult {
        let io = CapturedIO(stdin: stdin, environment: Self.environment.merging(extra) { $1 })
        let status = await EngramCLI.run(args + ["--store", store ?? self.store], io: io.io)
        return CLIResult(status: status, stdout: io.stdout, stderr: io.stderr)
    }

    /// Runs without adding `--store`.
    func raw(_ args: [String], stdin: String = "") async -> CLIResult {
        let io = CapturedIO(
            stdin: stdin, environment: Self.environment.merging(["ENGRAM_STORE": store]) { $1 })
        let status = await EngramCLI.run(args, io: io.io)
        return CLIResult(status: status, stdout: io.stdout, stderr: io.stderr)
    }
}

/// The repository's fixtures directory.
func fixturesPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").appendingPathComponent(name).path
}

/// JSONL of `count` memories with explicit seeded vectors, and the vectors.
func vectorJSONL(count: Int, dimension: Int, seed: UInt64) -> (text: String, vectors: [[Float]]) {
    var rng = SeededGenerator(seed: seed)
    let vectors = rng.clusteredVectors(count: count, dimension: dimension, clusters: 8)
    let namespaces = ["team/a", "team/b", "team/a/sub", "other"]
    var lines: [String] = []
    for (i, v) in vectors.enumerated() {
        let object: JSONValue = .object([
            "content": .string("memory \(i)"), "why": .string("because \(i % 7)"),
            "namespace": .string(namespaces[i % namespaces.count]),
            "tags": .array([i % 3 == 0 ? "red" : "blue"]),
            "metadata": .object(["n": .number(Double(i % 10)), "team": i % 2 == 0 ? "x" : "y"]),
            "embedding": .array(v.map { .number(Double($0)) }),
            "created_at": .string("2026-0\(1 + i % 9)-15T10:00:00Z"),
        ])
        lines.append(object.jsonText)
    }
    return (lines.joined(separator: "\n") + "\n", vectors)
}
