import ArgumentParser
import Engram
import EngramService
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export memories as JSON Lines that `import` reads back losslessly.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var filters: FilterOptions

    @Flag(name: .customLong("with-embeddings"), help: "Include each memory's stored embedding.")
    var withEmbeddings = false

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        try await withService(store) { service, scope in try await export(service, scope) }
    }

    private func export(_ service: MemoryService, _ scope: Engram.Scope) async throws {
        let filter = try filters.filter()
        var cursor: MemoryID?
        repeat {
            let page = try await service.list(
                ListRequest(filter: filter, limit: 1000, cursor: cursor), scope: scope)
            let ids = page.memories.map(\.id)
            let embeddings = withEmbeddings ? try await service.embeddings(of: ids, scope: scope) : [:]
            var text = ""
            for m in page.memories {
                text += JSONOutput.line(MemoryJSON.object(m, embedding: embeddings[m.id])) + "\n"
            }
            CLIIO.current.write(text)
            cursor = page.nextCursor
        } while cursor != nil
    }
}
