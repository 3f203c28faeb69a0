import ArgumentParser
import Engram
import EngramBenchSupport
import EngramService
import Foundation

/// `engram bench run --approximate`: the index on the benchmark's store, measured against the exact
/// ground truth: its recall, latency and size, optionally tuned to a target recall or swept over probe
/// counts; then filters of 1 %, 10 % and 50 % (never a short result), and the same after a churn that
/// replaces part of the memories (updates with new vectors and forgets), against a new exact answer.
struct ApproximateBench {
    let store: MemoryStore
    let queries: [[Float]]
    let truth: [[Int32]]
    let rowOfID: [MemoryID: Int32]
    let base: MappedVectors
    let dimension: Int
    let k: Int
    let rerank: Int
    let progress: (String) -> Void

    /// The kinds the benchmark gives its memories, so that kind filters admit 1 %, 10 % and 50 %.
    static func kind(of row: Int) -> MemoryKind { MemoryKind(rawValue: "b\(row % 100)") }
    static let selectivities: [(name: String, share: Int)] = [("1", 1), ("10", 10), ("50", 50)]

    static func filter(share: Int) -> MemoryFilter {
        MemoryFilter(kinds: (0..<share).map { MemoryKind(rawValue: "b\($0)") })
    }

    func run(
        lists: Int?, bits: Int, probes: Int?, targetRecall: Double?, sweep: [Int], churn: Double
    ) throws -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        progress("index...")
        let buildStart = ContinuousClock.now
        // The build uses every core (an offline job); the searches measured after it use one.
        let buildThreads = ProcessInfo.processInfo.activeProcessorCount
        let status = try store.buildIndex(lists: lists, bits: bits, threads: buildThreads) { p in
            progress("index \(p.phase) \(p.done)/\(p.total)")
        }
        result["index_build_s"] = .number(round3(seconds(ContinuousClock.now - buildStart)))
        result["index_build_threads"] = .number(Double(buildThreads))
        result["index_bytes"] = .number(Double(status.bytes))
        result["index_lists"] = .number(Double(status.lists))
        result["index_bits"] = .number(Double(status.bits))
        result["index_probes"] = .number(Double(status.probes))
        var settings = Self.settings(probes: probes, rerank: rerank)
        for q in queries.prefix(10) { _ = try store.recall(q, k: k, approximate: settings) }
        if let targetRecall {
            progress("tuning...")
            settings.probes = try ApproximateSearch.fewestProbes(reaching: targetRecall, lists: status.lists)
            {
                try measure(Self.settings(probes: $0, rerank: rerank)).recall
            }
            result["target_recall"] = .number(targetRecall)
        }
        progress("approximate queries...")
        let fresh = try measure(settings)
        result.merge(fresh.fields(prefix: "approx", nq: queries.count)) { $1 }
        result["approx_probes"] = .number(Double(settings.probes ?? status.probes))
        result["approx_rerank"] = .number(Double(settings.rerank))
        if !sweep.isEmpty {
            result["approx_curve"] = .array(
                try sweep.map { p in
                    progress("sweep \(p)...")
                    let point = try measure(Self.settings(probes: p, rerank: rerank))
                    var o = point.fields(prefix: "", nq: queries.count)
                    o["probes"] = .number(Double(p))
                    return .object(o)
                })
        }
        result.merge(try filtered(settings, suffix: "")) { $1 }
        if churn > 0 {
            let replaced = try replace(share: churn)
            progress("exact answer after the churn...")
            let exact = try store.recall(batch: queries, k: k, exact: true).map { $0.map(\.memory.id) }
            let after = try measure(settings, expected: exact)
            result["churn_share"] = .number(churn)
            result["churn_replaced"] = .number(Double(replaced))
            result.merge(after.fields(prefix: "churn_approx", nq: queries.count)) { $1 }
            let freshP50 = quantile(fresh.latencies, 0.5)
            result["churn_p50_ratio"] = .number(round3(quantile(after.latencies, 0.5) / max(freshP50, 1e-9)))
            result.merge(try filtered(settings, suffix: "_churn")) { $1 }
            if let s = try store.indexStatus() { result["churn_index_entries"] = .number(Double(s.entries)) }
        }
        return result
    }

    static func settings(probes: Int?, rerank: Int) -> ApproximateSearch {
        ApproximateSearch(exactBelow: 0, exactFraction: 0, probes: probes, rerank: rerank)
    }

    struct Measured {
        var recall: Double
        var latencies: [Double]
        var scored: Int
        var short: Int

        func fields(prefix: String, nq: Int) -> [String: JSONValue] {
            let name = { (field: String) in prefix.isEmpty ? field : "\(prefix)_\(field)" }
            let total = latencies.reduce(0, +)
            return [
                name("recall_at_k"): .number(round4(recall)),
                name("p50_ms"): .number(round3(quantile(latencies, 0.5))),
                name("p99_ms"): .number(round3(quantile(latencies, 0.99))),
                name("qps"): .number((Double(nq) / max(total / 1000, 1e-9)).rounded()),
                name("vectors_scored"): .number(Double(scored)),
            ]
        }
    }

    /// Single queries through the index; recall against `expected` ids, or the ground-truth rows.
    func measure(
        _ settings: ApproximateSearch, filter: MemoryFilter = .all, expected: [[MemoryID]]? = nil
    ) throws -> Measured {
        var latencies: [Double] = []
        var found = 0
        var wanted = 0
        var scored = 0
        var short = 0
        for (j, q) in queries.enumerated() {
            let t = ContinuousClock.now
            let (hits, plan) = try store.recall(q, k: k, filter: filter, approximate: settings)
            latencies.append(seconds(ContinuousClock.now - t) * 1000)
            scored += plan.vectorsScored
            // Short: fewer hits than the exact answer has (all of k without a filter).
            if hits.count < (expected?[j].count ?? k) { short += 1 }
            if let expected {
                let ids = Set(expected[j])
                wanted += ids.count
                found += hits.filter { ids.contains($0.memory.id) }.count
            } else {
                let rows = Set(truth[j].prefix(k))
                wanted += min(k, truth[j].count)
                found += hits.filter { rowOfID[$0.memory.id].map(rows.contains) ?? false }.count
            }
        }
        return Measured(
            recall: Double(found) / Double(max(1, wanted)), latencies: latencies,
            scored: scored / max(1, queries.count),
            short: short)
    }

    /// Kind filters admitting 1 %, 10 % and 50 %: recall against the exact filtered answer, latency, and
    /// how many queries came back short, through the index (forced) and as the planner chooses.
    func filtered(_ settings: ApproximateSearch, suffix: String) throws -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for (name, share) in Self.selectivities {
            progress("filter \(name) %\(suffix)...")
            let filter = Self.filter(share: share)
            let exact = try store.recall(batch: queries, k: k, filter: filter, exact: true).map {
                $0.map(\.memory.id)
            }
            let forced = try measure(settings, filter: filter, expected: exact)
            let planned = try measure(
                ApproximateSearch(probes: settings.probes, rerank: rerank), filter: filter, expected: exact)
            result["filter\(name)_recall_at_k\(suffix)"] = .number(round4(forced.recall))
            result["filter\(name)_p50_ms\(suffix)"] = .number(round3(quantile(forced.latencies, 0.5)))
            result["filter\(name)_short\(suffix)"] = .number(Double(forced.short + planned.short))
            result["filter\(name)_planned_p50_ms\(suffix)"] = .number(
                round3(quantile(planned.latencies, 0.5)))
            result["filter\(name)_planned_recall_at_k\(suffix)"] = .number(round4(planned.recall))
        }
        return result
    }

    /// Replaces `share` of the memories, spread over the store: half get a new vector (an update: a new
    /// version in a new slot), half are forgotten and a new memory remembered in their place. New vectors
    /// are other base rows with noise, so they follow the data's distribution.
    func replace(share: Double) throws -> Int {
        let ids = rowOfID.sorted { $0.value < $1.value }.map(\.key)
        let every = max(1, Int((1 / share).rounded()))
        var rng = SeededGenerator(seed: 99)
        var replaced = 0
        var forgotten: [MemoryID] = []
        var added: [NewMemory] = []
        let n = ids.count
        func vector(near row: Int) -> [Float] {
            let noise = rng.vector(dimension: dimension)
            return (0..<dimension).map { base[row, $0] + 0.05 * noise[$0] }
        }
        for (position, id) in ids.enumerated() where position % every == 0 {
            let source = (position * 7 + 13) % n
            if replaced % 2 == 0 {
                _ = try store.update(id, with: MemoryChanges(embedding: vector(near: source)))
            } else {
                forgotten.append(id)
                added.append(
                    NewMemory(
                        content: "churn \(position)", namespace: "bench", kind: Self.kind(of: position),
                        embedding: vector(near: source)))
            }
            replaced += 1
            if replaced % 1000 == 0 { progress("churn \(replaced)...") }
        }
        for start in stride(from: 0, to: forgotten.count, by: 10_000) {
            try store.forget(Array(forgotten[start..<min(start + 10_000, forgotten.count)]))
            try store.remember(Array(added[start..<min(start + 10_000, added.count)]))
        }
        return replaced
    }
}

