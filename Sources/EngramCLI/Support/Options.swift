import ArgumentParser
import Engram
import EngramService
import Foundation

/// `--store PATH`, shared by every command that opens a store.
struct StoreLocation: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The store directory.", discussion: "Default: $ENGRAM_STORE, else ./.engram"),
        completion: .directory)
    var store: String?

    /// The store path after defaults.
    var path: String {
        store ?? CLIIO.current.environment["ENGRAM_STORE"] ?? ".engram"
    }

    /// Opens the store for a data command: whole, or narrowed to `$ENGRAM_SCOPE` (see ``ProcessScope``).
    /// Read-only handles need no writer lock, so reads work beside a writer.
    func open(
        readOnly: Bool = false, durability: Durability = .normal, recordsUsage: Bool = true,
        searchThreads: Int? = nil
    ) throws -> ScopedStore {
        let scope = try ProcessScope.current() ?? .unrestricted
        var options = try Self.options(durability: durability, readOnly: readOnly)
        options.recordsUsage = recordsUsage
        if let searchThreads { options.searchThreads = searchThreads }
        return try MemoryStore.open(at: path, options: options).scoped(to: scope)
    }

    /// Opens the whole store, for a command that needs it; refused under `$ENGRAM_SCOPE`.
    func openWhole(for command: String, readOnly: Bool = false) throws -> MemoryStore {
        try ProcessScope.requireWholeStore(command)
        return try MemoryStore.open(at: path, options: Self.options(readOnly: readOnly))
    }

    /// Options for a store this process opens, with what the environment sets: `$ENGRAM_QUARANTINE` (see
    /// ``quarantinePolicy()``), `$ENGRAM_EXACT_BELOW` (recalls whose filter admits at most this many
    /// memories scan exactly; default: 20,000 or 2 % of the store, whichever is more) and `$ENGRAM_PROBES`
    /// (index lists a recall reads; default: what the build tuned).
    static func options(durability: Durability = .normal, readOnly: Bool = false) throws -> StoreOptions {
        var options = StoreOptions(durability: durability, readOnly: readOnly)
        options.quarantine = try quarantinePolicy()
        if let text = CLIIO.current.environment["ENGRAM_EXACT_BELOW"] {
            guard let limit = Int(text), limit >= 0 else {
                throw EngramError.invalid(
                    "ENGRAM_EXACT_BELOW", "must be a whole number of memories, 0 or more")
            }
            options.approximate.exactBelow = limit
            options.approximate.exactFraction = 0
        }
        if let text = CLIIO.current.environment["ENGRAM_PROBES"] {
            guard let probes = Int(text), probes >= 1 else {
                throw EngramError.invalid("ENGRAM_PROBES", "must be a whole number of lists, 1 or more")
            }
            options.approximate.probes = probes
        }
        return options
    }

    /// Which flagged memories writes quarantine: `$ENGRAM_QUARANTINE` names the highest trust level
    /// quarantined (default `external`), or `none`.
    static func quarantinePolicy() throws -> QuarantinePolicy {
        guard let text = CLIIO.current.environment["ENGRAM_QUARANTINE"] else { return .standard }
        if text == "none" { return .never }
        return QuarantinePolicy(flaggedAtOrBelow: try TrustLevel(name: text, field: "ENGRAM_QUARANTINE"))
    }
}

/// `--json` for commands that print data.
struct OutputFormat: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document instead of a table.")
    var json = false
}

