import ArgumentParser
import Engram
import EngramService
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export memories as JSON Lines that `import` reads back losslessly.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var filters: FilterOptions

    @Flag(name: .customLong("with-embeddings"), help: "Include each memory's stored embedding.")
    var withEmbeddings = false

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let filter = try filters.filter()
        var cursor: MemoryID?
        repeat {
            let page = try store.list(filter: filter, after: cursor, limit: 1000)
            let embeddings = withEmbeddings ? try store.embeddings(of: page.memories.map(\.id)) : [:]
            var text = ""
            for m in page.memories {
                text += JSONOutput.line(MemoryJSON.object(m, embedding: embeddings[m.id])) + "\n"
            }
            CLIIO.current.write(text)
            cursor = page.nextCursor
        } while cursor != nil
    }
}
