import EngramTestSupport
import Foundation
import GRDB
import Testing

@testable import Engram

/// Keyword queries inside a few namespaces read the words the `engram` tokenizer indexes under each
/// memory's namespace (schema v6). They must rank exactly as the BM25 oracle does, stay exact through
/// every write that changes the index, and stores from before v6 must read the same before and after
/// their upgrade.
@Suite("Words indexed under their namespace")
struct ScopedWordsTests {
    typealias Fixture = HybridRecallTests.Fixture

    static let queries = ["alpha zulu", "kilo papa lima oscar", "golf"]

    /// Namespace filters with the memories they admit: one namespace, three by prefix, and more than
    /// `FullText.maxScopedNamespaces` by prefix (the path that ANDs namespace terms instead).
    static func filters(_ f: Fixture) -> [(MemoryFilter, (MemoryID) -> Bool)] {
        [
            (MemoryFilter(namespace: .exact("small")), { f.namespaceOf[$0] == "small" }),
            (MemoryFilter(namespace: .exact("big")), { f.namespaceOf[$0] == "big" }),
            (MemoryFilter(namespace: .prefix("big")), { f.namespaceOf[$0]!.hasPrefix("big") }),
            (MemoryFilter(namespace: .prefix("many")), { f.namespaceOf[$0]!.hasPrefix("many") }),
        ]
    }

