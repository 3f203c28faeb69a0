import ArgumentParser
import Engram
import EngramService
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import memories from JSON Lines (one object per line; '-' reads standard input).",
        discussion: """
            Each line holds the fields of `export` (content or what, cause or why, outcome, succeeded, namespace, \
            agent, kind, tags, importance, metadata, created_at, expires_at or ttl, id, embedding). Lines without \
            an embedding are embedded with the store's embedder. Every line is checked before anything is \
            stored: with --on-error abort (the default) one bad line stores nothing and every bad line is \
            reported with its number; with --on-error skip the good lines are stored and the bad ones reported.
            """)

    enum OnError: String, ExpressibleByArgument, CaseIterable {
        case abort, skip
    }

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The JSONL file, or '-' for standard input.")
    var file: String

    @Option(
        name: .customLong("on-error"),
        help: "abort: store nothing if any line is bad; skip: store the good lines.")
    var onError: OnError = .abort

    @Option(name: .customLong("batch-size"), help: "Memories per transaction.")
    var batchSize = 1000

    @Option(help: "Namespace for lines that do not give one.")
    var namespace: String?

    func validate() throws {
        guard (1...Limits.maxBatch).contains(batchSize) else {
            throw ValidationError("--batch-size must be from 1 to \(Limits.maxBatch)")
        }
    }

    func run() async throws {
        let data = try readInput(file, field: "file")
        let store = try location.open()
        defer { try? store.close() }
        try await withService(store) { service, scope in
            try await importLines(data, service: service, scope: scope)
        }
    }

    private func importLines(_ data: Data, service: MemoryService, scope: Scope) async throws {
        let io = CLIIO.current
        let now = Date()

        // Pass 1: parse and check every line; nothing is stored yet.
        var good: [(line: Int, memory: NewMemory)] = []
        var bad: [(line: Int, reason: String)] = []
        var seenIDs = Set<MemoryID>()
        for (line, value) in JSONLines.values(data) {
            do {
                var memory = try MemoryJSON.newMemory(from: value.get(), now: now)
                if memory.namespace == "default", let namespace { memory.namespace = namespace }
                if let id = memory.id {
                    guard seenIDs.insert(id).inserted else {
                        throw EngramError.invalid("id", "appears twice in the input")
                    }
                    if (try? await service.memory(id, scope: scope)) != nil {
                        throw EngramError.invalid("id", "already exists in the store")
                    }
                }
                try service.check(memory, scope: scope)
                if memory.embedding.isEmpty { try service.requireTextEmbedder() }  // embedded in pass 2
                good.append((line, memory))
            } catch let error as EngramError {
                bad.append((line, EngramCLI.describe(error)))
            }
        }
        for b in bad { io.printError("engram: line \(b.line): \(b.reason)") }
        if !bad.isEmpty && onError == .abort {
            throw CommandFailure(
                status: ExitStatus.invalidInput,
                message:
                    "\(bad.count) bad line\(bad.count == 1 ? "" : "s"); nothing imported (use --on-error skip to import the rest)"
            )
        }

        // Pass 2: embed what needs it and store, a batch per transaction.
        let progress = Progress(total: good.count, enabled: io.stderrIsTerminal)
        var imported = 0
        var duplicates = 0  // exact duplicates of stored memories (or of earlier lines): not stored again
        for start in stride(from: 0, to: good.count, by: batchSize) {
            let batch = good[start..<min(start + batchSize, good.count)].map(\.memory)
            let results = try await service.remember(RememberRequest(memories: batch), scope: scope)
            let skipped = results.filter { $0.status == .duplicate }.count
            duplicates += skipped
            imported += batch.count - skipped
            progress.update(imported + duplicates)
        }
        progress.finish()
        if output.json {
            io.print(
                JSONOutput.pretty(
                    .object([
                        "imported": .number(Double(imported)), "skipped": .number(Double(bad.count)),
                        "duplicates": .number(Double(duplicates)),
                        "bad_lines": .array(
                            bad.map {
                                .object(["line": .number(Double($0.line)), "error": .string($0.reason)])
                            }),
                    ])))
        } else {
            io.print(
                "imported \(imported)"
                    + (duplicates == 0 ? "" : ", \(duplicates) duplicates not stored again")
                    + (bad.isEmpty ? "" : ", skipped \(bad.count) bad lines"))
        }
    }
}
