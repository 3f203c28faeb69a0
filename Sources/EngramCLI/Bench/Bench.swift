import ArgumentParser
import Engram
import EngramBenchSupport
import EngramService
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Similarity-search benchmarks on TEXMEX files: generate data sets, run them against a store.",
        subcommands: [Generate.self, Run.self, Index.self, Open.self, Embed.self])
}

extension Bench {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write deterministic Gaussian-mixture vectors (L2-normalised) and exact top-100 ground truth.",
            discussion: "Writes DIR/base.fvecs, DIR/query.fvecs and DIR/groundtruth.ivecs.")

        @Option(help: "Base vectors.") var n: Int
        @Option(help: "Dimension.") var d: Int
        @Option(help: "Query vectors.") var nq: Int
        @Option(help: "Random seed.") var seed: UInt64 = 20_240_601
        @Option(help: "Mixture components.") var clusters = 256
        @Option(help: "Output directory.") var out: String

        func validate() throws {
            guard n > 0, nq > 0, (1...Limits.maxDimension).contains(d), clusters > 0 else {
                throw ValidationError(
                    "--n, --nq and --clusters must be positive and --d from 1 to \(Limits.maxDimension)")
            }
        }

        func run() throws {
            var rng = SeededGenerator(seed: seed)
            let centres = (0..<clusters).map { _ in normalized(rng.vector(dimension: d)) }
            func draw(_ count: Int) -> [Float] {
                var values: [Float] = []
                values.reserveCapacity(count * d)
                let noise = 1 / Double(d).squareRoot()
                for _ in 0..<count {
                    let c = centres[Int.random(in: 0..<clusters, using: &rng)]
                    values += normalized(c.map { $0 + Float(rng.gaussian() * noise) })
                }
                return values
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let dir = URL(fileURLWithPath: out)
            // The base is written a chunk at a time and searched mapped: 10M × 384 floats do not fit in
            // memory twice over.
            let basePath = dir.appendingPathComponent("base.fvecs").path
            guard FileManager.default.createFile(atPath: basePath, contents: nil),
                let file = FileHandle(forWritingAtPath: basePath)
            else { throw EngramError(.io, "cannot write \(basePath)") }
            for start in stride(from: 0, to: n, by: 10_000) {
                try TexmexFile.appendFloats(file, rows: draw(min(10_000, n - start)), dimension: d)
            }
            try file.close()
            let queries = draw(nq)
            try TexmexFile.writeFloats(
                dir.appendingPathComponent("query.fvecs").path, rows: queries, dimension: d)
            let k = min(100, n)
            let base = try MappedVectors(path: basePath)
            let truth = ExactSearch.topK(
                rows: base.rows, count: base.count, stride: base.stride, queries: queries, dimension: d, k: k)
            try TexmexFile.writeInts(
                dir.appendingPathComponent("groundtruth.ivecs").path, rows: truth.flatMap { $0 }, dimension: k
            )
            CLIIO.current.print(
                "wrote \(n) base and \(nq) query vectors of dimension \(d), and top-\(k) ground truth, to \(out)"
            )
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Ingest base vectors into a fresh durable store, reopen it, and measure recall speed and quality.",
            discussion: """
                Measures ingest (records and full-text index included, durability full; also the rate with the \
                full-text fill's time taken out), open time, single-query \
                latency (each query alone, after 10 warm-up queries), batch throughput (all queries in one call), \
                recall@k against the ground truth (computed by brute force when not given), and with --namespaces M \
                the latency of queries restricted to one of M equal namespaces. With --writes N it also times N \
                single-memory remembers into fresh stores under each durability, in alternating rounds.
                """)

        @Option(help: "Base vectors (.fvecs).") var base: String
        @Option(help: "Query vectors (.fvecs).") var query: String
        @Option(help: "Exact neighbours (.ivecs); computed when missing.") var groundtruth: String?
        @Option(name: .short, help: "Neighbours per query.") var k = 10
        @Option(help: "Threads for each scan, split by rows (OpenBLAS runs one thread under each).")
        var threads = 1
        @Option(help: "Element type of the store: f32 or f16.") var element = "f32"
        @Option(
            help: "Where to build the store (must not exist); default: a temporary directory, removed after.")
        var store: String?
        @Option(help: "Spread the base over this many namespaces and also time filtered queries.")
        var namespaces = 1
        @Option(name: .customLong("batch-size"), help: "Memories per ingest transaction.") var batchSize =
            10_000
        @Option(help: "Single-memory remembers to time under each durability (0: none).") var writes = 0
        @Flag(help: "Also build the approximate index and measure recall through it (approx_* fields).")
        var approximate = false
        @Option(
            name: .customLong("target-recall"),
            help: "Tune the index's probes until recall@k reaches this (implies --approximate).")
        var targetRecall: Double?
        @Option(help: "Index lists (default: about 2 x sqrt(n)).") var lists: Int?
        @Option(help: "Bits per dimension of the index's codes: 4 or 8.") var bits = 4
        @Option(help: "Index lists read per query (default: a sixteenth of the lists).") var probes: Int?
        @Option(help: "Index candidates re-scored exactly per query.") var rerank = ApproximateSearch().rerank
        @Option(
            help: ArgumentHelp(
                "Also measure these probe counts (comma-separated) on the one index: approx_curve in the JSON.",
                valueName: "probes,..."))
        var sweep: String?
        @Option(
            help:
                "With --approximate: replace this fraction of the memories (updates and forgets) and measure again."
        )
        var churn = 0.1
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard VectorElement(rawValue: element) != nil else {
                throw ValidationError("--element must be f32 or f16")
            }
            guard k >= 1, threads >= 1, namespaces >= 1, batchSize >= 1, writes >= 0 else {
                throw ValidationError("-k, --threads, --namespaces and --batch-size must be positive")
            }
            if let targetRecall, !(targetRecall > 0 && targetRecall <= 1) {
                throw ValidationError("--target-recall must be above 0 and at most 1")
            }
            guard (lists ?? 1) >= 1, (probes ?? 1) >= 1, rerank >= 1 else {
                throw ValidationError("--lists, --probes and --rerank must be positive")
            }
            guard bits == 8 || bits == 4 else { throw ValidationError("--bits must be 8 or 4") }
            guard (0...0.5).contains(churn) else { throw ValidationError("--churn must be from 0 to 0.5") }
        }

        func run() throws {
            let io = CLIIO.current
            let progress = { (text: String) in if io.stderrIsTerminal { io.writeError("\r\(text)\u{1B}[K") } }
            let baseVectors = try MappedVectors(path: base)
            let d = baseVectors.dimension
            let (queryValues, dq) = try TexmexFile.readFloats(query)
            guard d == dq else {
                throw EngramError.invalid("query", "has dimension \(dq) but the base has \(d)")
            }
            let n = baseVectors.count
            let nq = queryValues.count / d
            let queries = (0..<nq).map { Array(queryValues[($0 * d)..<(($0 + 1) * d)]) }

            progress("ground truth...")
            let truth: [[Int32]]
            if let groundtruth {
                let (values, width) = try TexmexFile.readInts(groundtruth)
                guard width >= min(k, n), values.count / width == nq else {
                    throw EngramError.invalid("groundtruth", "needs \(nq) rows of at least \(k) ids")
                }
                truth = (0..<nq).map { Array(values[($0 * width)..<($0 * width + min(k, width))]) }
            } else {
                truth = ExactSearch.topK(
                    rows: baseVectors.rows, count: n, stride: baseVectors.stride, queries: queryValues,
                    dimension: d, k: k)
            }

            let scratch = store == nil ? TemporaryPath() : nil
            let path = store ?? scratch?.path ?? ".bench-store"
            // The scan splits across threads itself; OpenBLAS threads under each part would oversubscribe.
            var options = StoreOptions(durability: .full, blasThreads: 1)
            options.searchThreads = threads
            var writer: MemoryStore? = try MemoryStore.create(
                at: path, dimension: d, embedder: "bench",
                element: VectorElement(rawValue: element) ?? .float32,
                options: options)
            var rowOfID: [MemoryID: Int32] = [:]
            rowOfID.reserveCapacity(n)
            let ingestStart = ContinuousClock.now
            for start in stride(from: 0, to: n, by: batchSize) {
                let end = min(start + batchSize, n)
                let batch = (start..<end).map { i in
                    NewMemory(
                        content: "vector \(i)",
                        namespace: namespaces > 1 ? "bench/ns\(i % namespaces)" : "bench",
                        kind: approximate || targetRecall != nil ? ApproximateBench.kind(of: i) : .fact,
                        embedding: baseVectors.row(i))
                }
                let ids = try writer?.remember(batch) ?? []
                for (offset, id) in ids.enumerated() { rowOfID[id] = Int32(start + offset) }
                progress("ingest \(end)/\(n)")
            }
            let ingestSeconds = seconds(ContinuousClock.now - ingestStart)
            let fullTextSeconds = seconds(writer?.fullTextFillTime ?? .zero)
            try writer?.close()
            writer = nil

            let openStart = ContinuousClock.now
            let store = try MemoryStore.open(at: path, options: options)
            let openMs = seconds(ContinuousClock.now - openStart) * 1000
            let rssOpen = residentMB()
            defer { try? store.close() }

            // The first recall after open pays for whatever open leaves to later (page faults, for one).
            let firstStart = ContinuousClock.now
            _ = try store.recall(queries[0], k: k, exact: true)
            let firstRecallMs = seconds(ContinuousClock.now - firstStart) * 1000

            progress("single queries...")
            for q in queries.prefix(10) { _ = try store.recall(q, k: k, exact: true) }
            var latencies: [Double] = []
            var found = 0
            var maxScoreError = 0.0
            for (j, q) in queries.enumerated() {
                let t = ContinuousClock.now
                let hits = try store.recall(q, k: k, exact: true)
                latencies.append(seconds(ContinuousClock.now - t) * 1000)
                let expected = Set(truth[j].prefix(k))
                found += hits.filter { rowOfID[$0.memory.id].map(expected.contains) ?? false }.count
                if j < 20 {
                    // Score error against the exact cosine in Double (of the raw base and query rows).
                    let qn = q.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    for hit in hits {
                        guard let row = rowOfID[hit.memory.id].map(Int.init) else { continue }
                        var dot = 0.0
                        var rn = 0.0
                        for t in 0..<d {
                            let b = Double(baseVectors[row, t])
                            dot += b * Double(q[t])
                            rn += b * b
                        }
                        maxScoreError = max(
                            maxScoreError, abs(Double(hit.score) - dot / (qn * rn.squareRoot())))
                    }
                }
            }
            let expectedTotal = truth.reduce(0) { $0 + min(k, $1.count) }

            progress("batch...")
            let batchStart = ContinuousClock.now
            let batchHits = try store.recall(batch: queries, k: k, exact: true)
            let batchSeconds = seconds(ContinuousClock.now - batchStart)
            var batchFound = 0
            for (j, hits) in batchHits.enumerated() {
                let expected = Set(truth[j].prefix(k))
                batchFound += hits.filter { rowOfID[$0.memory.id].map(expected.contains) ?? false }.count
            }

            var result: [String: JSONValue] = [
                "n": .number(Double(n)), "d": .number(Double(d)), "nq": .number(Double(nq)),
                "k": .number(Double(k)),
                "threads": .number(Double(threads)), "element": .string(element),
                "ingest_per_s": .number((Double(n) / ingestSeconds).rounded()),
                // The same ingest with the time of its full-text fill statements taken out.
                "ingest_without_full_text_per_s": .number(
                    (Double(n) / max(ingestSeconds - fullTextSeconds, 1e-9)).rounded()),
                "ingest_full_text_share": .number(round4(fullTextSeconds / ingestSeconds)),
                "open_ms": .number(round3(openMs)),
                "first_recall_ms": .number(round3(firstRecallMs)),
                "single_p50_ms": .number(round3(quantile(latencies, 0.5))),
                "single_p99_ms": .number(round3(quantile(latencies, 0.99))),
                "batch_qps": .number((Double(nq) / batchSeconds).rounded()),
                "recall_at_k": .number(round4(Double(found) / Double(max(1, expectedTotal)))),
                "batch_recall_at_k": .number(round4(Double(batchFound) / Double(max(1, expectedTotal)))),
                // Both include the base vectors this process read from the .fvecs file.
                "rss_open_mb": .number(rssOpen), "rss_mb": .number(residentMB()),
                "max_score_error": .number((maxScoreError * 1e7).rounded() / 1e7),
                "vector_file_mb": .number((Double(try store.stats().vectorFileBytes) / 1_048_576).rounded()),
                "blas_core": .string(OpenBLASKernels.activeCore),
                "kernels": .string(KernelLevel.current.rawValue),
            ]

            if approximate || targetRecall != nil {
                let bench = ApproximateBench(
                    store: store, queries: queries, truth: truth, rowOfID: rowOfID, base: baseVectors,
                    dimension: d, k: k, rerank: rerank, progress: progress)
                result.merge(
                    try bench.run(
                        lists: lists, bits: bits, probes: probes, targetRecall: targetRecall,
                        sweep: sweep?.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 } ?? [],
                        churn: churn)
                ) { $1 }
            }

            if namespaces > 1 {
                progress("filtered queries...")
                var filtered: [Double] = []
                var filteredFound = 0
                var filteredExpected = 0
                let checked = min(nq, 20)
                for (j, q) in queries.enumerated() {
                    let ns = j % namespaces
                    let filter = MemoryFilter(namespace: .exact("bench/ns\(ns)"))
                    let t = ContinuousClock.now
                    let hits = try store.recall(q, k: k, filter: filter)
                    filtered.append(seconds(ContinuousClock.now - t) * 1000)
                    if j < checked {
                        // Exact answer within the namespace: rows i with i % namespaces == ns.
                        let rows = Array(stride(from: ns, to: n, by: namespaces))
                        let subset = rows.flatMap(baseVectors.row)
                        let exact = ExactSearch.topK(base: subset, queries: q, dimension: d, k: k)[0].map {
                            rows[Int($0)]
                        }
                        filteredExpected += exact.count
                        let expected = Set(exact.map { Int32($0) })
                        filteredFound +=
                            hits.filter { rowOfID[$0.memory.id].map(expected.contains) ?? false }.count
                    }
                }
                result["namespaces"] = .number(Double(namespaces))
                result["filtered_p50_ms"] = .number(round3(quantile(filtered, 0.5)))
                result["filtered_p99_ms"] = .number(round3(quantile(filtered, 0.99)))
                result["filtered_recall_at_k"] = .number(
                    round4(Double(filteredFound) / Double(max(1, filteredExpected))))
            }
            if writes > 0 {
                progress("single remembers...")
                for (durability, p50) in try Self.rememberLatencies(writes, base: baseVectors) {
                    result["remember_p50_ms_\(durability.rawValue)"] = .number(round3(p50))
                }
            }
            Bench.print(result, json: json)
        }
    }
}

