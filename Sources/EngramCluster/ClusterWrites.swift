import Engram
import EngramService
import Foundation
import PostgresNIO

/// Writes into PostgreSQL, one transaction each: the memory rows and their change-log rows commit
/// together, and the answer's token is the transaction's id. Exact duplicates are decided here, under a
/// transaction-scoped advisory lock on (namespace, content hash), so two nodes storing the same text at
/// once store it once.
extension ClusterNode {
    func rememberInDatabase(_ drafts: [MemoryDraft]) async throws -> Written<[RememberResult]> {
        let now = Date().timeIntervalSince1970
        // Within the batch, a text repeated in a namespace is stored once (the first).
        var results: [RememberResult?] = Array(repeating: nil, count: drafts.count)
        var firstInBatch: [String: Int] = [:]
        for (i, draft) in drafts.enumerated() {
            let key = draft.memory.namespace + "\u{1F}" + draft.contentHash
            if let earlier = firstInBatch[key] {
                results[i] = RememberResult(drafts[earlier].memory.id, status: .duplicate)
            } else {
                firstInBatch[key] = i
            }
        }
        let candidates = firstInBatch.values.sorted()
        let keys = candidates.map { drafts[$0].memory.namespace + "\u{1F}" + drafts[$0].contentHash }
        let factLocks = candidates.compactMap { i in
            drafts[i].memory.factKey.map { "fact\u{1F}" + drafts[i].memory.namespace + "\u{1F}" + $0 }
        }
        return try await database.transaction { [database, results] connection in
            var results = results
            var drafts = drafts
            // Writers of the same text, or of the same fact key, in the same namespace take turns (locks in
            // one order: no deadlock).
            try await database.execute(
                """
                SELECT pg_advisory_xact_lock(h)
                FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(\(keys + factLocks)::text[]) AS k
                      ORDER BY 1) AS t
                """, on: connection)
            let existing = try await database.rows(
                """
                SELECT DISTINCT ON (namespace, content_hash) namespace || chr(31) || content_hash, id::text
                FROM engram_memory
                WHERE live AND (expires_at IS NULL OR expires_at > \(now))
                  AND (namespace, content_hash) IN (
                      SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(\(keys)::text[]) AS k)
                ORDER BY namespace, content_hash, id
                """, on: connection)
            var stored: [String: MemoryID] = [:]
            for row in existing {
                let (key, id) = try row.decode((String, String).self)
                stored[key] = MemoryID(id)
            }
            var inserting: [Int] = []
            for (i, key) in zip(candidates, keys) {
                if let id = stored[key] {
                    results[i] = RememberResult(id, status: .duplicate)
                } else {
                    inserting.append(i)
                    results[i] = RememberResult(
                        drafts[i].memory.id, status: .stored, quarantined: drafts[i].memory.quarantined)
                }
            }
            var settled = results.map { $0! }
            var changes = ChangeRows()
            try await Self.settleFactKeys(&drafts, inserting, &settled, &changes, database, connection)
            try await Self.insert(inserting.map { drafts[$0] }, database, connection)
            for i in inserting {
                changes.add(drafts[i].memory.namespace, "put", drafts[i].memory.id, version: 1)
            }
            let token = try await changes.write(database, connection)
            return Written(settled, token: token)
        }
    }

