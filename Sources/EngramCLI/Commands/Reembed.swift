import ArgumentParser
import Engram
import EngramService
import Foundation

struct Reembed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-embed every memory with another embedder and switch the store to it atomically.",
        discussion: "The store's dimension becomes the new embedder's. Recalls never mix embedders.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Option(help: "The new embedder: minilm, or hashing (with --dimension).")
    var embedder: String

    @Option(help: "Dimension for the hashing embedder.")
    var dimension: Int?

    func run() throws {
        let io = CLIIO.current
        try ProcessScope.requireWholeStore("reembed")
        guard
            let e = try EmbedderResolver(environment: CLIIO.current.environment).embedder(
                named: embedder, dimension: dimension)
        else {
            throw EngramError.invalid("--embedder", "unknown embedder; choose minilm or hashing")
        }
        let started = Date()
        let n = try MemoryStore.reembed(at: location.path, with: e) { done, total in
            if io.stderrIsTerminal { io.writeError("\rre-embedding \(done)/\(total)") }
        }
        if io.stderrIsTerminal { io.writeError("\n") }
        let seconds = Date().timeIntervalSince(started)
        if output.json {
            io.print(
                JSONOutput.pretty(
                    .object([
                        "reembedded": .number(Double(n)), "embedder": .string(e.identifier),
                        "dimension": .number(Double(e.dimension)),
                    ])))
        } else {
            io.print(
                String(
                    format: "re-embedded %d memories with %@ (dimension %d) in %.1f s", n, e.identifier,
                    e.dimension, seconds))
        }
    }
}
