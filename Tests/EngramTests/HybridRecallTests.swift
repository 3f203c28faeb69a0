import Engram
import EngramTestSupport
import Foundation
import Testing

/// An embedder that returns the vectors it was given for each text: text recall tests control exactly
/// which vector a query has.
struct TableEmbedder: Embedder {
    let identifier = "custom"
    let dimension: Int
    let table: [String: [Float]]

    func embed(_ texts: [String]) throws -> [[Float]] {
        try texts.map { text in
            guard let v = table[text] else { throw EngramError.invalid("text", "not in the test table") }
            return v
        }
    }
}

/// FTS5's BM25 (k1 = 1.2, b = 0.75) computed independently in Double, for memories whose only text is
/// `content` (no cause, outcome or tags), made of words porter stemming leaves unchanged. Every row of
/// the index also holds one namespace term, which counts toward its length but never matches.
struct BM25Oracle {
    var documents: [(id: MemoryID, words: [String])] = []

    func scores(_ terms: [String]) -> [MemoryID: Double] {
        let n = Double(documents.count)
        let lengths = documents.map { Double($0.words.count + 1) }
        let average = lengths.reduce(0, +) / n
        var result: [MemoryID: Double] = [:]
        let idf = Dictionary(
            uniqueKeysWithValues: terms.map { term in
                let hits = Double(documents.filter { $0.words.contains(term) }.count)
                let value = log((n - hits + 0.5) / (hits + 0.5))
                return (term, value <= 0 ? 1e-6 : value)
            })
        for (doc, length) in zip(documents, lengths) where terms.contains(where: doc.words.contains) {
            var score = 0.0
            for term in terms {
                let tf = Double(doc.words.filter { $0 == term }.count)
                score += (idf[term] ?? 0) * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / average))
            }
            result[doc.id] = score
        }
        return result
    }
}

@Suite("Hybrid text recall")
struct HybridRecallTests {
    static let vocabulary = [
        "alpha", "bravo", "delta", "golf", "hotel", "kilo", "lima", "oscar", "papa", "tango", "zulu",
    ]
    static let namespaces = ["big", "big/a", "big/b", "small"]

    struct Fixture {
        let dir = TemporaryDirectory()
        let store: MemoryStore
        var vectors = BruteForceOracle()
        var text = BM25Oracle()
        var namespaceOf: [MemoryID: String] = [:]
        var succeededOf: [MemoryID: Bool?] = [:]

