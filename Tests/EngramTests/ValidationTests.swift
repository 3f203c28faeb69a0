import Engram
import EngramTestSupport
import Foundation
import Testing

@Suite("Bad input is rejected with the field named, and nothing is stored")
struct ValidationTests {
    static let good = NewMemory(content: "ok", embedding: [1, 2, 3])

    /// Each case: a mutation of a good memory, and the field the error must name.
    static let badMemories: [(String, @Sendable (inout NewMemory) -> Void)] = [
        ("content", { $0.content = "" }),
        ("content", { $0.content = "   \n" }),
        ("content", { $0.content = String(repeating: "x", count: Limits.maxTextBytes + 1) }),
        ("cause", { $0.cause = String(repeating: "é", count: Limits.maxTextBytes) }),
        ("outcome", { $0.outcome = "nul\u{0}byte" }),
        ("embedding", { $0.embedding = [1, 2] }),
        ("embedding", { $0.embedding = [1, .nan, 3] }),
        ("embedding", { $0.embedding = [1, .infinity, 3] }),
        ("embedding", { $0.embedding = [0, 0, 0] }),
        ("namespace", { $0.namespace = "" }),
        ("namespace", { $0.namespace = "a//b" }),
        ("namespace", { $0.namespace = "/abs" }),
        ("namespace", { $0.namespace = "trailing/" }),
        ("namespace", { $0.namespace = "has space" }),
        ("namespace", { $0.namespace = "a/../b" }),
        ("namespace", { $0.namespace = String(repeating: "n", count: 300) }),
        ("agent", { $0.agent = "" }),
        ("agent", { $0.agent = "bad agent" }),
        ("kind", { $0.kind = "no spaces allowed" }),
        ("tags", { $0.tags = [""] }),
        ("tags", { $0.tags = ["two words"] }),
        ("tags", { $0.tags = (0..<65).map { "t\($0)" } }),
        ("importance", { $0.importance = 1.5 }),
        ("importance", { $0.importance = .nan }),
        ("metadata", { $0.metadata = ["": "x"] }),
        ("metadata", { $0.metadata = ["k": .number(.nan)] }),
        ("metadata", { $0.metadata = ["big": .string(String(repeating: "m", count: 70_000))] }),
        ("expiresAt", { $0.expiresAt = Date(timeIntervalSince1970: .infinity) }),
        // Years a four-digit ISO 8601 date cannot write (the fuzzer's first finding crashed on one).
        ("createdAt", { $0.createdAt = Date(timeIntervalSince1970: 253_402_300_800) }),
        ("createdAt", { $0.createdAt = Date(timeIntervalSince1970: -62_135_596_801) }),
    ]

    @Test("every bad memory field is named in the error", arguments: 0..<badMemories.count)
    func badMemory(index: Int) throws {
        let (field, mutate) = Self.badMemories[index]
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        try store.remember(Self.good)
        var bad = Self.good
        mutate(&bad)
        do {
            try store.remember(bad)
            Issue.record("case \(index) (\(field)) was accepted")
        } catch let error as EngramError {
            #expect(error.field == field, "case \(index): \(error)")
            #expect(error.code == .invalidArgument || error.code == .dimensionMismatch)
        }
        // A batch with one bad memory stores nothing.
        #expect(throws: EngramError.self) { try store.remember([Self.good, Self.good, bad]) }
        #expect(try store.count() == 1)
    }

    @Test("a batch error names the index of the bad memory")
    func batchIndex() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        var bad = Self.good
        bad.embedding = [0, 0, 0]
        do {
            try store.remember([Self.good, bad])
            Issue.record("accepted")
        } catch let error as EngramError {
            #expect(error.field == "memories[1].embedding")
        }
        #expect(try store.count() == 0)
    }

    @Test("bad queries, filters and ids are rejected")
    func badQueries() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        let id = try store.remember(Self.good)
        let cases: [(String, () throws -> Void)] = [
            ("k", { _ = try store.recall([1, 0, 0], k: 0) }),
            ("k", { _ = try store.recall([1, 0, 0], k: Limits.maxK + 1) }),
            ("query", { _ = try store.recall([1, 0]) }),
            ("query", { _ = try store.recall([.nan, 0, 0]) }),
            ("query", { _ = try store.recall([0, 0, 0]) }),
            ("queries[1]", { _ = try store.recall(batch: [[1, 0, 0], [1, 0]]) }),
            ("minScore", { _ = try store.recall([1, 0, 0], minScore: .nan) }),
            (
                "filter.namespace",
                { _ = try store.recall([1, 0, 0], filter: MemoryFilter(namespace: .prefix("a//"))) }
            ),
            (
                "filter.metadata",
                { _ = try store.recall([1, 0, 0], filter: MemoryFilter(metadata: [.equals("", 1)])) }
            ),
            (
                "filter.metadata",
                {
                    _ = try store.recall(
                        [1, 0, 0], filter: MemoryFilter(metadata: [.range("x", min: nil, max: nil)]))
                }
            ),
            (
                "filter.metadata",
                { _ = try store.count(matching: MemoryFilter(metadata: [.equals("x", .array([]))])) }
            ),
            ("embedder", { _ = try store.recall([1, 0, 0], embedder: "some-other-model") }),
            ("id", { _ = try store.memory(MemoryID("01890000-0000-7000-8000-000000000000")!) }),
            ("id", { try store.forget(MemoryID("01890000-0000-7000-8000-000000000000")!) }),
            ("limit", { _ = try store.list(limit: 0) }),
            ("dimension", { _ = try MemoryStore.create(at: dir.appending("z"), dimension: 0) }),
        ]
        for (field, call) in cases {
            do {
                try call()
                Issue.record("\(field) was accepted")
            } catch let error as EngramError {
                #expect(error.field == field, "\(error)")
            }
        }
        #expect(MemoryID("not-a-uuid") == nil)
        #expect(try store.count() == 1)
        #expect(try store.memory(id).content == "ok")
    }

    @Test("metadata JSON that does not parse is rejected by JSONValue")
    func metadataJSON() {
        #expect(throws: EngramError.self) { try JSONValue(parsing: "{\"a\": ", field: "metadata") }
        #expect(
            (try? JSONValue(parsing: "{\"a\": [1, true, null]}")) == .object(["a": .array([1, true, .null])]))
    }
}