    /// Settles the fact keys of the drafts about to be inserted against the keys' current values in
    /// PostgreSQL, as one store does (``FactTimeline``): locked (the caller holds the keys' advisory locks),
    /// the drafts' own validity set, the values they end updated with a new version and logged.
    private static func settleFactKeys(
        _ drafts: inout [MemoryDraft], _ inserting: [Int], _ results: inout [RememberResult],
        _ changes: inout ChangeRows, _ database: ClusterDatabase, _ connection: PostgresConnection
    ) async throws {
        let keyed = inserting.filter { drafts[$0].memory.factKey != nil }
        guard !keyed.isEmpty else { return }
        let rows = try await database.rows(
            """
            SELECT record::text FROM engram_memory
            WHERE live AND namespace = ANY(\(Array(Set(keyed.map { drafts[$0].memory.namespace })))::text[])
              AND record->>'fact_key' = ANY(\(Array(Set(keyed.compactMap { drafts[$0].memory.factKey })))::text[])
              AND record->>'valid_until' IS NULL
            ORDER BY engram_memory.id FOR UPDATE
            """, on: connection)
        var current: [String: [String: [FactTimeline.Value]]] = [:]
        for row in rows {
            let memory = try MemoryJSON.memory(from: JSONValue(parsing: try row.decode(String.self)))
            guard !memory.quarantined, let key = memory.factKey else { continue }
            current[memory.namespace, default: [:]][key, default: []].append(
                FactTimeline.Value(
                    id: memory.id, validFrom: (memory.validFrom ?? memory.createdAt).timeIntervalSince1970))
        }
        var memories = drafts.map(\.memory)
        var ending: [(id: MemoryID, at: Double)] = []
        for (namespace, indices) in Dictionary(grouping: keyed, by: { memories[$0].namespace }) {
            let values = (current[namespace] ?? [:]).mapValues {
                $0.sorted { ($0.validFrom, $0.id) < ($1.validFrom, $1.id) }
            }
            ending += FactTimeline.settle(&memories, indices: indices, current: values, results: &results)
        }
        for i in keyed { drafts[i].memory = memories[i] }
        try await endValidity(ending, &changes, database, connection)
    }

    /// Ends the validity of rows at the given times: each a new version, logged in `changes`.
    private static func endValidity(
        _ ending: [(id: MemoryID, at: Double)], _ changes: inout ChangeRows, _ database: ClusterDatabase,
        _ connection: PostgresConnection
    ) async throws {
        guard !ending.isEmpty else { return }
        let ended = try await database.rows(
            """
            UPDATE engram_memory AS m
            SET record = jsonb_set(m.record, '{valid_until}', to_jsonb(t.at)), version = m.version + 1,
                changed_xid = pg_current_xact_id()
            FROM unnest(\(ending.map(\.id.description))::uuid[],
                        \(ending.map { TimeParsing.format(Date(timeIntervalSince1970: $0.at)) })::text[]) AS t(id, at)
            WHERE m.id = t.id
            RETURNING m.id::text, m.namespace, m.version
            """, on: connection)
        for row in ended {
            let (id, namespace, version) = try row.decode((String, String, Int64).self)
            if let id = MemoryID(id) { changes.add(namespace, "put", id, version: version) }
        }
    }

    /// After quarantined values are released: each fact key they state becomes one timeline again, as on
    /// one store (``FactTimeline/timeline(_:)``); the values that end are new versions, logged.
    private static func timelineOnRelease(
        _ released: [MemoryID], _ changes: inout ChangeRows, _ database: ClusterDatabase,
        _ connection: PostgresConnection
    ) async throws {
        let keyed = try await database.rows(
            """
            SELECT DISTINCT namespace, record->>'fact_key' FROM engram_memory
            WHERE id = ANY(\(released.map(\.description))::uuid[])
              AND record->>'fact_key' IS NOT NULL AND record->>'valid_until' IS NULL
            """, on: connection
        ).map { try $0.decode((String, String).self) }
        var ending: [(id: MemoryID, at: Double)] = []
        for (namespace, pairs) in Dictionary(grouping: keyed, by: \.0) {
            let rows = try await database.rows(
                """
                SELECT record::text FROM engram_memory
                WHERE live AND namespace = \(namespace) AND record->>'fact_key' = ANY(\(pairs.map(\.1))::text[])
                  AND record->>'valid_until' IS NULL AND NOT (record->>'quarantined')::boolean
                ORDER BY engram_memory.id FOR UPDATE
                """, on: connection)
            var values: [String: [FactTimeline.Value]] = [:]
            for row in rows {
                let memory = try MemoryJSON.memory(from: JSONValue(parsing: try row.decode(String.self)))
                guard let key = memory.factKey else { continue }
                values[key, default: []].append(
                    FactTimeline.Value(
                        id: memory.id, validFrom: (memory.validFrom ?? memory.createdAt).timeIntervalSince1970
                    ))
            }
            for key in values.keys.sorted() { ending += FactTimeline.timeline(values[key]!) }
        }
        try await endValidity(ending, &changes, database, connection)
    }