/// The filter flags shared by recall, list, count, export and forget.
struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: "Only this namespace; a trailing '/' also matches everything below it.")
    var namespace: String?

    @Option(name: .long, help: "Only memories by this agent (repeatable: any of them).")
    var agent: [String] = []

    @Option(name: .long, help: "Only this kind: episode, fact, procedure, note, ... (repeatable).")
    var kind: [String] = []

    @Option(name: .long, help: "Only memories with this tag (repeatable: any of them).")
    var tag: [String] = []

    @Flag(name: .customLong("all-tags"), help: "With several --tag, require all of them instead of any.")
    var allTags = false

    @Option(
        name: .long,
        help: "Created at or after: ISO 8601 (2026-11-01, 2026-11-01T09:30:00Z) or an age (7d, 12h).")
    var since: String?

    @Option(name: .long, help: "Created before: ISO 8601 or an age.")
    var until: String?

    @Option(
        name: .customLong("where"),
        help: "Metadata condition meta.KEY=VALUE, meta.KEY>=N, meta.KEY<=N or meta.KEY=A|B (repeatable).")
    var conditions: [String] = []

    @Flag(
        name: .long, inversion: .prefixedNo,
        help: "Only memories that did (or with --no-succeeded, did not) work.")
    var succeeded: Bool?

    @Flag(name: .customLong("include-expired"), help: "Include memories whose expiry has passed.")
    var includeExpired = false

    @Option(
        name: .customLong("min-trust"),
        help: "Only memories trusted at least this much: untrusted, external, agent, user, system.")
    var minTrust: String?

    @Flag(name: .customLong("include-quarantined"), help: "Include quarantined memories.")
    var includeQuarantined = false

    @Option(name: .customLong("as-of"), help: "Only memories that held at this time (ISO 8601 or an age).")
    var asOf: String?

    @Flag(help: "Only memories that hold now (the default): those whose validity ended are left out.")
    var current = false

    @Flag(name: .customLong("any-time"), help: "Memories whatever their validity, ended ones too.")
    var anyTime = false

    /// True when no flag narrows the selection.
    var isEmpty: Bool {
        namespace == nil && agent.isEmpty && kind.isEmpty && tag.isEmpty && since == nil && until == nil
            && conditions.isEmpty && succeeded == nil && minTrust == nil && asOf == nil
    }

    func filter(now: Date = Date()) throws -> MemoryFilter {
        var f = MemoryFilter(includeExpired: includeExpired)
        f.namespace = namespace.map(FilterParsing.namespace)
        if !agent.isEmpty { f.agents = agent }
        if !kind.isEmpty { f.kinds = kind.map(MemoryKind.init(rawValue:)) }
        if !tag.isEmpty { f.tags = allTags ? .all(tag) : .any(tag) }
        if let since { f.createdAfter = try TimeParsing.date(since, field: "--since", now: now) }
        if let until { f.createdBefore = try TimeParsing.date(until, field: "--until", now: now) }
        f.succeeded = succeeded
        f.metadata = try conditions.map { try FilterParsing.condition($0) }
        f.minTrust = try minTrust.map { try TrustLevel(name: $0, field: "--min-trust") }
        f.includeQuarantined = includeQuarantined
        if [asOf != nil, current, anyTime].filter({ $0 }).count > 1 {
            throw EngramError.invalid("--as-of", "give one of --as-of, --current and --any-time")
        }
        if let asOf { f.validity = .asOf(try TimeParsing.date(asOf, field: "--as-of", now: now)) }
        if anyTime { f.validity = .any }
        return f
    }
}

/// How a text recall ranks: fusion, candidates per retriever and the ranking signals' weights.
struct RankingOptions: ParsableArguments {
    @Option(help: "Hybrid fusion: 'weighted:W' (vector weight W of min-max normalised scores) or 'rrf:K'.")
    var fusion: String?

    @Option(help: "Candidates each retriever contributes before fusion.")
    var candidates: Int?

    @Flag(
        name: .customLong("no-signals"),
        help: "Rank by relevance alone (no recency, importance, outcome or feedback boosts).")
    var noSignals = false

    @Option(
        help:
            "Share of the best time neighbour's relevance added to each candidate (0 turns it off; default 0.3)."
    )
    var neighbours: Double?

    @Option(
        name: .customLong("neighbour-window"),
        help: "Seconds within which memories count as time neighbours (default 3600).")
    var neighbourWindow: Double?

    @Option(
        help:
            "BM25 weights of the text columns, e.g. 'content=1,cause=0.5,outcome=2,tags=1' (unnamed ones stay 1)."
    )
    var columns: String?

    func options(mode: RecallMode) throws -> TextRecallOptions {
        var options = TextRecallOptions(mode: mode)
        if let fusion { options.fusion = try RankingParsing.fusion(fusion, field: "--fusion") }
        if let candidates { options.candidates = candidates }
        if noSignals { options.signals = .none }
        if let neighbours { options.neighbours = neighbours }
        if let neighbourWindow { options.neighbourWindow = neighbourWindow }
        if let columns { options.columns = try RankingParsing.columns(columns, field: "--columns") }
        return options
    }
}
