import ArgumentParser
import Engram
import EngramService
import Foundation

struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a new version of a memory (the old one moves to its history); prints the new id.",
        discussion: "Changing --content, --why or --outcome re-embeds the text unless --vector is given.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var fields: MemoryFields

    @Argument(help: "The memory's id.")
    var id: String

    @Flag(name: .customLong("clear-why"), help: "Remove the cause.")
    var clearWhy = false

    @Flag(name: .customLong("clear-outcome"), help: "Remove the outcome.")
    var clearOutcome = false

    func run() async throws {
        let store = try location.open()
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        var changes = MemoryChanges()
        changes.content = fields.content
        if clearWhy { changes.cause = .some(nil) } else if let why = fields.why { changes.cause = .some(why) }
        if clearOutcome {
            changes.outcome = .some(nil)
        } else if let o = fields.outcome {
            changes.outcome = .some(o)
        }
        if let s = try fields.succeededValue { changes.succeeded = .some(s) }
        if !fields.tag.isEmpty { changes.tags = fields.tag }
        changes.kind = fields.kind.map(MemoryKind.init(rawValue:))
        changes.importance = fields.importance
        changes.metadata = try fields.metadata()
        if let ttl = fields.ttl {
            changes.expiresAt = .some(Date().addingTimeInterval(try TimeParsing.ttl(ttl, field: "--ttl")))
        }
        changes.embedding = try readVector(json: fields.vector, file: nil)
        let request = UpdateRequest(id: memoryID, changes: changes, keepsEmbeddingWithoutEmbedder: true)
        let result = try await withService(store) { service, scope in
            try await service.update(request, scope: scope)
        }
        if result.keptEmbedding {
            CLIIO.current.printError(
                "engram: note: kept the old embedding (this store has no built-in embedder; pass --vector to replace it)"
            )
        }
        let updated = result.memory
        CLIIO.current.print(
            output.json ? JSONOutput.pretty(MemoryJSON.object(updated)) : updated.id.description)
    }
}
