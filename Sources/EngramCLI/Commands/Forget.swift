import ArgumentParser
import Engram
import EngramService
import Foundation

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget memories by id, or every memory matching filters (needs --yes).",
        discussion: """
            With filters and without --yes, nothing is removed: the command prints what it would forget \
            and exits with status 1. --purge removes every trace instead: earlier versions, full-text \
            entries, the vectors (zeroed on disk), cached embeddings and freed database pages, leaving a \
            tombstone without content; it also takes --source CLASS or --derived-from ID (that memory and \
            everything derived from it).
            """)

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "Ids of the memories to forget.")
    var ids: [String] = []

    @Flag(name: .long, help: "Really forget everything the filters match.")
    var yes = false

    @Flag(help: "Remove every trace from the store's files, not only the memory (see above).")
    var purge = false

    @Option(help: "With --purge: every memory written with this source.")
    var source: String?

    @Option(
        name: .customLong("derived-from"),
        help: "With --purge: this memory and everything derived from it, transitively (repeatable).")
    var derivedFrom: [String] = []

    @Option(help: "With --purge: why, kept in the tombstones (never the content).")
    var reason = ""

    func validate() throws {
        let lineage = source != nil || !derivedFrom.isEmpty
        if lineage && !purge { throw ValidationError("--source and --derived-from need --purge") }
        let ways = [!ids.isEmpty, !filters.isEmpty, source != nil, !derivedFrom.isEmpty].filter { $0 }.count
        if ways == 0 {
            throw ValidationError("give memory ids, or filters (--where, --namespace, ...) with --yes")
        }
        if ways > 1 { throw ValidationError("give ids, filters, --source or --derived-from: one of them") }
    }

    func run() async throws {
        let store = try location.open()
        defer { try? store.close() }
        try await withService(store) { service, scope in try await forget(service, scope) }
    }

    private func forget(_ service: MemoryService, _ scope: Engram.Scope) async throws {
        let io = CLIIO.current
        let forgotten: Int
        if purge, ids.isEmpty, filters.isEmpty {
            let target: PurgeTarget =
                if let source { .source(MemorySource(rawValue: source)) } else {
                    .derivedFrom(try derivedFrom.map(memoryID))
                }
            return try await printPurged(service.purge(target, reason: reason, scope: scope))
        }
        if !ids.isEmpty {
            let memoryIDs = try ids.map(memoryID)
            if purge {
                let purged = try await service.purge(.ids(memoryIDs), reason: reason, scope: scope)
                if purged.versions.isEmpty && memoryIDs.count == 1 {
                    throw EngramError(.notFound, "no memory with this id", field: "id")
                }
                return printPurged(purged)
            }
            forgotten = try await service.forget(ids: memoryIDs, scope: scope)
            if forgotten < memoryIDs.count && memoryIDs.count == 1 {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
        } else {
            let filter = try filters.filter()
            guard yes else {
                let preview = try await service.list(ListRequest(filter: filter, limit: 20), scope: scope)
                let n = try await service.count(matching: filter, scope: scope)
                if output.json {
                    io.print(
                        JSONOutput.pretty(
                            .object([
                                "would_forget": .number(Double(n)), "forgotten": 0,
                                "sample": .array(preview.memories.map { MemoryJSON.object($0) }),
                            ])))
                } else {
                    io.print("would forget \(n) memories:")
                    for m in preview.memories {
                        io.print("  \(m.id)  \(m.namespace)  \(m.content.prefix(80))")
                    }
                    if n > preview.memories.count { io.print("  ... and \(n - preview.memories.count) more") }
                }
                throw CommandFailure(
                    status: ExitStatus.failure, message: "refusing to forget \(n) memories without --yes")
            }
            if purge {
                return try await printPurged(service.purge(.filter(filter), reason: reason, scope: scope))
            }
            forgotten = try await service.forget(matching: filter, scope: scope)
        }
        io.print(
            output.json
                ? JSONOutput.pretty(.object(["forgotten": .number(Double(forgotten))]))
                : "forgot \(forgotten)")
    }

    private func printPurged(_ result: PurgeResult) {
        CLIIO.current.print(
            output.json
                ? JSONOutput.pretty(ResultJSON.object(result))
                : "purged \(result.memories.count) memories (\(result.versions.count) versions)")
    }
}
