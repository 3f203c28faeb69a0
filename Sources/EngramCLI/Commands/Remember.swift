import ArgumentParser
import Engram
import EngramService
import Foundation

/// Flags that describe a memory's fields, shared by `remember` and `update`.
struct MemoryFields: ParsableArguments {
    @Option(name: .long, help: "What happened.")
    var content: String?

    @Option(name: [.long, .customLong("cause")], help: "Why it happened.")
    var why: String?

    @Option(name: .long, help: "What worked, or what the result was.")
    var outcome: String?

    @Flag(name: .long, help: "It worked.")
    var succeeded = false

    @Flag(name: .long, help: "It did not work.")
    var failed = false

    @Option(name: .long, help: "A tag (repeatable).")
    var tag: [String] = []

    @Option(name: .long, help: "Kind: episode, fact, procedure, note, ...")
    var kind: String?

    @Option(name: .long, help: "Importance from 0 to 1.")
    var importance: Double?

    @Option(name: .customLong("meta"), help: "A metadata field KEY=VALUE (repeatable; VALUE may be JSON).")
    var meta: [String] = []

    @Option(name: .long, help: "Expire after this long: 90s, 30m, 12h, 7d, 2w.")
    var ttl: String?

    @Option(name: .long, help: "The embedding as a JSON array (instead of embedding the text).")
    var vector: String?

    var succeededValue: Bool? {
        get throws {
            if succeeded && failed {
                throw EngramError.invalid("--succeeded", "cannot be given with --failed")
            }
            return succeeded ? true : failed ? false : nil
        }
    }

    func metadata() throws -> [String: JSONValue]? {
        guard !meta.isEmpty else { return nil }
        var result: [String: JSONValue] = [:]
        for item in meta {
            guard let eq = item.firstIndex(of: "=") else {
                throw EngramError.invalid("--meta", "must look like KEY=VALUE")
            }
            result[String(item[..<eq])] = JSONValue.literal(String(item[item.index(after: eq)...]))
        }
        return result
    }
}

struct Remember: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Store a memory from its text and flags, or from one JSON object on standard input; prints its id."
    )

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "What happened (the same as --content).")
    var text: String?

    @OptionGroup var fields: MemoryFields

    @Option(name: .long, help: "Namespace, e.g. acme/support/user-42 (default: default).")
    var namespace: String?

    @Option(name: .long, help: "The agent that writes it.")
    var agent: String?

    @Option(
        name: .customLong("near-duplicate"),
        help:
            "Report an older memory of the namespace at least this similar (cosine); 'off' to skip the look-up."
    )
    var nearDuplicate = String(Remember.defaultNearDuplicate)

    @Flag(
        help:
            "Merge into that near duplicate instead: it gets a new version with these fields (its old text stays in history)."
    )
    var merge = false

    @OptionGroup var provenance: ProvenanceOptions

    /// The default near-duplicate threshold (see README: measured on the fixture memories).
    static let defaultNearDuplicate: Float = 0.92

    func validate() throws {
        if text != nil && fields.content != nil {
            throw ValidationError("give the text once: as the argument or with --content")
        }
    }

    func run() async throws {
        let io = CLIIO.current
        let now = Date()
        var memory: NewMemory
        if let content = text ?? fields.content {
            memory = NewMemory(content: content, cause: fields.why, outcome: fields.outcome, embedding: [])
            memory.succeeded = try fields.succeededValue
            memory.tags = fields.tag
            if let kind = fields.kind { memory.kind = MemoryKind(rawValue: kind) }
            if let importance = fields.importance { memory.importance = importance }
            if let metadata = try fields.metadata() { memory.metadata = metadata }
            if let ttl = fields.ttl {
                memory.expiresAt = now.addingTimeInterval(try TimeParsing.ttl(ttl, field: "--ttl"))
            }
            if let vector = try readVector(json: fields.vector, file: nil) { memory.embedding = vector }
        } else {
            guard !io.stdinIsTerminal else {
                throw ValidationError(
                    "give the text (an argument or --content), or pipe one JSON memory object on standard input"
                )
            }
            // Parsed from the bytes, so that input that is not UTF-8 is refused rather than altered.
            memory = try MemoryJSON.newMemory(
                from: JSONValue(parsing: io.readStdin(), field: "stdin"), now: now)
        }
        if let namespace { memory.namespace = namespace }
        if let agent { memory.agent = agent }
        try provenance.apply(to: &memory, now: now)
        let threshold: Float?
        if nearDuplicate == "off" {
            threshold = nil
        } else {
            guard let t = Float(nearDuplicate), t.isFinite, (-1...1).contains(t) else {
                throw EngramError.invalid("--near-duplicate", "must be a cosine from -1 to 1, or off")
            }
            threshold = t
        }
        if merge && threshold == nil {
            throw EngramError.invalid("--merge", "needs a --near-duplicate threshold")
        }
        let store = try location.open()
        defer { try? store.close() }
        let request = RememberRequest(memories: [memory], nearDuplicate: threshold, merge: merge)
        let result = try await withService(store) { service, scope in
            try await service.remember(request, scope: scope)[0]
        }
        if output.json {
            io.print(JSONOutput.pretty(MemoryJSON.object(result)))
            return
        }
        io.print(result.id.description)
        if !result.ended.isEmpty {
            io.printError(
                "engram: ended the validity of \(result.ended.map(\.description).joined(separator: ", "))")
        }
        if result.quarantined {
            io.printError(
                "engram: stored quarantined (its text looks like instructions and its trust is low)")
        }
        switch result.status {
        case .duplicate:
            io.printError("engram: not stored again: memory \(result.id) in this namespace says the same")
        case .merged: io.printError("engram: merged into a near duplicate; its new version is \(result.id)")
        case .stored:
            if let near = result.nearDuplicate {
                io.printError(
                    String(
                        format: "engram: near duplicate of %@ (cosine %.3f); --merge would merge them",
                        near.id.description, near.cosine))
            }
        }
    }
}

/// Where a memory came from and when it holds: `remember`'s provenance and validity flags.
struct ProvenanceOptions: ParsableArguments {
    @Option(help: "Where it came from: user, agent (default), tool, external, or another name.")
    var source: String?

    @Option(help: "Its trust: untrusted, external, agent, user, system (default: from the source).")
    var trust: String?

    @Option(name: .customLong("derived-from"), help: "The id of a memory it was derived from (repeatable).")
    var derivedFrom: [String] = []

    @Option(
        name: .customLong("fact-key"),
        help: "The fact it states a value of (user-42/shipping-address); ends the current value's validity.")
    var factKey: String?

    @Option(name: .customLong("valid-from"), help: "Since when it holds: ISO 8601 or an age (default: now).")
    var validFrom: String?

    @Option(name: .customLong("valid-until"), help: "When it stops holding: ISO 8601.")
    var validUntil: String?

    func apply(to memory: inout NewMemory, now: Date) throws {
        if let source { memory.source = MemorySource(rawValue: source) }
        if let trust { memory.trust = try TrustLevel(name: trust, field: "--trust") }
        if !derivedFrom.isEmpty { memory.derivedFrom = try derivedFrom.map(memoryID) }
        if let factKey { memory.factKey = factKey }
        if let validFrom {
            memory.validFrom = try TimeParsing.date(validFrom, field: "--valid-from", now: now)
        }
        if let validUntil {
            memory.validUntil = try TimeParsing.date(validUntil, field: "--valid-until", now: now)
        }
    }
}
