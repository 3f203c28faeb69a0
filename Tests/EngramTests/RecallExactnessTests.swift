import Engram
import EngramTestSupport
import Foundation
import Testing

/// A store filled with seeded memories whose attributes the oracle also knows.
struct SeededStore {
    struct Attributes {
        var namespace: String
        var agent: String
        var kind: MemoryKind
        var tags: [String]
        var succeeded: Bool?
        var priority: Double
        var team: String
        var createdAt: Date
    }

    let directory = TemporaryDirectory()
    let store: MemoryStore
    var oracle = BruteForceOracle()
    var attributes: [MemoryID: Attributes] = [:]
    let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))

    init(count: Int, dimension: Int, seed: UInt64, batch: Int = 1000) throws {
        store = try MemoryStore.create(
            at: directory.appending("store"), dimension: dimension, options: StoreOptions(clock: clock))
        var rng = SeededGenerator(seed: seed)
        let vectors = rng.clusteredVectors(count: count, dimension: dimension)
        let namespaces = ["acme/support", "acme/support/vip", "acme/deploy", "beta", "beta/x/y"]
        let agents = ["triage", "deployer", "reviewer"]
        let kinds: [MemoryKind] = [.episode, .fact, .procedure]
        let tagPool = ["billing", "latency", "db", "flaky", "ux"]
        var start = 0
        while start < count {
            let end = min(start + batch, count)
            var drafts: [NewMemory] = []
            var attrs: [Attributes] = []
            for i in start..<end {
                let a = Attributes(
                    namespace: namespaces[Int.random(in: 0..<namespaces.count, using: &rng)],
                    agent: agents[Int.random(in: 0..<agents.count, using: &rng)],
                    kind: kinds[Int.random(in: 0..<kinds.count, using: &rng)],
                    tags: tagPool.filter { _ in Bool.random(using: &rng) },
                    succeeded: [true, false, nil][Int.random(in: 0..<3, using: &rng)],
                    priority: Double(Int.random(in: 0..<10, using: &rng)),
                    team: ["red", "blue"][Int.random(in: 0..<2, using: &rng)],
                    createdAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(i) * 60))
                attrs.append(a)
                drafts.append(
                    Fixtures.memory(
                        vectors[i], index: i, namespace: a.namespace, agent: a.agent, kind: a.kind,
                        tags: a.tags,
                        succeeded: a.succeeded,
                        metadata: ["priority": .number(a.priority), "team": .string(a.team)],
                        createdAt: a.createdAt))
            }
            let ids = try store.remember(drafts)
            for (j, id) in ids.enumerated() {
                oracle.entries.append(.init(id: id, vector: vectors[start + j]))
                attributes[id] = attrs[j]
            }
            start = end
        }
    }
}

/// Filters with the oracle's own predicate for each.
let filterCases: [(name: String, filter: MemoryFilter, admit: @Sendable (SeededStore.Attributes) -> Bool)] = [
    ("none", MemoryFilter(), { _ in true }),
    ("namespace exact", MemoryFilter(namespace: .exact("acme/support")), { $0.namespace == "acme/support" }),
    ("namespace prefix", MemoryFilter(namespace: .prefix("acme")), { $0.namespace.hasPrefix("acme/") }),
    ("agent", MemoryFilter(agents: ["deployer"]), { $0.agent == "deployer" }),
    ("kind", MemoryFilter(kinds: [.fact, .procedure]), { $0.kind != .episode }),
    (
        "tags any", MemoryFilter(tags: .any(["db", "ux"])),
        { $0.tags.contains("db") || $0.tags.contains("ux") }
    ),
    (
        "tags all", MemoryFilter(tags: .all(["db", "ux"])),
        { $0.tags.contains("db") && $0.tags.contains("ux") }
    ),
    (
        "created range",
        MemoryFilter(
            createdAfter: Date(timeIntervalSince1970: 1_700_000_000 + 60 * 100),
            createdBefore: Date(timeIntervalSince1970: 1_700_000_000 + 60 * 400)),
        {
            $0.createdAt.timeIntervalSince1970 >= 1_700_006_000
                && $0.createdAt.timeIntervalSince1970 < 1_700_024_000
        }
    ),
    ("succeeded", MemoryFilter(succeeded: false), { $0.succeeded == false }),
    ("metadata equals", MemoryFilter(metadata: [.equals("team", "red")]), { $0.team == "red" }),
    (
        "metadata in", MemoryFilter(metadata: [.isIn("priority", [1, 2, 9])]),
        { [1, 2, 9].contains($0.priority) }
    ),
    (
        "metadata range + namespace",
        MemoryFilter(namespace: .prefix("beta"), metadata: [.range("priority", min: 3, max: 6)]),
        { $0.namespace.hasPrefix("beta") && (3...6).contains($0.priority) }
    ),
    (
        "rare: tag all + agent + kind",
        MemoryFilter(agents: ["reviewer"], kinds: [.fact], tags: .all(["db", "flaky", "ux"])),
        { $0.agent == "reviewer" && $0.kind == .fact && ["db", "flaky", "ux"].allSatisfy($0.tags.contains) }
    ),
]