    /// The keyword hits of every query and filter, checked against the oracle.
    static func expectOracle(_ f: Fixture, _ store: MemoryStore, _ moment: String) throws {
        for query in queries {
            let all = f.text.scores(query.split(separator: " ").map(String.init))
            for (filter, admit) in filters(f) {
                let hits = try store.recall(
                    text: query, embedder: nil, k: 1000, filter: filter,
                    options: TextRecallOptions(mode: .keyword, signals: .none, neighbours: 0))
                let scored = hits.map { ($0.memory.id, $0.explanation!.keywordScore!) }
                let problem = HybridRecallTests.mismatch(
                    scored, oracle: all.filter { admit($0.key) }, k: 1000)
                #expect(
                    problem == nil,
                    "\(moment), \(query), \(filter.namespace.map { "\($0)" } ?? ""): \(problem ?? "")")
            }
        }
    }

    /// Adds memories in 12 namespaces under "many/", more than a query reads through scoped words.
    static func addMany(_ f: inout Fixture) throws {
        var g = SeededGenerator(seed: 99)
        let batch = (0..<60).map { i in
            NewMemory(
                content: "alpha golf kilo \(7000 + i)", namespace: "many/\(i % 12)",
                embedding: g.vector(dimension: 16))
        }
        for (i, id) in try f.store.remember(batch).enumerated() {
            f.text.documents.append((id, ["alpha", "golf", "kilo", "\(7000 + i)"]))
            f.namespaceOf[id] = batch[i].namespace
        }
    }

    @Test(
        "restricted keyword recall equals the oracle after remember, update, forget and compaction; FTS5's integrity check passes"
    )
    func exactThroughWrites() throws {
        var f = try Fixture(count: 300)
        try Self.addMany(&f)
        #expect(f.store.records.hasScopedWords)
        try Self.expectOracle(f, f.store, "after remember")
        try f.store.records.fullTextIntegrityCheck()

        let updated = try f.store.update(
            f.text.documents[5].id, with: MemoryChanges(content: "zulu zulu oscar"))
        f.namespaceOf[updated.id] = f.namespaceOf[f.text.documents[5].id]
        f.text.documents[5] = (updated.id, ["zulu", "zulu", "oscar"])
        try Self.expectOracle(f, f.store, "after update")
        try f.store.records.fullTextIntegrityCheck()

        _ = try f.store.forget(f.text.documents.prefix(50).map(\.id))
        f.text.documents.removeFirst(50)
        try Self.expectOracle(f, f.store, "after forget")
        try f.store.compact()
        try Self.expectOracle(f, f.store, "after compaction")
        try f.store.records.fullTextIntegrityCheck()

        // Engram itself never rewrites a row's text or namespace in place, but the update trigger keeps
        // the index exact if anything does: new text, moved to another namespace.
        let path = f.dir.appending("s")
        try f.store.close()
        let queue = try Self.database(path)
        let moved = f.text.documents[0].id
        try queue.write { db in
            try db.execute(
                sql:
                    "UPDATE memory SET content = 'oscar kilo', namespace = 'small', scope_terms = ? WHERE id = ?",
                arguments: [FullText.namespaceTerm("small"), moved.description])
            // As every write of Engram's: the slot cache saved at close then knows it is out of date.
            try db.execute(
                sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commit_counter'")
        }
        try queue.close()
        f.text.documents[0].words = ["oscar", "kilo"]
        f.namespaceOf[moved] = "small"
        let reopened = try MemoryStore.open(at: path)
        defer { try? reopened.close() }
        try Self.expectOracle(f, reopened, "after an update in place")
        try reopened.records.fullTextIntegrityCheck()
    }

    @Test(
        "text that holds the tokenizer's markers is indexed as text and never reaches another namespace; very long words"
    )
    func markersInText() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 4)
        defer { try? store.close() }
        let spoof = "\u{1E}" + FullText.namespaceTerm("victim") + "\u{1F}secret"
        let id = try store.remember(
            NewMemory(content: spoof, namespace: "attacker", embedding: [1, 0, 0, 0]))
        _ = try store.remember(
            NewMemory(content: "public notes", namespace: "victim", embedding: [0, 1, 0, 0]))
        let keyword = TextRecallOptions(mode: .keyword, signals: .none, neighbours: 0)
        for (namespace, expected) in [("victim", [MemoryID]()), ("attacker", [id])] {
            let hits = try store.recall(
                text: "secret", embedder: nil, k: 10, filter: MemoryFilter(namespace: .exact(namespace)),
                options: keyword)
            #expect(hits.map(\.memory.id) == expected, "\(namespace)")
        }
        // A word longer than the tokenizer's stack buffer takes its heap path, in documents and queries.
        let long = String(repeating: "abcdefghij", count: 100)
        let longID = try store.remember(
            NewMemory(content: "note " + long, namespace: "victim", embedding: [0, 0, 1, 0]))
        let found = try store.recall(
            text: long, embedder: nil, k: 10, filter: MemoryFilter(namespace: .exact("victim")),
            options: keyword)
        #expect(found.map(\.memory.id) == [longID])
        try store.records.fullTextIntegrityCheck()
    }

    @Test("a store from before v6 reads the same read-only, then is upgraded on its first writable open")
    func upgradeFromV5() throws {
        var f = try Fixture(count: 200)
        try Self.addMany(&f)
        let path = f.dir.appending("s")
        try f.store.close()
        try Self.downgradeToV5(path)

        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(!reader.records.hasScopedWords)
        try Self.expectOracle(f, reader, "v5, read-only")
        try reader.close()

        let upgraded = try MemoryStore.open(at: path)
        defer { try? upgraded.close() }
        #expect(upgraded.records.hasScopedWords)
        try Self.expectOracle(f, upgraded, "upgraded to v6")
        try upgraded.records.fullTextIntegrityCheck()
    }

    /// The store's database on a connection of its own, with the `engram` tokenizer (without it SQLite
    /// cannot even drop the full-text table).
    static func database(_ store: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.prepareDatabase { try FullText.registerFunctions($0) }
        return try DatabaseQueue(
            path: URL(fileURLWithPath: store).appendingPathComponent("memories.sqlite").path,
            configuration: configuration)
    }

    /// Puts back the full-text table v5 made (no scoped words, read from the memory table) and forgets
    /// that v6 ran, as a store last written by the previous release.
    static func downgradeToV5(_ store: String) throws {
        let queue = try database(store)
        try queue.write { db in
            try db.execute(
                sql: #"""
                    DROP TRIGGER "__memory_fts_ad";
                    DROP TRIGGER "__memory_fts_au";
                    DROP TABLE memory_fts;
                    DROP VIEW memory_fts_source;
                    \#(Schema.v5FullText)
                    INSERT INTO memory_fts(memory_fts) VALUES ('rebuild');
                    """#)
            try db.execute(
                sql: "DELETE FROM grdb_migrations WHERE identifier = ?", arguments: [Schema.v6Migration])
        }
        try queue.close()
    }
}