extension Bench {
    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time opening an existing store: open, the first recall after it, and a later recall.",
            discussion: """
                Each round opens the store (read-only unless --writable) in this process, runs one vector recall of a random unit \
                vector (the first after open), then another (warm), and closes it. Prints the medians over the \
                rounds and the resident memory after the first open. The files are read through the page cache: \
                run it twice to measure a warm cache.
                """)

        @Option(help: "The store directory.") var store: String
        @Option(help: "Rounds (opens) to take the medians of.") var rounds = 7
        @Flag(help: "Open for writing (taking the writer lock), as a server does; the default is read-only.")
        var writable = false
        @Option(name: .short, help: "Neighbours per recall.") var k = 10
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard rounds >= 1, k >= 1 else { throw ValidationError("--rounds and -k must be positive") }
        }

        func run() throws {
            var opens: [Double] = []
            var firsts: [Double] = []
            var warms: [Double] = []
            var rssOpen = 0.0
            var memories = 0
            var rng = SeededGenerator(seed: 7)
            for round in 0..<rounds {
                let start = ContinuousClock.now
                let handle = try MemoryStore.open(at: store, options: StoreOptions(readOnly: !writable))
                opens.append(seconds(ContinuousClock.now - start) * 1000)
                if round == 0 { rssOpen = residentMB() }
                let query = normalized(rng.vector(dimension: handle.dimension))
                let first = ContinuousClock.now
                _ = try handle.recall(query, k: k)
                firsts.append(seconds(ContinuousClock.now - first) * 1000)
                let warm = ContinuousClock.now
                _ = try handle.recall(query, k: k)
                warms.append(seconds(ContinuousClock.now - warm) * 1000)
                memories = try handle.count()
                try handle.close()
            }
            let result: [String: JSONValue] = [
                "memories": .number(Double(memories)), "rounds": .number(Double(rounds)),
                "open_ms": .number(round3(quantile(opens, 0.5))),
                // A fresh process's open: later rounds reuse memory the earlier ones already faulted in.
                "first_open_ms": .number(round3(opens[0])),
                "first_recall_ms": .number(round3(quantile(firsts, 0.5))),
                "warm_recall_ms": .number(round3(quantile(warms, 0.5))),
                "rss_open_mb": .number(rssOpen),
            ]
            let io = CLIIO.current
            if json {
                io.print(JSONOutput.line(.object(result)))
            } else {
                for (key, value) in result.sorted(by: { $0.key < $1.key }) {
                    io.print(
                        "\(key.padding(toLength: 22, withPad: " ", startingAt: 0)) \(value.stringValue ?? value.jsonText)"
                    )
                }
            }
        }
    }
}

