import EngramTestSupport
import Foundation
import GRDB
import Testing

@testable import Engram

/// Large batches into a store that holds no more memories than the batch drop the memory table's
/// secondary indexes and build them again after the rows, in the same transaction. Checked from the
/// outside: the SQLite file as SQLite itself describes and checks it, read on a connection of its own.
@Suite("Bulk insert")
struct BulkInsertTests {
    static func memories(_ count: Int, from first: Int = 0) -> [NewMemory] {
        (first..<(first + count)).map { i in
            NewMemory(
                content: "bulk memory \(i)", namespace: "bulk/ns\(i % 7)", kind: .fact,
                embedding: [Float(i % 5) + 1, 1, Float(i % 3), 0.5])
        }
    }

    /// A read-only connection to a store's SQLite file, beside the store's own.
    static func database(_ store: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: store + "/memories.sqlite", configuration: configuration)
    }

    /// The memory table's secondary indexes as SQLite records them (name -> SQL), and the schema version,
    /// which every CREATE or DROP advances.
    static func schema(_ store: String) throws -> (indexes: [String: String], version: Int) {
        try database(store).read { db in
            let rows = try Row.fetchAll(
                db,
                sql:
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memory' AND sql IS NOT NULL"
            )
            let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? -1
            return (
                Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as String, $0[1] as String) }), version
            )
        }
    }

    static func integrity(_ store: String) throws -> [String] {
        try database(store).read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    @Test(
        "a first batch of 10,000: the indexes come back as they were, complete, and serve the duplicate check"
    )
    func firstBatch() throws {
        let dir = TemporaryDirectory("engram-bulk")
        let path = dir.appending("store")
        let store = try MemoryStore.create(at: path, dimension: 4)
        let before = try Self.schema(path)
        #expect(
            before.indexes.keys.sorted() == ["memory_content_hash", "memory_fact_key", "memory_namespace"])
        let batch = Self.memories(RecordStore.bulkThreshold)
        let ids = try store.remember(batch)
        let after = try Self.schema(path)
        #expect(after.indexes == before.indexes)
        #expect(after.version > before.version, "the bulk path ran")
        #expect(try Self.integrity(path) == ["ok"], "every index holds exactly the table's rows")
        // The same batch again: each memory an exact duplicate of its first copy, found through the index.
        let again = try store.remember(batch, nearDuplicates: nil)
        #expect(again.allSatisfy { $0.status == .duplicate })
        #expect(again.map(\.id) == ids)
        #expect(try store.count() == batch.count)
        #expect(
            try store.count(matching: MemoryFilter(namespace: .exact("bulk/ns3")))
                == batch.indices.filter { $0 % 7 == 3 }.count)
        try store.close()
        let reopened = try MemoryStore.open(at: path)
        defer { try? reopened.close() }
        #expect(try reopened.health().healthy)
        #expect(try reopened.count() == batch.count)
    }

    @Test("smaller batches, and batches into a store holding more than them, keep their indexes live")
    func notBulk() throws {
        let dir = TemporaryDirectory("engram-bulk")
        let path = dir.appending("store")
        let store = try MemoryStore.create(at: path, dimension: 4)
        defer { try? store.close() }
        var version = try Self.schema(path).version
        try store.remember(Self.memories(RecordStore.bulkThreshold - 1))
        #expect(try Self.schema(path).version == version, "below the threshold")
        try store.remember(Self.memories(2, from: RecordStore.bulkThreshold))  // now 10,000 + 1 memories
        version = try Self.schema(path).version
        try store.remember(Self.memories(RecordStore.bulkThreshold, from: 100_000))
        #expect(try Self.schema(path).version == version, "the store already held more than the batch")
        #expect(try store.count() == 2 * RecordStore.bulkThreshold + 1)
        #expect(try Self.integrity(path) == ["ok"])
    }
}

