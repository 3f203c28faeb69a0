import ArgumentParser
import Engram
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
    func open(readOnly: Bool = false, durability: Durability = .normal, recordsUsage: Bool = true) throws -> StoreHandle {
        let scope = try ProcessScope.current()
        var options = StoreOptions(durability: durability, readOnly: readOnly)
        options.recordsUsage = recordsUsage
        let store = try MemoryStore.open(at: path, options: options)
        return StoreHandle(store: store, scoped: scope.map { store.scoped(to: $0) })
    }

    /// Opens the whole store, for a command that needs it; refused under `$ENGRAM_SCOPE`.
    func openWhole(for command: String, readOnly: Bool = false) throws -> MemoryStore {
        try ProcessScope.requireWholeStore(command)
        return try MemoryStore.open(at: path, options: StoreOptions(readOnly: readOnly))
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

    @Option(name: .long, help: "Created at or after: ISO 8601 (2026-11-01, 2026-11-01T09:30:00Z) or an age (7d, 12h).")
    var since: String?

    @Option(name: .long, help: "Created before: ISO 8601 or an age.")
    var until: String?

    @Option(
        name: .customLong("where"),
        help: "Metadata condition meta.KEY=VALUE, meta.KEY>=N, meta.KEY<=N or meta.KEY=A|B (repeatable).")
    var conditions: [String] = []

    @Flag(name: .long, inversion: .prefixedNo, help: "Only memories that did (or with --no-succeeded, did not) work.")
    var succeeded: Bool?

    @Flag(name: .customLong("include-expired"), help: "Include memories whose expiry has passed.")
    var includeExpired = false

    /// True when no flag narrows the selection.
    var isEmpty: Bool {
        namespace == nil && agent.isEmpty && kind.isEmpty && tag.isEmpty && since == nil && until == nil
            && conditions.isEmpty && succeeded == nil
    }

    func filter(now: Date = Date()) throws -> MemoryFilter {
        var f = MemoryFilter(includeExpired: includeExpired)
        if let ns = namespace {
            f.namespace = ns.hasSuffix("/") ? .prefix(String(ns.dropLast())) : .exact(ns)
        }
        if !agent.isEmpty { f.agents = agent }
        if !kind.isEmpty { f.kinds = kind.map(MemoryKind.init(rawValue:)) }
        if !tag.isEmpty { f.tags = allTags ? .all(tag) : .any(tag) }
        if let since { f.createdAfter = try TimeParsing.date(since, field: "--since", now: now) }
        if let until { f.createdBefore = try TimeParsing.date(until, field: "--until", now: now) }
        f.succeeded = succeeded
        f.metadata = try conditions.map(Self.condition)
        return f
    }

    /// Parses `meta.key=value`, `meta.key>=n`, `meta.key<=n`, `meta.key=a|b`.
    static func condition(_ text: String) throws -> MemoryFilter.MetadataCondition {
        guard text.hasPrefix("meta.") else {
            throw EngramError.invalid("--where", "must start with 'meta.' (e.g. meta.customer=acme)")
        }
        let body = text.dropFirst("meta.".count)
        for op in [">=", "<="] {
            if let r = body.range(of: op) {
                let key = String(body[..<r.lowerBound])
                guard let n = Double(body[r.upperBound...]), n.isFinite else {
                    throw EngramError.invalid("--where", "\(op) needs a number")
                }
                return .range(key, min: op == ">=" ? n : nil, max: op == "<=" ? n : nil)
            }
        }
        guard let eq = body.firstIndex(of: "=") else {
            throw EngramError.invalid("--where", "must look like meta.KEY=VALUE")
        }
        let key = String(body[..<eq])
        let value = String(body[body.index(after: eq)...])
        let parts = value.split(separator: "|", omittingEmptySubsequences: false).map { JSONValue.literal(String($0)) }
        return parts.count > 1 ? .isIn(key, parts) : .equals(key, parts[0])
    }
}

extension JSONValue {
    /// A command-line value: JSON when it parses as a number, boolean, null or quoted string; else a string.
    static func literal(_ text: String) -> JSONValue {
        if let v = try? JSONValue(parsing: text) {
            switch v {
            case .number, .bool, .null, .string: return v
            default: break
            }
        }
        return .string(text)
    }
}

/// Dates and durations on the command line.
enum TimeParsing {
    /// `7d`, `12h`, `30m`, `45s`, `2w` in seconds, or nil when the text is not a duration.
    static func duration(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let n = Double(text.dropLast()), n.isFinite, n >= 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        case "w": return n * 604_800
        default: return nil
        }
    }

    /// A positive duration, or an error naming the flag.
    static func ttl(_ text: String, field: String) throws -> TimeInterval {
        guard let d = duration(text), d > 0 else {
            throw EngramError.invalid(field, "must be a duration like 90s, 30m, 12h, 7d or 2w")
        }
        return d
    }

    /// ISO 8601 (date, date-time, with or without fractional seconds) or an age before `now`.
    static func date(_ text: String, field: String, now: Date) throws -> Date {
        if let age = duration(text) { return now.addingTimeInterval(-age) }
        if let d = iso8601(text) { return d }
        throw EngramError.invalid(field, "must be ISO 8601 (2026-11-01 or 2026-11-01T09:30:00Z) or an age like 7d")
    }

    static func iso8601(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withInternetDateTime]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withFullDate]
        return full.date(from: text)
    }

    /// ISO 8601 with milliseconds, UTC.
    static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}

/// How a text recall ranks: fusion, candidates per retriever and the ranking signals' weights.
struct RankingOptions: ParsableArguments {
    @Option(help: "Hybrid fusion: 'weighted:W' (vector weight W of min-max normalised scores) or 'rrf:K'.")
    var fusion: String?

    @Option(help: "Candidates each retriever contributes before fusion.")
    var candidates: Int?

    @Flag(name: .customLong("no-signals"), help: "Rank by relevance alone (no recency, importance, outcome or feedback boosts).")
    var noSignals = false

    func options(mode: RecallMode) throws -> TextRecallOptions {
        var options = TextRecallOptions(mode: mode)
        if let fusion {
            let parts = fusion.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw EngramError.invalid("--fusion", "must be weighted:W or rrf:K")
            }
            switch parts[0] {
            case "weighted": options.fusion = .weightedSum(vectorWeight: value)
            case "rrf": options.fusion = .reciprocalRank(k: value)
            default: throw EngramError.invalid("--fusion", "must be weighted:W or rrf:K")
            }
        }
        if let candidates { options.candidates = candidates }
        if noSignals { options.signals = .none }
        return options
    }
}