    func updateInDatabase(
        _ id: MemoryID, scope: Scope,
        draft: @escaping @Sendable (Memory) throws -> (memory: Memory, vector: [Float]?)
    ) async throws -> Written<Memory> {
        try await database.transaction { [database] connection in
            let rows = try await database.rows(
                """
                SELECT record::text, embedding, version FROM engram_memory
                WHERE id = \(id.description)::uuid AND live FOR UPDATE
                """, on: connection)
            guard let row = rows.first else {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
            let (record, embedding, version) = try row.decode((String, ByteBuffer, Int64).self)
            let old = try MemoryJSON.memory(from: JSONValue(parsing: record))
            guard scope.contains(namespace: old.namespace) else {
                throw EngramError(.notFound, "no memory with this id", field: "id")
            }
            let (memory, vector) = try draft(old)
            try await database.execute(
                """
                UPDATE engram_memory SET live = false, version = version + 1, changed_xid = pg_current_xact_id()
                WHERE id = \(id.description)::uuid
                """, on: connection)
            try await Self.insert(
                [
                    MemoryDraft(
                        memory: memory, vector: vector ?? VectorBytes.floats(embedding),
                        contentHash: MemoryDraft.contentHash(of: memory))
                ], database, connection)
            var changes = ChangeRows()
            changes.add(old.namespace, "del", old.id, version: version + 1)
            changes.add(memory.namespace, "put", memory.id, version: 1)
            return Written(memory, token: try await changes.write(database, connection))
        }
    }

    func forgetInDatabase(_ ids: [MemoryID], scope: Scope) async throws -> Written<Int> {
        try scope.require(.forget, "forget")
        return try await change(ids, scope: scope, op: "del", skipping: "false", set: "live = false")
    }

    func setQuarantinedInDatabase(_ ids: [MemoryID], _ quarantined: Bool, scope: Scope) async throws
        -> Written<Int>
    {
        try scope.require(.quarantine, "quarantine")
        let flag = quarantined ? "true" : "false"
        let database = database
        // A release makes the released values' fact keys one timeline again.
        let rebuild: @Sendable ([MemoryID], inout ChangeRows, PostgresConnection) async throws -> Void = {
            changed, changes, connection in
            try await Self.timelineOnRelease(changed, &changes, database, connection)
        }
        return try await change(
            ids, scope: scope, op: "put",
            skipping: "(record->>'quarantined')::boolean IS NOT DISTINCT FROM \(flag)",
            set: "record = jsonb_set(record, '{quarantined}', '\(flag)'::jsonb)",
            then: quarantined ? nil : rebuild)
    }

    /// Changes the live memories among `ids` inside the scope in one transaction: locks them in id order,
    /// leaves out those outside the scope (as unknown ids are) and those `unchanged` (SQL) accepts, sets
    /// `assignment` (SQL), raises each version and logs `op`; returns how many changed. The SQL fragments
    /// are constants of this file, never input.
    private func change(
        _ ids: [MemoryID], scope: Scope, op: String, skipping unchanged: String, set assignment: String,
        then more: (@Sendable ([MemoryID], inout ChangeRows, PostgresConnection) async throws -> Void)? = nil
    ) async throws -> Written<Int> {
        try await database.transaction { [database] connection in
            let rows = try await database.rows(
                """
                SELECT id::text, namespace FROM engram_memory
                WHERE id = ANY(\(ids.map(\.description))::uuid[]) AND live AND NOT (\(unescaped: unchanged))
                ORDER BY engram_memory.id FOR UPDATE
                """, on: connection)
            let inside = try rows.map { try $0.decode((String, String).self) }.filter {
                scope.contains(namespace: $0.1)
            }
            let updated = try await database.rows(
                """
                UPDATE engram_memory
                SET \(unescaped: assignment), version = version + 1, changed_xid = pg_current_xact_id()
                WHERE id = ANY(\(inside.map(\.0))::uuid[]) RETURNING id::text, namespace, version
                """, on: connection)
            var changes = ChangeRows()
            for row in updated {
                let (id, namespace, version) = try row.decode((String, String, Int64).self)
                if let id = MemoryID(id) { changes.add(namespace, op, id, version: version) }
            }
            try await more?(changes.ids.compactMap(MemoryID.init), &changes, connection)
            return Written(updated.count, token: try await changes.write(database, connection))
        }
    }

    func memoryInDatabase(_ id: MemoryID, scope: Scope) async throws -> Memory {
        try scope.require(.read, "read")
        let rows = try await database.rows(
            "SELECT record::text FROM engram_memory WHERE id = \(id.description)::uuid AND live")
        guard let row = rows.first else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        let memory = try MemoryJSON.memory(from: JSONValue(parsing: try row.decode(String.self)))
        guard scope.contains(namespace: memory.namespace) else {
            throw EngramError(.notFound, "no memory with this id", field: "id")
        }
        return memory
    }

    func trustInDatabase(_ ids: [MemoryID], scope: Scope) async throws -> [MemoryID: TrustLevel] {
        var levels: [MemoryID: TrustLevel] = [:]
        for row in try await database.rows(
            """
            SELECT id::text, namespace, record->>'trust' FROM engram_memory
            WHERE id = ANY(\(ids.map(\.description))::uuid[]) AND live
            """)
        {
            let (id, namespace, trust) = try row.decode((String, String, String).self)
            if let id = MemoryID(id), scope.contains(namespace: namespace) {
                levels[id] = try TrustLevel(name: trust)
            }
        }
        return levels
    }

    /// Inserts new memory rows (version 1) in one statement: the embeddings travel as one `bytea`.
    private static func insert(
        _ drafts: [MemoryDraft], _ database: ClusterDatabase, _ connection: PostgresConnection
    ) async throws {
        guard let dimension = drafts.first?.vector.count else { return }
        var vectors = ByteBuffer()
        vectors.reserveCapacity(drafts.count * dimension * 4)
        for draft in drafts {
            for x in draft.vector { vectors.writeInteger(x.bitPattern, endianness: .little) }
        }
        try await database.execute(
            """
            INSERT INTO engram_memory(id, namespace, version, live, content_hash, expires_at, record, embedding)
            SELECT t.id::uuid, t.namespace, 1, true, t.hash, e.expires, t.record::jsonb,
                   substring(\(vectors)::bytea FROM ((t.ord - 1) * \(dimension * 4) + 1)::integer FOR \(dimension * 4)::integer)
            FROM unnest(\(drafts.map(\.memory.id.description))::text[], \(drafts.map(\.memory.namespace))::text[],
                        \(drafts.map(\.contentHash))::text[],
                        \(drafts.map { $0.memory.expiresAt?.timeIntervalSince1970 ?? -1 })::float8[],
                        \(drafts.map { MemoryJSON.object($0.memory).jsonText })::text[])
                WITH ORDINALITY AS t(id, namespace, hash, expires_raw, record, ord),
                LATERAL (SELECT CASE WHEN t.expires_raw = -1 THEN NULL ELSE t.expires_raw END AS expires) AS e
            """, on: connection)
    }
}

/// The change-log rows of one transaction, written together at its end.
struct ChangeRows {
    var namespaces: [String] = []
    var ops: [String] = []
    var ids: [String] = []
    var versions: [Int64] = []

