import Foundation
internal import GRDB

/// The persistent embedding cache: vectors by embedder and text hash.
extension RecordStore {
    // MARK: Embedding cache

    /// Cached vectors for some text hashes of one embedder.
    func cachedEmbeddings(embedder: String, hashes: [String]) throws -> [String: [Float]] {
        guard !hashes.isEmpty else { return [:] }
        return try read { db in
            var result: [String: [Float]] = [:]
            // A read-only handle on a store not yet migrated to v2 has no cache table.
            guard try db.tableExists("embedding_cache") else { return result }
            for chunk in Self.chunks(hashes) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let rows = try Row.fetchAll(
                    db,
                    sql:
                        "SELECT text_hash, vector FROM embedding_cache WHERE embedder = ? AND text_hash IN (\(marks))",
                    arguments: StatementArguments([embedder] + chunk))
                for row in rows {
                    let data: Data = row["vector"]
                    result[row["text_hash"]] = data.withUnsafeBytes { raw in
                        (0..<(raw.count / 4)).map {
                            Float(
                                bitPattern: UInt32(
                                    littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                        }
                    }
                }
            }
            return result
        }
    }

    /// Stores vectors by text hash (replacing equal keys).
    func cacheEmbeddings(embedder: String, _ entries: [(hash: String, vector: [Float])]) throws {
        guard !entries.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO embedding_cache(embedder, text_hash, vector) VALUES (?, ?, ?)")
            for entry in entries {
                let data = entry.vector.map(\.bitPattern.littleEndian).withUnsafeBufferPointer {
                    Data(buffer: $0)
                }
                try statement.execute(arguments: [embedder, entry.hash, data])
            }
        }
    }

    func cachedEmbeddingCount() throws -> Int {
        try read { db in
            guard try db.tableExists("embedding_cache") else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM embedding_cache") ?? 0
        }
    }
}
