import ArgumentParser
import Engram
import Foundation

struct Recall: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recall the memories most similar to a text or a vector (exact cosine top-k).")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "What to look for (embedded with the store's embedder).")
    var text: String?

    @Option(name: .long, help: "The query vector as a JSON array.")
    var vector: String?

    @Option(name: .customLong("vector-file"), help: "A file holding the query vector as a JSON array ('-' reads stdin).")
    var vectorFile: String?

    @Option(name: .short, help: "How many memories to return.")
    var k = 5

    @Option(name: .customLong("min-score"), help: "Leave out hits with a lower cosine similarity.")
    var minScore: Float?

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let query: [Float]
        if let v = try readVector(json: vector, file: vectorFile) {
            guard text == nil else { throw EngramError.invalid("text", "give a text or a vector, not both") }
            query = v
        } else if let text {
            try requireText(text)
            query = try textEmbedder(for: store).embed(text)
        } else {
            throw ValidationError("give a text to recall, --vector or --vector-file")
        }
        let hits = try store.recall(query, k: k, filter: filters.filter(), minScore: minScore)
        printHits(hits.map { ($0.memory, $0.score) })
    }

    func printHits(_ hits: [(Memory, Float)]) {
        if output.json {
            CLIIO.current.print(JSONOutput.pretty(.array(hits.map { MemoryJSON.object($0.0, score: $0.1) })))
        } else if hits.isEmpty {
            CLIIO.current.print("no matching memories")
        } else {
            for (m, score) in hits { printMemory(m, score: score) }
        }
    }
}

/// Rejects an empty query text with a clear error.
func requireText(_ text: String) throws {
    if text.allSatisfy(\.isWhitespace) { throw EngramError.invalid("text", "must not be empty") }
}

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keyword search (SQLite FTS5, BM25, porter stemming) over content, why, outcome and tags.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "Words to look for.")
    var text: String

    @Option(name: .short, help: "How many memories to return.")
    var k = 5

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let hits = try store.search(text: text, k: k, filter: filters.filter())
        if output.json {
            CLIIO.current.print(JSONOutput.pretty(.array(hits.map { MemoryJSON.object($0.memory, score: Float($0.score)) })))
        } else if hits.isEmpty {
            CLIIO.current.print("no matching memories")
        } else {
            for hit in hits { printMemory(hit.memory, score: Float(hit.score)) }
        }
    }
}