@Suite("Recall is exact")
struct RecallExactnessTests {
    @Test(
        "matches a brute-force Double scan without filters", arguments: [(500, 3), (3000, 64), (20_000, 384)])
    func unfiltered(count: Int, dimension: Int) throws {
        let s = try SeededStore(count: count, dimension: dimension, seed: UInt64(count * 31 + dimension))
        var rng = SeededGenerator(seed: 99)
        let ks = count > 10_000 ? [1, 10, 100] : [1, 10, 100, count + 5]
        for _ in 0..<(count > 10_000 ? 3 : 6) {
            let q = rng.vector(dimension: dimension)
            for k in ks {
                let hits = try s.store.recall(q, k: k)
                #expect(
                    s.oracle.mismatch(hits, query: q, k: k) == nil,
                    "k=\(k): \(s.oracle.mismatch(hits, query: q, k: k) ?? "")")
            }
        }
    }

    @Test("applies every filter kind before scoring and still returns k hits")
    func filtered() throws {
        let s = try SeededStore(count: 4000, dimension: 32, seed: 7)
        var rng = SeededGenerator(seed: 5)
        for (name, filter, admit) in filterCases {
            let admitted = Set(s.attributes.filter { admit($0.value) }.keys)
            #expect(try s.store.count(matching: filter) == admitted.count, "\(name)")
            for k in [1, 10, 250] {
                let q = rng.vector(dimension: 32)
                let hits = try s.store.recall(q, k: k, filter: filter)
                let problem = s.oracle.mismatch(hits, query: q, k: k) { admitted.contains($0) }
                #expect(problem == nil, "\(name) k=\(k): \(problem ?? "")")
            }
        }
    }

    @Test(
        "batch recall equals single recalls, with and without a filter, for small (per-query) and large (sgemm) batches",
        arguments: [2, 5, 8, 13, 32, 37])
    func batchEqualsSingle(batchSize: Int) throws {
        let s = try SeededStore(count: 5000, dimension: 48, seed: 11)
        var rng = SeededGenerator(seed: 12)
        let queries = (0..<batchSize).map { _ in rng.vector(dimension: 48) }
        let cases: [(MemoryFilter, (SeededStore.Attributes) -> Bool)] = [
            (MemoryFilter(), { _ in true }),
            (MemoryFilter(namespace: .prefix("beta")), { $0.namespace.hasPrefix("beta") }),
            (MemoryFilter(tags: .all(["db", "ux"])), { $0.tags.contains("db") && $0.tags.contains("ux") }),
        ]
        for (filter, admit) in cases {
            let admitted = Set(s.attributes.filter { admit($0.value) }.keys)
            let batch = try s.store.recall(batch: queries, k: 20, filter: filter)
            #expect(batch.count == queries.count)
            for (q, hits) in zip(queries, batch) {
                let single = try s.store.recall(q, k: 20, filter: filter)
                #expect(s.oracle.mismatch(hits, query: q, k: 20) { admitted.contains($0) } == nil)
                #expect(hits.map(\.memory.id) == single.map(\.memory.id))
                for (a, b) in zip(hits, single) { #expect(abs(a.score - b.score) < 1e-5) }
            }
        }
    }

    @Test("excludes expired memories unless asked, and honours minScore")
    func expiryAndMinScore() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 4, options: StoreOptions(clock: clock))
        let soon = try store.remember(
            NewMemory(
                content: "expires", expiresAt: clock.now().addingTimeInterval(10), embedding: [1, 0, 0, 0]))
        let forever = try store.remember(NewMemory(content: "stays", embedding: [0.9, 0.1, 0, 0]))
        #expect(try store.recall([1, 0, 0, 0], k: 5).map(\.memory.id) == [soon, forever])
        clock.advance(by: 11)
        #expect(try store.recall([1, 0, 0, 0], k: 5).map(\.memory.id) == [forever])
        #expect(try store.recall([1, 0, 0, 0], k: 5, filter: MemoryFilter(includeExpired: true)).count == 2)
        #expect(try store.recall([0, 0, 0, 1], k: 5, minScore: 0.5).isEmpty)
        #expect(try store.count() == 1)
    }
}
