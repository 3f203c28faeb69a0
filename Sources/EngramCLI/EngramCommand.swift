import ArgumentParser
import Engram
import EngramService
import Foundation
import Synchronization

/// `engram`: the root command.
struct EngramCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engram",
        abstract: "Durable vector memory for AI agents: remember what happened, why, and what worked.",
        discussion: """
            The store is a directory (--store, else $ENGRAM_STORE, else ./.engram).

            Exit status: 0 ok; 1 refused (bulk forget without --yes), health check failed, or other \
            failure; 64 usage; 65 invalid input; 66 not found; 73 store already exists; 74 I/O or SQLite \
            error; 75 store locked by another writer; 76 store corrupted; 78 store from a newer Engram.
            """,
        version: EngramVersion.current,
        subcommands: [
            Init.self, Remember.self, Recall.self, Search.self, Show.self, Update.self, History.self,
            List.self,
            Count.self, Forget.self, Import.self, Export.self, Stats.self, Health.self, Compact.self,
            Working.self, Embed.self, Model.self, Reembed.self, Bench.self, Eval.self, Feedback.self,
            Serve.self,
            Keys.self, MCPCommand.self, Quarantine.self, Release.self, Audit.self, Index.self,
            Cluster.self,
        ])
}

/// The store's own embedder behind its embedding cache (see ``EmbedderResolver``).
func textEmbedder(for store: MemoryStore) throws -> any Embedder {
    try EmbedderResolver(environment: CLIIO.current.environment).textEmbedder(for: store)
}

/// Reads a whole file, or standard input for "-".
func readInput(_ path: String, field: String) throws -> Data {
    if path == "-" { return CLIIO.current.readStdin() }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw EngramError(.notFound, "cannot read \(path)", field: field)
    }
    return data
}

/// Reads a vector from `--vector JSON` or `--vector-file F` (`-` for standard input).
func readVector(json: String?, file: String?) throws -> [Float]? {
    if json != nil && file != nil {
        throw EngramError.invalid("--vector", "give --vector or --vector-file, not both")
    }
    if let json {
        return try MemoryJSON.vector(JSONValue(parsing: json, field: "--vector"), field: "--vector")
    }
    if let file {
        let bytes = try readInput(file, field: "--vector-file")
        return try MemoryJSON.vector(
            JSONValue(parsing: bytes, field: "--vector-file"), field: "--vector-file")
    }
    return nil
}

/// Prints memories as a readable block each.
func printMemory(_ m: Memory, score: Float? = nil) {
    let io = CLIIO.current
    let head = score.map { String(format: "%.4f  ", $0) } ?? ""
    var tags = m.tags.isEmpty ? "" : "  #" + m.tags.joined(separator: " #")
    if let s = m.succeeded { tags += s ? "  ✓ worked" : "  ✗ failed" }
    io.print("\(head)\(m.id)  \(m.namespace)  [\(m.kind)]\(m.agent.map { "  by \($0)" } ?? "")\(tags)")
    let indent = String(repeating: " ", count: head.count)
    io.print("\(indent)  \(m.content)")
    if let cause = m.cause { io.print("\(indent)  why: \(cause)") }
    if let outcome = m.outcome { io.print("\(indent)  outcome: \(outcome)") }
}

/// Runs an async job (a server) from a synchronous command and waits for it to end, rethrowing its
/// error. The commands are synchronous `ParsableCommand`s; the job runs on the concurrency pool while
/// this thread, which is not one of the pool's, waits.
func runUntilDone(_ job: @escaping @Sendable () async throws -> Void) throws {
    let failure = Locked<(any Error)?>(nil)
    let finished = DispatchSemaphore(value: 0)
    Task {
        do {
            try await job()
        } catch {
            failure.withLock { $0 = error }
        }
        finished.signal()
    }
    finished.wait()
    if let error = failure.withLock({ $0 }) { throw error }
}