extension Bench.Run {
    /// Median latency of one-memory remembers into a fresh store per durability, in 5 alternating
    /// rounds (the machine's noise falls on both alike).
    static func rememberLatencies(_ count: Int, base: MappedVectors) throws -> [(Durability, Double)] {
        let (rows, d) = (base.count, base.dimension)
        var stores: [(Durability, TemporaryPath, MemoryStore)] = []
        for durability in Durability.allCases {
            let scratch = TemporaryPath()
            let store = try MemoryStore.create(
                at: scratch.path, dimension: d, embedder: "bench",
                options: StoreOptions(durability: durability))
            stores.append((durability, scratch, store))
        }
        var latencies = [Durability: [Double]]()
        let rounds = 5
        for round in 0..<rounds {
            for (durability, _, store) in stores {
                for i in 0..<max(1, count / rounds) {
                    let row = (round * count + i) % rows
                    let memory = NewMemory(
                        content: "write \(round) \(i)", namespace: "bench", kind: .fact,
                        embedding: base.row(row))
                    let t = ContinuousClock.now
                    _ = try store.remember(memory)
                    latencies[durability, default: []].append(seconds(ContinuousClock.now - t) * 1000)
                }
            }
        }
        for (_, _, store) in stores { try store.close() }
        return Durability.allCases.map { ($0, quantile(latencies[$0] ?? [], 0.5)) }
    }
}