extension InjectedFaultTests {
    /// The bulk path's DROP and CREATE INDEX are part of the batch's transaction: a write failing in its
    /// commit (the first WAL write, or one halfway through the batch's writes, which lands in the WAL's
    /// frames: the checkpoint's copies to the database file come after them) leaves the store as before
    /// the batch, indexes included.
    @Test("a bulk batch whose commit fails leaves no row and every index", arguments: ["first", "middle"])
    func failedBulkCommit(which: String) throws {
        SQLiteShim.install()
        let batch = BulkInsertTests.memories(RecordStore.bulkThreshold)
        /// The store is created under the plan (which learns the files as they open); `occurrence` counts
        /// from the batch's first write.
        func attempt(failingWrite occurrence: Int, afterCreate: Int) throws
            -> (
                plan: FaultPlan, createWrites: Int, batchWrites: Int, error: (any Error)?,
                dir: TemporaryDirectory, path: String
            )
        {
            let dir = TemporaryDirectory("engram-bulk-fault")
            let path = try Self.storeDirectory(in: dir)
            let plan = FaultPlan(
                directory: path, failing: .write, occurrence: occurrence == 0 ? 0 : afterCreate + occurrence)
            FileIO.install(plan)
            defer { FileIO.install(nil) }
            let store = try MemoryStore.create(
                at: path, dimension: 4, options: StoreOptions(durability: .full))
            defer { try? store.close() }
            let createWrites = plan.counts[.write] ?? 0
            do {
                try store.remember(batch)
                return (plan, createWrites, (plan.counts[.write] ?? 0) - createWrites, nil, dir, path)
            } catch {
                return (plan, createWrites, 0, error, dir, path)
            }
        }
        // Counting run: the batch's writes are the vector rows' (one call per `VectorFile.writeRun` rows:
        // the slots are consecutive), then the WAL's at commit, then the automatic checkpoint's.
        let vectorWrites = (batch.count + VectorFile.writeRun - 1) / VectorFile.writeRun
        let counting = try attempt(failingWrite: 0, afterCreate: 0)
        #expect(counting.error == nil)
        let writes = counting.batchWrites
        #expect(writes >= vectorWrites + 2)
        let (plan, _, _, error, dir, path) = try attempt(
            failingWrite: which == "first" ? vectorWrites + 1 : (vectorWrites + writes) / 2,
            afterCreate: counting.createWrites)
        _ = dir  // kept until the checks below are done
        #expect(plan.fired == "memories.sqlite-wal")
        #expect((error as? EngramError)?.code == .io, "\(String(describing: error))")
        let before = try BulkInsertTests.schema(path)
        #expect(
            before.indexes.keys.sorted() == ["memory_content_hash", "memory_fact_key", "memory_namespace"])
        let store = try MemoryStore.open(at: path)
        defer { try? store.close() }
        #expect(try store.count() == 0)
        #expect(try store.health().healthy)
        #expect(try BulkInsertTests.integrity(path) == ["ok"])
        // And the same batch then goes in, in bulk.
        try store.remember(batch)
        #expect(try store.count() == batch.count)
        #expect(try BulkInsertTests.schema(path).indexes == before.indexes)
    }
}

/// The row inserts bind their values through SQLite's C API (`StatementParameters`), not GRDB's
/// arguments: each kind of value must reach SQLite with GRDB's type and bytes.
@Suite("Statement parameters")
struct StatementParameterTests {
    @Test("values bind as GRDB binds them: empty text is text, nil is NULL; text keeps every byte")
    func valuesBindAsGRDBDoes() throws {
        let db = try DatabaseQueue()
        let texts: [String?] = ["", nil, "a\u{0}b", "grüße 🧠", String(repeating: "x", count: 100_000)]
        try db.write { db in
            try db.execute(sql: "CREATE TABLE t(a, b, c, d, e, f)")
            let raw = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)")
            let viaGRDB = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)")
            for text in texts {
                try raw.execute { p in
                    p.add(text)
                    p.add(Int64.min)
                    p.add(true)
                    p.add(Double?.none)
                    p.add(-0.25)
                    p.add(Int?.some(7))
                }
                try viaGRDB.execute(arguments: [text, Int64.min, true, Double?.none, -0.25, 7])
            }
        }
        try db.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT typeof(a), a, hex(a), typeof(b), b, c, typeof(d), e, f FROM t ORDER BY rowid"
            )
            #expect(rows.count == 2 * texts.count)
            for pair in stride(from: 0, to: rows.count, by: 2) where texts[pair / 2] != "a\u{0}b" {
                #expect(
                    rows[pair] == rows[pair + 1],
                    "text \(pair / 2): raw \(rows[pair]) vs GRDB \(rows[pair + 1])")
            }
            // GRDB's binding ends text at a NUL; these keep its length (stored texts refuse NUL anyway).
            #expect(rows[0]["typeof(a)"] as String == "text")
            #expect(rows[2]["typeof(a)"] as String == "null")
            #expect(rows[4]["hex(a)"] as String == "610062")
        }
    }

    @Test("binding fewer or more values than the statement has is an error, and nothing is inserted")
    func wrongCountsAreRefused() throws {
        let db = try DatabaseQueue()
        try db.write { db in
            try db.execute(sql: "CREATE TABLE t(a, b)")
            let statement = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?)")
            #expect(throws: DatabaseError.self) { try statement.execute { $0.add(Int64(1)) } }
            #expect(throws: DatabaseError.self) {
                try statement.execute { p in
                    p.add(Int64(1))
                    p.add(Int64(2))
                    p.add(Int64(3))
                }
            }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 0)
            try statement.execute { p in
                p.add(Int64(1))
                p.add("two")
            }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") == 1)
        }
    }
}
