import ArgumentParser
import Engram
import EngramService
import Foundation

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget memories by id, or every memory matching filters (needs --yes).",
        discussion: """
            With filters and without --yes, nothing is removed: the command prints what it would forget \
            and exits with status 1.
            """)

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "Ids of the memories to forget.")
    var ids: [String] = []

    @Flag(name: .long, help: "Really forget everything the filters match.")
    var yes = false

    func validate() throws {
        if ids.isEmpty && filters.isEmpty {
            throw ValidationError("give memory ids, or filters (--where, --namespace, ...) with --yes")
        }
        if !ids.isEmpty && !filters.isEmpty { throw ValidationError("give ids or filters, not both") }
    }

    func run() async throws {
        let store = try location.open()
        defer { try? store.close() }
        try await withService(store) { service, scope in try await forget(service, scope) }
    }

    private func forget(_ service: MemoryService, _ scope: Engram.Scope) async throws {
        let io = CLIIO.current
        let forgotten: Int
        if !ids.isEmpty {
            let memoryIDs = try ids.map(memoryID)
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
            forgotten = try await service.forget(matching: filter, scope: scope)
        }
        io.print(
            output.json
                ? JSONOutput.pretty(.object(["forgotten": .number(Double(forgotten))]))
                : "forgot \(forgotten)")
    }
}
