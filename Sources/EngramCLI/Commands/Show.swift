import ArgumentParser
import Engram
import EngramService
import Foundation

/// Parses a memory id argument.
func memoryID(_ text: String) throws -> MemoryID {
    guard let id = MemoryID(text) else {
        throw EngramError.invalid("id", "'\(text.prefix(64))' is not a memory id (a UUID)")
    }
    return id
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one memory.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id.")
    var id: String

    @Flag(
        name: .customLong("with-embedding"), help: "Include the stored (normalised) embedding in JSON output."
    )
    var withEmbedding = false

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        let withEmbedding = output.json && withEmbedding
        let (memory, embedding) = try await withService(store) { service, scope in
            let memory = try await service.memory(memoryID, scope: scope)
            let embedding =
                withEmbedding ? try await service.embeddings(of: [memoryID], scope: scope)[memoryID] : nil
            return (memory, embedding)
        }
        if output.json {
            CLIIO.current.print(JSONOutput.pretty(MemoryJSON.object(memory, embedding: embedding)))
        } else {
            printMemory(memory)
            let io = CLIIO.current
            io.print(
                "  created \(TimeParsing.format(memory.createdAt)), version of \(TimeParsing.format(memory.updatedAt))"
            )
            if let e = memory.expiresAt { io.print("  expires \(TimeParsing.format(e))") }
            if !memory.metadata.isEmpty {
                io.print("  metadata \(JSONValue.object(memory.metadata).jsonText)")
            }
            if let s = memory.supersedes { io.print("  supersedes \(s)") }
        }
    }
}
