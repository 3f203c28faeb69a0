import ArgumentParser
import Engram
import EngramService
import Foundation

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List memories in creation order, a page at a time.",
        discussion: "Pass the printed cursor as --after to get the next page; --all prints every page.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var filters: FilterOptions

    @Flag(name: .long, help: "Print one JSON document: {\"memories\": [...], \"next\": cursor or null}.")
    var json = false

    @Flag(name: .long, help: "Print one JSON memory per line (JSON Lines).")
    var jsonl = false

    @Option(name: .long, help: "Page size, 1 to 10000.")
    var limit = 20

    @Option(name: .long, help: "Start after this id (the cursor from the previous page).")
    var after: String?

    @Flag(name: .long, help: "Print every page, not just one.")
    var all = false

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        try await withService(store) { service, scope in try await list(service, scope) }
    }

    private func list(_ service: MemoryService, _ scope: Engram.Scope) async throws {
        let filter = try filters.filter()
        var cursor = try after.map(memoryID)
        var everything: [Memory] = []
        repeat {
            let page = try await service.list(
                ListRequest(filter: filter, limit: limit, cursor: cursor), scope: scope)
            cursor = page.nextCursor
            if jsonl {
                for m in page.memories { CLIIO.current.print(JSONOutput.line(MemoryJSON.object(m))) }
            } else if json {
                everything += page.memories
            } else {
                for m in page.memories { printMemory(m) }
                if !all, let cursor { CLIIO.current.print("-- more: --after \(cursor)") }
            }
        } while all && cursor != nil
        if json {
            CLIIO.current.print(
                JSONOutput.pretty(
                    .object([
                        "memories": .array(everything.map { MemoryJSON.object($0) }),
                        "next": cursor.map { .string($0.description) } ?? .null,
                    ])))
        }
    }
}