extension Bench {
    struct Index: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Measure the approximate index on a store `bench run --store` left, without ingesting again.",
            discussion: """
                Builds the index on the store (replacing one it has) and reports the approx_* fields of \
                `bench run --approximate`, with --churn replacing that share of the memories afterwards (the \
                store keeps the change). The store's memories must be the base file's rows (`vector I`).
                """)

        @Option(help: "Base vectors (.fvecs) the store was made from.") var base: String
        @Option(help: "Query vectors (.fvecs).") var query: String
        @Option(help: "Exact neighbours (.ivecs).") var groundtruth: String
        @Option(help: "The store `bench run --store` made.") var store: String
        @Option(name: .short, help: "Neighbours per query.") var k = 10
        @Option(help: "Index lists (default: about 2 x sqrt(n)).") var lists: Int?
        @Option(help: "Bits per dimension of the index's codes: 4 or 8.") var bits = 4
        @Option(help: "Index lists read per query (default: a sixteenth of the lists).") var probes: Int?
        @Option(help: "Index candidates re-scored exactly per query.") var rerank = ApproximateSearch().rerank
        @Option(name: .customLong("target-recall"), help: "Tune the probes until recall@k reaches this.")
        var targetRecall: Double?
        @Option(help: "Also measure these probe counts (comma-separated).") var sweep: String?
        @Option(help: "Replace this share of the memories and measure again (0: no churn).") var churn = 0.0
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            let io = CLIIO.current
            let progress = { (text: String) in if io.stderrIsTerminal { io.writeError("\r\(text)\u{1B}[K") } }
            let baseVectors = try MappedVectors(path: base)
            let d = baseVectors.dimension
            let (queryValues, _) = try TexmexFile.readFloats(query)
            let (truthValues, width) = try TexmexFile.readInts(groundtruth)
            let nq = queryValues.count / d
            let queries = (0..<nq).map { Array(queryValues[($0 * d)..<(($0 + 1) * d)]) }
            let truth = (0..<nq).map { Array(truthValues[($0 * width)..<($0 * width + min(k, width))]) }
            var options = StoreOptions(durability: .normal, blasThreads: 1)
            options.searchThreads = 1
            let handle = try MemoryStore.open(at: store, options: options)
            defer { try? handle.close() }
            progress("reading ids...")
            var rowOfID: [MemoryID: Int32] = [:]
            var cursor: MemoryID?
            repeat {
                let page = try handle.list(after: cursor, limit: 10_000)
                for m in page.memories where m.content.hasPrefix("vector ") {
                    if let row = Int32(m.content.dropFirst(7)) { rowOfID[m.id] = row }
                }
                cursor = page.nextCursor
            } while cursor != nil
            let bench = ApproximateBench(
                store: handle, queries: queries, truth: truth, rowOfID: rowOfID, base: baseVectors,
                dimension: d,
                k: k, rerank: rerank, progress: progress)
            var result = try bench.run(
                lists: lists, bits: bits, probes: probes, targetRecall: targetRecall,
                sweep: sweep?.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 } ?? [],
                churn: churn)
            result["n"] = .number(Double(rowOfID.count))
            result["nq"] = .number(Double(nq))
            result["k"] = .number(Double(k))
            Bench.print(result, json: json)
        }
    }
}