    mutating func add(_ namespace: String, _ op: String, _ id: MemoryID, version: Int64) {
        namespaces.append(namespace)
        ops.append(op)
        ids.append(id.description)
        versions.append(version)
    }

    /// Inserts the rows under the transaction's id and returns that id: the write's token.
    func write(_ database: ClusterDatabase, _ connection: PostgresConnection) async throws -> String {
        if !ids.isEmpty {
            try await database.execute(
                """
                INSERT INTO engram_change(xid, seq, namespace, op, id, version)
                SELECT pg_current_xact_id(), t.ord::integer, t.namespace, t.op, t.id::uuid, t.version
                FROM unnest(\(namespaces)::text[], \(ops)::text[], \(ids)::text[], \(versions)::bigint[])
                    WITH ORDINALITY AS t(namespace, op, id, version, ord)
                """, on: connection)
        }
        let rows = try await database.rows("SELECT pg_current_xact_id()::text", on: connection)
        return try rows[0].decode(String.self)
    }
}

/// Embeddings as PostgreSQL stores them: little-endian float32 bytes.
enum VectorBytes {
    static func buffer(_ vector: [Float]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(vector.count * 4)
        for x in vector { buffer.writeInteger(x.bitPattern, endianness: .little) }
        return buffer
    }

    static func floats(_ buffer: ByteBuffer) -> [Float] {
        var buffer = buffer
        var vector: [Float] = []
        vector.reserveCapacity(buffer.readableBytes / 4)
        while let bits = buffer.readInteger(endianness: .little, as: UInt32.self) {
            vector.append(Float(bitPattern: bits))
        }
        return vector
    }
}
