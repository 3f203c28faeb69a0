import ArgumentParser
import Engram
import EngramService
import Foundation

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new store (never overwrites an existing one).")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Option(help: "Embedding dimension (default: the embedder's; required with --embedder custom).")
    var dimension: Int?

    @Option(
        help:
            "Embedder: 'minilm' (semantic; the default when installed), 'hashing' (lexical), 'openai-compatible:MODEL' (a server at $ENGRAM_EMBEDDING_URL) or 'custom' (you supply every vector)."
    )
    var embedder: String?

    @Option(help: "Commit durability: normal (survives kill -9) or full (also power loss).")
    var durability = "normal"

    @Option(help: "Vector element type: f32 (exact) or f16 (half the memory; scores within about 1e-3).")
    var element = "f32"

    func run() throws {
        guard let durability = Durability(rawValue: durability) else {
            throw EngramError.invalid("--durability", "must be normal or full")
        }
        guard let element = VectorElement(rawValue: element) else {
            throw EngramError.invalid("--element", "must be f32 or f16")
        }
        let (identifier, d) = try EmbedderChoice.resolve(embedder, dimension: dimension)
        try ProcessScope.requireWholeStore("init")
        let store = try MemoryStore.create(
            at: location.path, dimension: d, embedder: identifier, element: element,
            options: StoreOptions(durability: durability))
        try store.close()
        if output.json {
            CLIIO.current.print(
                JSONOutput.pretty(
                    .object([
                        "store": .string(location.path), "dimension": .number(Double(d)),
                        "embedder": .string(identifier),
                    ])))
        } else {
            CLIIO.current.print(
                "created store \(location.path) (dimension \(d), \(element.rawValue), embedder \(identifier))"
            )
        }
    }
}

/// What `--embedder` and `--dimension` choose, for a store (`engram init`) or a cluster (`engram cluster
/// init`): the embedder's identifier and dimension. Default: MiniLM when installed, else hashing.
enum EmbedderChoice {
    static func resolve(_ name: String?, dimension: Int?) throws -> (identifier: String, dimension: Int) {
        let embedder =
            name
            ?? (ModelFiles.isMiniLMInstalled(environment: CLIIO.current.environment) ? "minilm" : "hashing")
        if embedder == "custom" {
            guard let dimension else {
                throw EngramError.invalid("--dimension", "is required with --embedder custom")
            }
            return ("custom", dimension)
        }
        guard
            let e = try EmbedderResolver(environment: CLIIO.current.environment).embedder(
                named: embedder, dimension: dimension)
        else {
            throw EngramError.invalid(
                "--embedder",
                "unknown embedder; choose one of: \((Embedders.builtInNames + ["custom"]).joined(separator: ", "))"
            )
        }
        return (e.identifier, e.dimension)
    }
}
