import ArgumentParser
import Engram
import EngramService
import Foundation

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keyword search (SQLite FTS5, BM25, porter stemming) over content, why, outcome and tags.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "Words to look for.")
    var text: String

    @Option(name: .short, help: "How many memories to return.")
    var k = 5

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let request = SearchRequest(text: text, k: k, filter: try filters.filter())
        let hits = try await withService(store) { service, scope in
            try await service.search(request, scope: scope)
        }
        if output.json {
            CLIIO.current.print(
                JSONOutput.pretty(.array(hits.map { MemoryJSON.object($0.memory, score: Float($0.score)) })))
        } else if hits.isEmpty {
            CLIIO.current.print("no matching memories")
        } else {
            for hit in hits { printMemory(hit.memory, score: Float(hit.score)) }
        }
    }
}