        init(count: Int = 400, dimension: Int = 16, seed: UInt64 = 7) throws {
            store = try MemoryStore.create(at: dir.appending("s"), dimension: dimension)
            var g = SeededGenerator(seed: seed)
            var batch: [NewMemory] = []
            var words: [[String]] = []
            for i in 0..<count {
                let length = 3 + Int(g.next() % 10)
                let w = (0..<length).map { _ in
                    HybridRecallTests.vocabulary[Int(g.next() % UInt64(HybridRecallTests.vocabulary.count))]
                }
                // 1 in 20 memories lives in "small": a small namespace inside a larger store.
                let namespace = i % 20 == 0 ? "small" : HybridRecallTests.namespaces[i % 3]
                let succeeded: Bool? = i % 3 == 0 ? true : i % 3 == 1 ? false : nil
                // Creation times out of slot order, some equal (the id breaks those ties).
                batch.append(
                    NewMemory(
                        content: w.joined(separator: " ") + " \(i)", succeeded: succeeded,
                        namespace: namespace,
                        embedding: g.vector(dimension: dimension),
                        createdAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(g.next() % 2_000))))
                words.append(w + ["\(i)"])
            }
            let ids = try store.remember(batch)
            for (i, id) in ids.enumerated() {
                vectors.entries.append(.init(id: id, vector: batch[i].embedding))
                text.documents.append((id, words[i]))
                namespaceOf[id] = batch[i].namespace
                succeededOf[id] = batch[i].succeeded
            }
        }
    }

    /// Compares scored hits with an oracle's scores: the right count, each score equal to the oracle's,
    /// nothing missing above the k-th score (ties at the k-th place may go either way).
    static func mismatch(
        _ hits: [(MemoryID, Double)], oracle: [MemoryID: Double], k: Int, tolerance: Double = 1e-9
    ) -> String? {
        let truth = oracle.sorted { $0.value > $1.value }
        guard hits.count == min(k, truth.count) else {
            return "got \(hits.count) hits, expected \(min(k, truth.count))"
        }
        let kth = truth.prefix(k).last?.value ?? 0
        for (id, score) in hits {
            guard let s = oracle[id] else { return "hit \(id) is not an admitted match" }
            if abs(s - score) > tolerance * max(1, abs(s)) { return "score \(score) vs oracle \(s)" }
            if s < kth - tolerance { return "a hit scores below the k-th" }
        }
        let got = Set(hits.map(\.0))
        for (id, s) in truth where s > kth + tolerance && !got.contains(id) {
            return "missing a match scoring \(s)"
        }
        return nil
    }

    @Test("keyword recall and search equal the BM25 oracle, filtered before ranking", arguments: [1, 5, 30])
    func keywordOracle(k: Int) throws {
        let f = try Fixture()
        let filters: [(MemoryFilter, (MemoryID) -> Bool)] = [
            (.all, { _ in true }),
            (MemoryFilter(namespace: .exact("small")), { f.namespaceOf[$0] == "small" }),
            (MemoryFilter(namespace: .prefix("big")), { f.namespaceOf[$0]!.hasPrefix("big") }),
            (
                MemoryFilter(namespace: .exact("big/a"), succeeded: true),
                { f.namespaceOf[$0] == "big/a" && f.succeededOf[$0] == true }
            ),
        ]
        for query in ["alpha zulu", "the tango", "kilo papa lima oscar"] {
            let terms = query.split(separator: " ").map(String.init).filter { $0 != "the" }
            let all = f.text.scores(terms)
            for (filter, admit) in filters {
                let oracle = all.filter { admit($0.key) }
                let hits = try f.store.recall(
                    text: query, embedder: nil, k: k, filter: filter,
                    options: TextRecallOptions(mode: .keyword, signals: .none, neighbours: 0))
                let scored = hits.map { ($0.memory.id, $0.explanation!.keywordScore!) }
                #expect(
                    Self.mismatch(scored, oracle: oracle, k: k) == nil,
                    "\(query) \(filter): \(Self.mismatch(scored, oracle: oracle, k: k) ?? "")")
                let found = try f.store.search(text: query, k: k, filter: filter).map {
                    ($0.memory.id, $0.score)
                }
                #expect(Self.mismatch(found, oracle: oracle, k: k) == nil)
                #expect(hits.allSatisfy { admit($0.memory.id) })
            }
        }
    }

    @Test("cached document frequencies follow every commit, in the writer and in a read-only handle")
    func frequenciesFollowCommits() throws {
        var f = try Fixture(count: 120)
        let reader = try MemoryStore.open(at: f.dir.appending("s"), options: StoreOptions(readOnly: true))
        defer { try? reader.close() }
        let readerKnows = Set(f.text.documents.map(\.id))
        var g = SeededGenerator(seed: 5)
        func check(_ moment: String, reader included: Bool = true) throws {
            let oracle = f.text.scores(["bravo", "golf"])
            var handles: [(String, MemoryStore, (MemoryID) -> Bool)] = [("writer", f.store, { _ in true })]
            if included { handles.append(("reader", reader, { readerKnows.contains($0) })) }
            for (name, store, admit) in handles {
                // Twice: the second query reuses the counts the first one cached.
                for _ in 0..<2 {
                    let hits = try store.recall(
                        text: "bravo golf", embedder: nil, k: 1000, filter: .all,
                        options: TextRecallOptions(mode: .keyword, signals: .none, neighbours: 0))
                    let scored = hits.map { ($0.memory.id, $0.explanation!.keywordScore!) }
                    let problem = Self.mismatch(scored, oracle: oracle.filter { admit($0.key) }, k: 1000)
                    #expect(problem == nil, "\(name) \(moment): \(problem ?? "")")
                }
            }
        }
        try check("before any write")
        // More memories holding "bravo" lower its IDF for every row, including rows the reader knows.
        let added = (0..<30).map { i in
            NewMemory(
                content: "bravo bravo kilo \(9000 + i)", namespace: "big", embedding: g.vector(dimension: 16))
        }
        for (i, id) in try f.store.remember(added).enumerated() {
            f.text.documents.append((id, ["bravo", "bravo", "kilo", "\(9000 + i)"]))
        }
        try check("after remember")
        // The new version has a new id, unknown to the reader's snapshot; the old one stops matching.
        let updated = try f.store.update(
            f.text.documents[3].id, with: MemoryChanges(content: "golf golf golf tango"))
        f.text.documents[3] = (updated.id, ["golf", "golf", "golf", "tango"])
        try check("after update")
        let gone = f.text.documents.prefix(40).map(\.id)
        _ = try f.store.forget(gone)
        f.text.documents.removeFirst(40)
        try check("after forget")
        // Compaction renumbers slots and merges the full-text index into one segment: same scores. (A
        // read-only handle opened before it keeps its old slot numbers until it reopens.)
        try f.store.compact()
        try check("after compaction", reader: false)
    }

    @Test(
        "time neighbours: context from the memories just before and after, within namespace and filter, equals an oracle"
    )
    func neighbourOracle() throws {
        let f = try Fixture(count: 200)
        var g = SeededGenerator(seed: 41)
        let created = Dictionary(
            uniqueKeysWithValues: try f.text.documents.map { ($0.id, try f.store.memory($0.id).createdAt) })
        // Creation times are independent of namespaces: the filter leaves gaps inside each namespace.
        let cutoff = Date(timeIntervalSince1970: 1_700_000_600)
        let filter = MemoryFilter(namespace: .prefix("big"), createdAfter: cutoff)
        let admitted = Set(
            f.namespaceOf.keys.filter { f.namespaceOf[$0]!.hasPrefix("big") && created[$0]! >= cutoff })
        // Each namespace's admitted memories in (creation time, id) order.
        var order: [String: [MemoryID]] = [:]
        for id in admitted { order[f.namespaceOf[id]!, default: []].append(id) }
        for ns in order.keys { order[ns]!.sort { (created[$0]!, $0) < (created[$1]!, $1) } }
        // Creation times are spread over 2,000 s: a 300 s window leaves some adjacent memories out.
        let window = 300.0
        func around(_ id: MemoryID) -> [MemoryID] {
            let list = order[f.namespaceOf[id]!]!, i = list.firstIndex(of: id)!
            return [i - 1, i + 1].filter { list.indices.contains($0) }.map { list[$0] }
                .filter { abs(created[$0]!.timeIntervalSince(created[id]!)) <= window }
        }
        var (evaluated, checked) = (0, 0)
        // The largest weight, so that neighbours no retriever returned compete for the k places too.
        let weight = 1.0
        for query in [
            "bravo golf", "kilo", "alpha tango", "papa lima", "zulu oscar hotel", "delta", "golf hotel",
            "lima kilo",
        ] {
            let c = 5
            let vector = g.vector(dimension: 16)
            let cosine = Dictionary(
                uniqueKeysWithValues: f.vectors.ranking(vector, where: admitted.contains).map {
                    ($0.id, $0.score)
                })
            let bm25 = f.text.scores(query.split(separator: " ").map(String.init)).filter {
                admitted.contains($0.key)
            }
            let byCosine = cosine.sorted { $0.value > $1.value }, byBM25 = bm25.sorted { $0.value > $1.value }
            // The pools must be unambiguous: no tie at the c-th place of either side.
            guard byBM25.count > c, byBM25[c - 1].value > byBM25[c].value + 1e-9 else { continue }
            evaluated += 1
            let keywordSide = Dictionary(uniqueKeysWithValues: byBM25.prefix(c).map { ($0.key, $0.value) })
            let pool = Set(byCosine.prefix(c).map(\.key)).union(keywordSide.keys)
            func minMax(_ d: [MemoryID: Double]) -> [MemoryID: Double] {
                let lo = d.values.min()!, hi = d.values.max()!
                return d.mapValues { hi > lo ? ($0 - lo) / (hi - lo) : 1 }
            }
            let cn = minMax(cosine.filter { pool.contains($0.key) }), kn = minMax(keywordSide)
            let fused = Dictionary(
                uniqueKeysWithValues: pool.map { ($0, 0.5 * cn[$0]! + 0.5 * (kn[$0] ?? 0)) })
            // Without signals, and with an outcome boost (what worked +0.2), which lets neighbours that no
            // retriever returned climb further: the engine skips only those that cannot reach the k places.
            for outcome in [0.0, 0.2] {
                var score: [MemoryID: Double] = [:]
                for id in pool.union(pool.flatMap(around)) {
                    let context = around(id).compactMap { fused[$0] }.max() ?? 0
                    score[id] =
                        (fused[id] ?? 0) + weight * context + (f.succeededOf[id] == true ? outcome : 0)
                }
                let embedder = TableEmbedder(dimension: 16, table: [query: vector])
                let signals = RankingSignals(recency: 0, importance: 0, outcome: outcome, feedback: 0)
                let hits = try f.store.recall(
                    text: query, embedder: embedder, k: c, filter: filter,
                    options: TextRecallOptions(
                        mode: .hybrid, candidates: c, signals: signals, neighbours: weight,
                        neighbourWindow: window))
                let scored = hits.map { ($0.memory.id, $0.explanation!.score) }
                // Cosines are Float in the engine, Double in the oracle.
                let problem = Self.mismatch(scored, oracle: score, k: c, tolerance: 1e-6)
                #expect(problem == nil, "\(query), outcome \(outcome): \(problem ?? "")")
                for hit in hits {
                    let e = hit.explanation!
                    #expect(abs(e.fused - (fused[hit.memory.id] ?? 0)) < 1e-6)
                    #expect(
                        abs(e.context - weight * (around(hit.memory.id).compactMap { fused[$0] }.max() ?? 0))
                            < 1e-6)
                }
                // Some hit must owe its place to a neighbour, or the test would not be testing anything.
                if hits.contains(where: { fused[$0.memory.id] == nil || $0.explanation!.context > 0 }) {
                    checked += 1
                }
            }
        }
        #expect(
            evaluated >= 4 && checked >= 4,
            "\(evaluated) queries without ties, \(checked) with a neighbour among the hits")
    }

    /// The fixture, the query "bravo golf" with a seeded vector, the filter of the `big` namespaces and
    /// what it admits, and the two oracles over those: BM25 scores and cosines.
    static func bravoGolf(seed: UInt64) throws -> (
        Fixture, String, TableEmbedder, MemoryFilter, Set<MemoryID>, [MemoryID: Double], [MemoryID: Double]
    ) {
        let f = try Fixture(count: 200)
        var g = SeededGenerator(seed: seed)
        let query = "bravo golf"
        let vector = g.vector(dimension: 16)
        let admitted = Set(f.namespaceOf.filter { $0.value.hasPrefix("big") }.keys)
        let bm25 = f.text.scores(["bravo", "golf"]).filter { admitted.contains($0.key) }
        let cosine = Dictionary(
            uniqueKeysWithValues: f.vectors.ranking(vector, where: admitted.contains).map {
                ($0.id, $0.score)
            })
        return (
            f, query, TableEmbedder(dimension: 16, table: [query: vector]),
            MemoryFilter(namespace: .prefix("big")), admitted, bm25, cosine
        )
    }

    @Test("hybrid ranking equals weighted-sum and reciprocal-rank fusion computed from the two oracles")
    func hybridOracle() throws {
        let (f, query, embedder, filter, admitted, bm25, cosine) = try Self.bravoGolf(seed: 99)
        // With candidates above the number of memories, both sides contribute every match.
        func minMax(_ d: [MemoryID: Double]) -> [MemoryID: Double] {
            let lo = d.values.min()!, hi = d.values.max()!
            return d.mapValues { ($0 - lo) / (hi - lo) }
        }
        let (c, b) = (minMax(cosine), minMax(bm25))
        for (fusion, expected) in [
            (Fusion.weightedSum(vectorWeight: 0.5), admitted.map { ($0, 0.5 * c[$0]! + 0.5 * (b[$0] ?? 0)) }),
            (Fusion.weightedSum(vectorWeight: 0.8), admitted.map { ($0, 0.8 * c[$0]! + 0.2 * (b[$0] ?? 0)) }),
        ] {
            let hits = try f.store.recall(
                text: query, embedder: embedder, k: 25, filter: filter,
                options: TextRecallOptions(
                    mode: .hybrid, fusion: fusion, candidates: 1000, signals: .none, neighbours: 0))
            let truth = expected.sorted { $0.1 > $1.1 }.prefix(25)
            #expect(hits.map(\.memory.id) == truth.map(\.0), "\(fusion)")
            for (hit, (_, score)) in zip(hits, truth) {
                #expect(abs(hit.explanation!.fused - score) < 1e-5)
                #expect(abs(Double(hit.explanation!.cosine!) - cosine[hit.memory.id]!) < 1e-5)
            }
        }
        // Reciprocal-rank fusion uses ranks: the vector ranks are the oracle's (no ties among random
        // cosines); BM25 ties may be ranked either way, so the keyword ranks are checked to be a valid
        // order of the oracle's scores and the fusion is recomputed from them.
        let all = try f.store.recall(
            text: query, embedder: embedder, k: 1000, filter: filter,
            options: TextRecallOptions(
                mode: .hybrid, fusion: .reciprocalRank(k: 60), candidates: 1000, signals: .none, neighbours: 0
            ))
        #expect(all.count == admitted.count)
        let vectorRank = Dictionary(
            uniqueKeysWithValues: cosine.sorted { $0.value > $1.value }.enumerated().map { ($1.key, $0 + 1) })
        let byKeywordRank = all.filter { $0.explanation!.keywordRank != nil }.sorted {
            $0.explanation!.keywordRank! < $1.explanation!.keywordRank!
        }
        #expect(Set(byKeywordRank.map(\.memory.id)) == Set(bm25.keys))
        #expect(byKeywordRank.map { $0.explanation!.keywordRank! } == Array(1...bm25.count))
        for (a, b) in zip(byKeywordRank, byKeywordRank.dropFirst()) {
            #expect(bm25[a.memory.id]! >= bm25[b.memory.id]! - 1e-9)
        }
        for hit in all {
            let e = hit.explanation!
            #expect(e.vectorRank == vectorRank[hit.memory.id])
            let fromVector: Double = 1 / (60 + Double(e.vectorRank!))
            let fromKeyword: Double = e.keywordRank.map { 1 / (60 + Double($0)) } ?? 0
            let expected = (fromVector + fromKeyword) / (2 / 61.0)
            #expect(abs(e.fused - expected) < 1e-12)
        }
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.explanation!.fused >= $1.explanation!.fused })
    }

    @Test(
        "a cluster's fixed fusion bounds and candidate probe: normalised over the bounds, clamped; the probe returns exactly each side's top candidates"
    )
    func fixedBoundsOracle() throws {
        let (f, query, embedder, filter, admitted, bm25, cosine) = try Self.bravoGolf(seed: 101)
        // Bounds narrower than the scores: values beyond them clamp to 0 and 1.
        let (cLo, cHi) = (cosine.values.min()! + 0.1, cosine.values.max()! - 0.1)
        let (bLo, bHi) = (bm25.values.min()! + 0.01, bm25.values.max()! - 0.01)
        func clamp(_ x: Double) -> Double { min(1, max(0, x)) }
        var options = TextRecallOptions(
            mode: .hybrid, fusion: .weightedSum(vectorWeight: 0.5), candidates: 1000, signals: .none,
            neighbours: 0)
        options.bounds = FusionBounds(cosine: cLo...cHi, keyword: bLo...bHi)
        let hits = try f.store.recall(
            text: query, embedder: embedder, k: 1000, filter: filter, options: options)
        #expect(hits.count == admitted.count)
        for hit in hits {
            let id = hit.memory.id
            let expected =
                0.5 * clamp((cosine[id]! - cLo) / (cHi - cLo)) + 0.5
                * (bm25[id].map { clamp(($0 - bLo) / (bHi - bLo)) } ?? 0)
            #expect(abs(hit.explanation!.fused - expected) < 1e-5)
        }
        // The probe: five candidates a side whatever k is, all of them returned.
        options.bounds = nil
        options.perSide = 5
        let probe = try f.store.recall(
            text: query, embedder: embedder, k: 1000, filter: filter, options: options)
        let vectorTop = Set(cosine.sorted { $0.value > $1.value }.prefix(5).map(\.key))
        #expect(Set(probe.filter { $0.explanation!.vectorRank != nil }.map(\.memory.id)) == vectorTop)
        #expect(probe.filter { $0.explanation!.keywordRank != nil }.count == min(5, bm25.count))
        #expect(probe.count == Set(probe.map(\.memory.id)).count && probe.count <= 10)
    }

    @Test("vector mode is the exact recall; a small namespace still yields k hits in every mode")
    func vectorModeAndSmallNamespace() throws {
        let f = try Fixture()
        var g = SeededGenerator(seed: 5)
        let vector = g.vector(dimension: 16)
        let embedder = TableEmbedder(dimension: 16, table: ["alpha": vector])
        let exact = try f.store.recall(vector, k: 10)
        let viaText = try f.store.recall(
            text: "alpha", embedder: embedder, k: 10, options: TextRecallOptions(mode: .vector))
        #expect(viaText.map(\.memory.id) == exact.map(\.memory.id))
        #expect(viaText.map(\.score) == exact.map(\.score))
        let small = f.namespaceOf.filter { $0.value == "small" }.count
        let smallWithAlpha = f.text.documents.filter {
            f.namespaceOf[$0.id] == "small" && $0.words.contains("alpha")
        }.count
        for mode in RecallMode.allCases {
            let hits = try f.store.recall(
                text: "alpha", embedder: embedder, k: small, filter: MemoryFilter(namespace: .exact("small")),
                options: TextRecallOptions(mode: mode))
            #expect(hits.count == (mode == .keyword ? smallWithAlpha : small), "\(mode)")
            #expect(hits.allSatisfy { f.namespaceOf[$0.memory.id] == "small" })
        }
    }

    @Test(
        "signals: what worked ranks first at equal relevance, failures stay; importance, recency and feedback reorder ties"
    )
    func signals() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 4, options: StoreOptions(clock: clock))
        let v: [Float] = [1, 0, 0, 0]
        let embedder = TableEmbedder(dimension: 4, table: ["deploy rollback": v])
        let failed = try store.remember(
            NewMemory(content: "deploy rollback", outcome: "tried A", succeeded: false, embedding: v))
        let worked = try store.remember(
            NewMemory(content: "deploy rollback", outcome: "tried B", succeeded: true, embedding: v))
        let unknown = try store.remember(
            NewMemory(content: "deploy rollback", outcome: "tried C", embedding: v))
        func order(_ signals: RankingSignals) throws -> [MemoryID] {
            try store.recall(
                text: "deploy rollback", embedder: embedder, k: 3,
                options: TextRecallOptions(signals: signals, neighbours: 0)
            ).map(\.memory.id)
        }
        // Equal relevance and no signals: newest first, deterministically.
        #expect(try order(.none) == [unknown, worked, failed])
        #expect(
            try order(RankingSignals(recency: 0, importance: 0, outcome: 0.05, feedback: 0)) == [
                worked, unknown, failed,
            ])
        // Feedback: two helpful reports lift the failure above the rest; counts are durable and kept by update.
        try store.feedback(failed, helpful: true)
        try store.feedback(failed, helpful: true)
        try store.feedback(worked, helpful: false)
        #expect(
            try order(RankingSignals(recency: 0, importance: 0, outcome: 0, feedback: 0.1)) == [
                failed, unknown, worked,
            ])
        let updated = try store.update(failed, with: MemoryChanges(importance: 0.9))
        #expect(updated.helpfulCount == 2 && updated.unhelpfulCount == 0)
        #expect(
            try order(RankingSignals(recency: 0, importance: 0.05, outcome: 0, feedback: 0)).first
                == updated.id)
        // superseded: no longer live
        #expect(throws: EngramError.self) { try store.feedback(failed, helpful: true) }
        // Recency: a memory written a year later wins the tie.
        clock.advance(by: 365 * 86_400)
        let recent = try store.remember(
            NewMemory(content: "deploy rollback", outcome: "tried D", embedding: v))
        #expect(
            try order(RankingSignals(recency: 0.05, importance: 0, outcome: 0, feedback: 0)).first == recent)
        let explained = try store.recall(text: "deploy rollback", embedder: embedder, k: 4)
        for hit in explained {
            let e = try #require(hit.explanation)
            #expect(
                abs(e.score - (e.fused + e.context + e.recency + e.importance + e.outcome + e.feedback))
                    < 1e-12)
            #expect(Double(hit.score) == Double(Float(e.score)))
        }
        try store.close()
        let reopened = try MemoryStore.open(at: dir.appending("s"))
        #expect(try reopened.memory(updated.id).helpfulCount == 2)
        #expect(try reopened.memory(worked).unhelpfulCount == 1)
        try reopened.close()
    }

    @Test(
        "scoped text recall sees only its scope; feedback outside it is notFound; bad options name the field")
    func scopedAndInvalid() throws {
        let f = try Fixture(count: 100)
        let agent = f.store.scoped(to: try Scope(namespaces: ["small"], actions: .readWrite))
        let hits = try agent.recall(
            text: "alpha bravo", embedder: nil, k: 50, options: TextRecallOptions(mode: .keyword))
        #expect(!hits.isEmpty && hits.allSatisfy { f.namespaceOf[$0.memory.id] == "small" })
        let outside = f.namespaceOf.first { $0.value != "small" }!.key
        do {
            try agent.feedback(outside, helpful: true)
            Issue.record("feedback outside the scope was accepted")
        } catch let error as EngramError {
            #expect(error.code == .notFound)
        }
        #expect(try f.store.memory(outside).helpfulCount == 0)
        let bad: [(TextRecallOptions, String)] = [
            (TextRecallOptions(candidates: 0), "options.candidates"),
            (TextRecallOptions(fusion: .weightedSum(vectorWeight: 1.5)), "options.fusion"),
            (TextRecallOptions(signals: RankingSignals(recency: .nan)), "options.signals.recency"),
            (TextRecallOptions(columns: ColumnWeights(tags: -1)), "options.columns.tags"),
        ]
        for (options, field) in bad {
            do {
                _ = try f.store.recall(text: "alpha", embedder: nil, options: options)
                Issue.record("accepted bad \(field)")
            } catch let error as EngramError {
                #expect(error.field == field)
            }
        }
        #expect(throws: EngramError.self) {
            try f.store.recall(text: "alpha", embedder: nil, options: TextRecallOptions(mode: .hybrid))
        }
        #expect(throws: EngramError.self) {
            try f.store.recall(text: "  ", embedder: nil, options: TextRecallOptions(mode: .keyword))
        }
    }
}

