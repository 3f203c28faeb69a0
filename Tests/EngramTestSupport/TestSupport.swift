public import Engram
@_exported public import EngramBenchSupport
public import Foundation

/// Brute-force exact cosine top-k in Double: the oracle every recall is checked against.
public struct BruteForceOracle: Sendable {
    /// An entry the oracle knows: an id, its vector, and whether it passes the filter under test.
    public struct Entry: Sendable {
        /// The memory's id.
        public var id: MemoryID
        /// Its vector, as stored.
        public var vector: [Float]
        /// Creates it.
        public init(id: MemoryID, vector: [Float]) {
            self.id = id
            self.vector = vector
        }
    }

    /// Every memory the oracle knows.
    public var entries: [Entry]

    /// Creates it.
    public init(entries: [Entry] = []) { self.entries = entries }

    /// Cosine similarity in Double.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0
        var na = 0.0
        var nb = 0.0
        for i in 0..<a.count {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    /// Every admitted entry's (id, score), best first.
    public func ranking(_ query: [Float], where admit: (MemoryID) -> Bool = { _ in true }) -> [(
        id: MemoryID, score: Double
    )] {
        entries.filter { admit($0.id) }.map { (id: $0.id, score: Self.cosine(query, $0.vector)) }
            .sorted { $0.score > $1.score }
    }

    /// Checks recall hits against the exact ranking: the same count (min(k, admitted)), each score within
    /// `tolerance` of the true score, and the set equal except where scores tie within `tolerance` at the
    /// k-th place. Returns a description of the first mismatch, or nil.
    public func mismatch(
        _ hits: [RecallHit], query: [Float], k: Int, tolerance: Double = 1e-4,
        where admit: (MemoryID) -> Bool = { _ in true }
    ) -> String? {
        let truth = ranking(query, where: admit)
        let expected = Array(truth.prefix(k))
        guard hits.count == expected.count else {
            return "got \(hits.count) hits, expected \(expected.count)"
        }
        let trueScore = Dictionary(uniqueKeysWithValues: truth.map { ($0.id, $0.score) })
        let kth = expected.last?.score ?? -2
        for (i, hit) in hits.enumerated() {
            guard let s = trueScore[hit.memory.id] else { return "hit \(i) is not an admitted memory" }
            if abs(Double(hit.score) - s) > tolerance { return "hit \(i) score \(hit.score) vs true \(s)" }
            if s < kth - tolerance { return "hit \(i) score \(s) is below the true k-th score \(kth)" }
            if i > 0 && hit.score > hits[i - 1].score { return "hits are not sorted by score" }
        }
        let hitIDs = Set(hits.map(\.memory.id))
        for e in expected where e.score > kth + tolerance && !hitIDs.contains(e.id) {
            return "missing a true top-k memory with score \(e.score)"
        }
        return nil
    }
}

/// A directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {  // Sendable: immutable after init.
    /// The directory's path.
    public let path: String

    /// Creates a fresh directory under the system temporary directory.
    public init(_ prefix: String = "engram-test") {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    /// A path inside the directory.
    public func appending(_ name: String) -> String {
        URL(fileURLWithPath: path).appendingPathComponent(name).path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Builds memories with deterministic vectors, for tests and the crash writer.
public enum Fixtures {
    /// A memory with the given vector and a predictable content.
    public static func memory(
        _ vector: [Float], index: Int, namespace: String = "test", agent: String? = nil,
        kind: MemoryKind = .episode,
        tags: [String] = [], succeeded: Bool? = nil, metadata: [String: JSONValue] = [:],
        createdAt: Date? = nil
    ) -> NewMemory {
        NewMemory(
            content: "memory number \(index)", cause: "cause \(index)", outcome: "outcome \(index)",
            succeeded: succeeded, namespace: namespace, agent: agent, kind: kind, tags: tags,
            metadata: metadata,
            embedding: vector, createdAt: createdAt)
    }

    /// The deterministic vectors of crash-writer batch `batch` (size `size`, dimension `dimension`).
    public static func crashBatchVectors(batch: Int, size: Int, dimension: Int) -> [[Float]] {
        var rng = SeededGenerator(seed: UInt64(batch) &* 7919 &+ 17)
        return (0..<size).map { _ in rng.vector(dimension: dimension) }
    }

    /// The Python of the test virtual environment `make test` installs (the MCP client, jsonschema), or
    /// nil when it is missing; `$ENGRAM_MCP_PYTHON` names it.
    public static var testPython: String? {
        let environment = ProcessInfo.processInfo.environment
        let path =
            environment["ENGRAM_MCP_PYTHON"] ?? FileManager.default.currentDirectoryPath
            + "/.build/mcp-venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// Runs a program to its end; returns its exit status and its standard output and error together.
    public static func runProcess(_ executable: String, _ arguments: [String]) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// Where the built executables are (beside the test bundle).
    public static func productsDirectory() -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = bundle.deletingLastPathComponent()
        // swift test runs `<products>/EngramPackageTests.xctest` (a file on Linux).
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("engram-crash-writer").path) {
            for candidate in [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            where FileManager.default.fileExists(
                atPath: candidate.appendingPathComponent("engram-crash-writer").path)
            {
                dir = candidate
            }
        }
        return dir
    }
}