/// A scratch directory path removed when released.
private final class TemporaryPath {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "engram-bench-\(UUID().uuidString)"
    ).path
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

private func normalized(_ v: [Float]) -> [Float] {
    let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    return norm > 0 ? v.map { Float(Double($0) / norm) } : v
}

extension Bench {
    /// A benchmark's figures: one JSON line, or `key value` lines sorted by key (clearing the progress line).
    static func print(_ result: [String: JSONValue], json: Bool) {
        let io = CLIIO.current
        if io.stderrIsTerminal { io.writeError("\r\u{1B}[K") }
        if json {
            io.print(JSONOutput.line(.object(result)))
            return
        }
        let width = (result.keys.map(\.count).max() ?? 0) + 1
        for (key, value) in result.sorted(by: { $0.key < $1.key }) {
            io.print(
                "\(key.padding(toLength: width, withPad: " ", startingAt: 0)) \(value.stringValue ?? value.jsonText)"
            )
        }
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Nearest-rank quantile, 0 for no values.
func quantile(_ values: [Double], _ q: Double) -> Double { Quantile.of(values, q) ?? 0 }

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
func round4(_ x: Double) -> Double { (x * 10000).rounded() / 10000 }

private func residentMB() -> Double {
    (Double(ProcessMemory.residentBytes ?? 0) / 1_048_576).rounded()
}

extension Bench {
    struct Embed: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "embed",
            abstract: "Sentences per second of the MiniLM embedder: batches of 32 and single sentences.")

        @Option(
            help: "A text file with one sentence per line (default: the contents of fixtures/memories.jsonl)."
        )
        var sentences: String = "fixtures/memories.jsonl"
        @Option(help: "Sentences per batch.") var batch = 32
        @Option(help: "Timed rounds.") var rounds = 3
        @Option(help: "Threads per embed call (default: one per processor, at most 8).") var threads: Int?
        @Option(
            help:
                "Weights in memory: bfloat16, float16 or float32 (default: bfloat16 where the CPU has its dot products, else float16)."
        )
        var weights: String?
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            let io = CLIIO.current
            if let threads, threads < 1 { throw EngramError.invalid("--threads", "must be at least 1") }
            guard let text = try? String(contentsOfFile: sentences, encoding: .utf8) else {
                throw EngramError(.notFound, "cannot read \(sentences)", field: "--sentences")
            }
            let lines: [String] = text.split(separator: "\n").map { line in
                if let value = try? JSONValue(parsing: String(line)), case .object(let o) = value,
                    let content = o["what"]?.stringValue ?? o["content"]?.stringValue
                {
                    return content
                }
                return String(line)
            }
            guard !lines.isEmpty else { throw EngramError.invalid("--sentences", "has no sentences") }
            guard let precision = weights.map(MiniLMEmbedder.WeightPrecision.init(rawValue:)) ?? .preferred
            else {
                throw EngramError.invalid("--weights", "must be bfloat16, float16 or float32")
            }
            let model = try MiniLMEmbedder(
                directory: ModelFiles.miniLMDirectory(environment: io.environment), threads: threads,
                weights: precision)
            _ = try model.embed(Array(lines.prefix(8)))  // warm-up: maps the weights
            var batchRates: [Double] = []
            var singleRates: [Double] = []
            for _ in 0..<rounds {
                var start = ContinuousClock.now
                for first in stride(from: 0, to: lines.count, by: batch) {
                    _ = try model.embed(Array(lines[first..<min(first + batch, lines.count)]))
                }
                batchRates.append(Double(lines.count) / seconds(ContinuousClock.now - start))
                start = ContinuousClock.now
                for line in lines.prefix(64) { _ = try model.embed([line]) }
                singleRates.append(Double(min(64, lines.count)) / seconds(ContinuousClock.now - start))
            }
            let tokens = lines.reduce(0) { $0 + model.tokenIDs($1).count }
            let result: [String: JSONValue] = [
                "sentences": .number(Double(lines.count)),
                "mean_tokens": .number(round3(Double(tokens) / Double(lines.count))),
                "batch": .number(Double(batch)), "threads": .number(Double(model.threads)),
                "weights": .string(precision.rawValue),
                "batch_sentences_per_s": .number(quantile(batchRates, 0.5).rounded()),
                "single_sentences_per_s": .number(quantile(singleRates, 0.5).rounded()),
                "blas_core": .string(OpenBLASKernels.activeCore),
                "kernels": .string(KernelLevel.current.rawValue),
                "encoder_tile": .string(MiniLMEmbedder.kernelTile),
            ]
            if json {
                io.print(JSONOutput.line(.object(result)))
            } else {
                for (key, value) in result.sorted(by: { $0.key < $1.key }) {
                    io.print("\(key)  \(value.jsonText)")
                }
            }
        }
    }
}