@Suite("Duplicates on write")
struct DedupTests {
    @Test("an exact duplicate (same namespace; case, spacing and Unicode form aside) is not stored twice")
    func exact() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 4)
        let v: [Float] = [1, 2, 3, 4]
        let first = try store.remember(
            NewMemory(
                content: "Café closed early", cause: "Power cut", outcome: "Reopened", namespace: "a",
                embedding: v))
        let results = try store.remember(
            [
                NewMemory(
                    content: "  cafe\u{301}   CLOSED early ", cause: "power cut", outcome: "reopened",
                    namespace: "a", embedding: [4, 3, 2, 1]),
                NewMemory(
                    content: "Café closed early", cause: "Power cut", outcome: "Reopened", namespace: "b",
                    embedding: v),
                NewMemory(
                    content: "Café closed early", cause: "Power cut", outcome: "Reopened", namespace: "b",
                    embedding: v),
                NewMemory(content: "Café closed early", cause: "Power cut", namespace: "a", embedding: v),
            ], nearDuplicates: nil)
        #expect(results.map(\.status) == [.duplicate, .stored, .duplicate, .stored])
        #expect(results[0].id == first)
        #expect(results[2].id == results[1].id)
        #expect(try store.count() == 3)
        #expect(
            try store.remember(
                NewMemory(
                    content: "café closed EARLY", cause: "power  cut", outcome: "reopened", namespace: "a",
                    embedding: v)) == first)
        #expect(try store.count() == 3)
        // A forgotten or expired memory no longer blocks the same text.
        try store.forget(first)
        let again = try store.remember(
            NewMemory(
                content: "Café closed early", cause: "Power cut", outcome: "Reopened", namespace: "a",
                embedding: v))
        #expect(again != first)
        try store.close()
    }

    @Test(
        "near duplicates are reported above the threshold, and --merge makes the new text a version of the old"
    )
    func near() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        let old = try store.remember(
            NewMemory(content: "VPN drops every hour", namespace: "it", embedding: [1, 0, 0]))
        _ = try store.remember(
            NewMemory(content: "Printer jams", namespace: "other", embedding: [1, 0, 0.01]))
        let close: [Float] = [1, 0.1, 0]  // cosine 0.995 with the old memory
        let reported = try store.remember(
            [NewMemory(content: "VPN disconnects hourly", namespace: "it", embedding: close)],
            nearDuplicates: 0.99)[0]
        #expect(reported.status == .stored)
        #expect(reported.nearDuplicate?.id == old)
        #expect(abs(Double(reported.nearDuplicate!.cosine) - 1 / (1.01).squareRoot()) < 1e-5)
        #expect(
            try store.remember(
                [NewMemory(content: "VPN is flaky", namespace: "it", embedding: [0, 1, 0])],
                nearDuplicates: 0.99)[0].nearDuplicate == nil)
        try store.forget(reported.id)
        let merged = try store.remember(
            NewMemory(
                content: "VPN disconnects hourly", outcome: "new client", namespace: "it", embedding: close),
            mergingAbove: 0.99)
        #expect(merged.status == .merged)
        #expect(try store.memory(merged.id).supersedes == old)
        #expect(try store.history(of: merged.id).map(\.content) == ["VPN drops every hour"])
        #expect(try store.count(matching: MemoryFilter(namespace: .exact("it"))) == 2)
        #expect(
            try store.remember(
                NewMemory(
                    content: "vpn disconnects hourly", outcome: "New client", namespace: "it",
                    embedding: close), mergingAbove: 0.99
            ).status == .duplicate)
        try store.close()
    }
}
