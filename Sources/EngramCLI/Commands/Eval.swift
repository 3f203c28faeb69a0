import ArgumentParser
import Engram
import EngramService
import Foundation

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure recall quality: judged queries against a store, per recall mode.",
        discussion: """
            Each line of --queries is a JSON object: {"query": "text", "relevant": ["ID", ...]} with the relevant \\
            memories' ids, or with "relevant_key": "KEY" and the values their metadata field KEY holds. Optional: \\
            "namespace" (the query is asked in that namespace only) and "group" (a label; --by-group reports each). \\
            Every query is asked once per mode with `engram recall`'s defaults for that mode, k = 20. Prints \\
            recall@1/5/10/20, hit@10, MRR and nDCG@10, with latency p50 / p99 (embedding included). The store is \\
            opened read-only and recalls made here do not count toward memories' usage.
            """)

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Option(help: "The judged queries (JSONL; '-' reads standard input).")
    var queries: String

    @Option(
        help: "Import this JSONL of memories into a new temporary store and measure that instead of --store.")
    var memories: String?

    @Option(help: "Comma-separated recall modes to measure: vector, keyword, hybrid.")
    var modes = "vector,keyword,hybrid"

    @Flag(name: .customLong("by-group"), help: "Also report each query group.")
    var byGroup = false

    @Flag(
        help: """
            Also plant, for each judged query, a near copy of one of its relevant memories carrying an injected \
            instruction, from an external source (needs --memories), and report how many planted memories reach \
            the top 10: with the store's defaults (quarantine) and min trust agent, and with neither.
            """)
    var poison = false

    @OptionGroup var ranking: RankingOptions

    struct Query {
        var text: String
        var relevant: Set<String>
        var key: String?
        var namespace: String?
        var group: String?
    }

    func run() async throws {
        let io = CLIIO.current
        let modes = try self.modes.split(separator: ",").map { name in
            guard let mode = RecallMode(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw EngramError.invalid("--modes", "'\(name)' is not one of vector, keyword, hybrid")
            }
            return mode
        }
        let judged = try Self.parse(try readInput(queries, field: "--queries"))
        guard !judged.isEmpty else { throw EngramError.invalid("--queries", "holds no queries") }

        var scratch: TemporaryStore?
        var location = self.location
        if let memories {
            let temporary = try TemporaryStore()
            scratch = temporary
            location.store = temporary.path
            try await temporary.importMemories(memories)
        }
        defer { scratch?.remove() }
        var planted = Set<String>()
        if poison {
            guard scratch != nil else { throw EngramError.invalid("--poison", "needs --memories") }
            planted = try await Poisoning.plant(judged, location: location)
        }
        let store = try location.open(readOnly: true, recordsUsage: false)
        defer { try? store.close() }
        let byKey = try Self.keyIndex(store, keys: Set(judged.compactMap(\.key)))
        let embedder = modes.contains(where: { $0 != .keyword }) ? try textEmbedder(for: store) : nil

        var report: [String: JSONValue] = [:]
        var rows: [(String, RetrievalMetrics, Int, Double?, Double?)] = []
        for mode in modes {
            var perQuery: [(group: String?, metrics: RetrievalMetrics)] = []
            var latencies: [Double] = []
            var poisoning = Poisoning.Tally()
            for q in judged {
                let relevant = Self.relevantIDs(of: q, byKey: byKey)
                var filter = MemoryFilter()
                if let ns = q.namespace { filter.namespace = .exact(ns) }
                if poison { filter.minTrust = .agent }
                let started = ContinuousClock.now
                let hits = try store.recall(
                    text: q.text, embedder: embedder, k: 20, filter: filter, minScore: nil,
                    options: try ranking.options(mode: mode))
                latencies.append(Self.milliseconds(ContinuousClock.now - started))
                if poison {
                    var open = filter
                    (open.minTrust, open.includeQuarantined) = (nil, true)
                    let unprotected = try store.recall(
                        text: q.text, embedder: embedder, k: 10, filter: open, minScore: nil,
                        options: try ranking.options(mode: mode))
                    poisoning.add(
                        protected: Array(hits.prefix(10)), unprotected: unprotected, planted: planted)
                }
                guard !relevant.isEmpty else { continue }  // its relevant memories are not in the store
                perQuery.append(
                    (q.group, RetrievalMetrics(ranked: hits.map(\.memory.id.description), relevant: relevant))
                )
            }
            let overall = RetrievalMetrics.mean(perQuery.map(\.metrics))
            let p50 = Quantile.of(latencies, 0.5)
            let p99 = Quantile.of(latencies, 0.99)
            rows.append((mode.rawValue, overall, perQuery.count, p50, p99))
            var entry = Self.json(overall, count: perQuery.count)
            entry["latency_p50_ms"] = p50.map(JSONValue.number) ?? .null
            entry["latency_p99_ms"] = p99.map(JSONValue.number) ?? .null
            if poison { entry["poison"] = poisoning.json(planted: planted.count) }
            if byGroup {
                var groups: [String: JSONValue] = [:]
                for group in Set(perQuery.compactMap(\.group)).sorted() {
                    let members = perQuery.filter { $0.group == group }.map(\.metrics)
                    let mean = RetrievalMetrics.mean(members)
                    groups[group] = .object(Self.json(mean, count: members.count))
                    rows.append(("  \(group)", mean, members.count, nil, nil))
                }
                entry["groups"] = .object(groups)
            }
            report[mode.rawValue] = .object(entry)
        }
        let unjudged = judged.count - (rows.first?.2 ?? judged.count)
        if output.json {
            io.print(
                JSONOutput.pretty(
                    .object([
                        "queries": .number(Double(judged.count)), "k": .number(20), "modes": .object(report),
                    ])))
            return
        }
        func pad(_ s: String, _ width: Int) -> String {
            s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
        }
        io.print(
            pad("mode", 14) + "queries    R@1    R@5   R@10   R@20 hit@10    MRR nDCG@10   p50 ms   p99 ms")
        for (name, m, n, p50, p99) in rows {
            let latency = p50.map { String(format: " %8.2f %8.2f", $0, p99 ?? 0) } ?? ""
            io.print(
                pad(name, 14)
                    + String(
                        format: "%7d %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %7.3f", n,
                        m.recall[1] ?? 0, m.recall[5] ?? 0, m.recall[10] ?? 0, m.recall[20] ?? 0, m.hitAt10,
                        m.reciprocalRank, m.ndcgAt10) + latency)
        }
        if poison {
            io.print("poison: \(planted.count) planted; memories of them in top 10s:")
            for mode in modes {
                guard case .object(let entry)? = report[mode.rawValue], case .object(let p)? = entry["poison"]
                else {
                    continue
                }
                func count(_ name: String) -> Int { Int(p[name]?.numberValue ?? 0) }
                io.print(
                    "  \(pad(mode.rawValue, 10)) \(count("in_top10_protected")) with the defaults and min trust agent, "
                        + "\(count("in_top10_unprotected")) with neither (ranked first for \(count("queries_hijacked_unprotected")) queries)"
                )
            }
        }
        if unjudged > 0 {
            io.printError("engram: \(unjudged) queries have no relevant memory in the store; not scored")
        }
    }

    static func json(_ m: RetrievalMetrics, count: Int) -> [String: JSONValue] {
        var o: [String: JSONValue] = [
            "queries": .number(Double(count)), "hit_at_10": .number(m.hitAt10),
            "mrr": .number(m.reciprocalRank),
            "ndcg_at_10": .number(m.ndcgAt10),
        ]
        for (n, r) in m.recall { o["recall_at_\(n)"] = .number(r) }
        return o
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// The judged queries of a JSONL text, with an error naming the line and field of the first bad one.
    static func parse(_ data: Data) throws -> [Query] {
        var result: [Query] = []
        for (number, value) in JSONLines.values(data) {
            do {
                guard case .object(let o) = try value.get() else {
                    throw EngramError.invalid("line", "must be a JSON object")
                }
                let known: Set<String> = ["query", "relevant", "relevant_key", "namespace", "group"]
                if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
                    throw EngramError.invalid(unknown, "is not a query field")
                }
                guard case .string(let text)? = o["query"], !text.allSatisfy(\.isWhitespace) else {
                    throw EngramError.invalid("query", "must be a non-empty string")
                }
                guard case .array(let items)? = o["relevant"], !items.isEmpty else {
                    throw EngramError.invalid("relevant", "must be a non-empty array")
                }
                let relevant = try items.map { item -> String in
                    switch item {
                    case .string(let s): return s
                    case .number(let n): return JSONValue.number(n).jsonText
                    default: throw EngramError.invalid("relevant", "holds only strings or numbers")
                    }
                }
                func string(_ field: String) throws -> String? {
                    switch o[field] {
                    case nil, .null?: return nil
                    case .string(let s)?: return s
                    default: throw EngramError.invalid(field, "must be a string")
                    }
                }
                let key = try string("relevant_key")
                result.append(
                    Query(
                        text: text, relevant: Set(relevant), key: key == "id" ? nil : key,
                        namespace: try string("namespace"), group: try string("group")))
            } catch let error as EngramError {
                throw EngramError(error.code, "line \(number): \(error.message)", field: error.field)
            }
        }
        return result
    }

    /// The ids of a query's relevant memories: as given, or those whose metadata key holds a given value.
    static func relevantIDs(of q: Query, byKey: [String: [String]]) -> Set<String> {
        guard let key = q.key else { return q.relevant }
        return Set(q.relevant.flatMap { byKey[keyed(key, $0, namespace: q.namespace)] ?? [] })
    }

    static func keyed(_ key: String, _ value: String, namespace: String?) -> String {
        "\(namespace ?? "")\u{1F}\(key)\u{1F}\(value)"
    }

    /// For each metadata key the queries refer to: (namespace, key, value) -> ids of the memories holding it.
    static func keyIndex(_ store: ScopedStore, keys: Set<String>) throws -> [String: [String]] {
        guard !keys.isEmpty else { return [:] }
        var index: [String: [String]] = [:]
        var cursor: MemoryID?
        repeat {
            let page = try store.list(filter: MemoryFilter(includeExpired: true), after: cursor, limit: 1000)
            for m in page.memories {
                for key in keys {
                    let value: String
                    switch m.metadata[key] {
                    case .string(let s)?: value = s
                    case .number(let n)?: value = JSONValue.number(n).jsonText
                    default: continue
                    }
                    for ns in [m.namespace, nil] as [String?] {
                        index[keyed(key, value, namespace: ns), default: []].append(m.id.description)
                    }
                }
            }
            cursor = page.nextCursor
        } while cursor != nil
        return index
    }
}

/// A store in a fresh temporary directory, for measuring runs over a JSONL of memories.
struct TemporaryStore {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("engram-eval-\(UUID().uuidString)")
            .path
        let create = try Init.parse(["--store", path])
        try Self.quietly { try create.run() }
    }

    /// Imports through `engram import` itself, so the store holds what a user's import would.
    func importMemories(_ file: String) async throws {
        let command = try Import.parse(["--store", path, file])
        let quiet = Self.quiet()
        try await CLIIO.$current.withValue(quiet) { try await command.run() }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Runs a command with its standard output sent to standard error, keeping ours for the report.
    private static func quietly(_ body: () throws -> Void) throws {
        try CLIIO.$current.withValue(quiet()) { try body() }
    }

    /// The current output with its standard output sent to standard error.
    private static func quiet() -> CLIIO {
        let io = CLIIO.current
        return CLIIO(
            stdin: { io.readStdin() }, out: { io.writeError($0) }, err: { io.writeError($0) },
            stdinIsTerminal: io.stdinIsTerminal, stderrIsTerminal: io.stderrIsTerminal,
            environment: io.environment)
    }
}
