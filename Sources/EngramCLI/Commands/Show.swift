import ArgumentParser
import Engram
import EngramService
import Foundation

/// Parses a memory id argument.
func memoryID(_ text: String) throws -> MemoryID {
    guard let id = MemoryID(text) else { throw EngramError.invalid("id", "'\(text.prefix(64))' is not a memory id (a UUID)") }
    return id
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one memory.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id.")
    var id: String

    @Flag(name: .customLong("with-embedding"), help: "Include the stored (normalised) embedding in JSON output.")
    var withEmbedding = false

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        let memory = try store.memory(memoryID)
        if output.json {
            let embedding = withEmbedding ? try store.embeddings(of: [memoryID])[memoryID] : nil
            CLIIO.current.print(JSONOutput.pretty(MemoryJSON.object(memory, embedding: embedding)))
        } else {
            printMemory(memory)
            let io = CLIIO.current
            io.print("  created \(TimeParsing.format(memory.createdAt)), version of \(TimeParsing.format(memory.updatedAt))")
            if let e = memory.expiresAt { io.print("  expires \(TimeParsing.format(e))") }
            if !memory.metadata.isEmpty { io.print("  metadata \(JSONValue.object(memory.metadata).jsonText)") }
            if let s = memory.supersedes { io.print("  supersedes \(s)") }
        }
    }
}

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
        if clearOutcome { changes.outcome = .some(nil) } else if let o = fields.outcome { changes.outcome = .some(o) }
        if let s = try fields.succeededValue { changes.succeeded = .some(s) }
        if !fields.tag.isEmpty { changes.tags = fields.tag }
        changes.kind = fields.kind.map(MemoryKind.init(rawValue:))
        changes.importance = fields.importance
        changes.metadata = try fields.metadata()
        if let ttl = fields.ttl { changes.expiresAt = .some(Date().addingTimeInterval(try TimeParsing.ttl(ttl, field: "--ttl"))) }
        changes.embedding = try readVector(json: fields.vector, file: nil)
        let request = UpdateRequest(id: memoryID, changes: changes, keepsEmbeddingWithoutEmbedder: true)
        let result = try await withService(store) { service, scope in try await service.update(request, scope: scope) }
        if result.keptEmbedding {
            CLIIO.current.printError(
                "engram: note: kept the old embedding (this store has no built-in embedder; pass --vector to replace it)")
        }
        let updated = result.memory
        CLIIO.current.print(output.json ? JSONOutput.pretty(MemoryJSON.object(updated)) : updated.id.description)
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a memory and the older versions it replaced, newest first.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id (its current version).")
    var id: String

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        let chain = [try store.memory(memoryID)] + (try store.history(of: memoryID))
        if output.json {
            CLIIO.current.print(JSONOutput.pretty(.array(chain.map { MemoryJSON.object($0) })))
        } else {
            for (i, m) in chain.enumerated() {
                CLIIO.current.print(i == 0 ? "current (\(TimeParsing.format(m.updatedAt))):" : "replaced version (\(TimeParsing.format(m.updatedAt))):")
                printMemory(m)
            }
        }
    }
}
