internal import GRDB

/// The SQLite schema, as ordered migrations recorded in `grdb_migrations`.
enum Schema {
    /// The store format this build writes. Stores with a higher `format_version` are refused.
    static let formatVersion = 1

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: memories, history, full-text index, working memory") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE memory (
                        rowid INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        slot INTEGER NOT NULL UNIQUE,
                        namespace TEXT NOT NULL,
                        agent TEXT,
                        kind TEXT NOT NULL,
                        content TEXT NOT NULL,
                        cause TEXT,
                        outcome TEXT,
                        succeeded INTEGER,
                        tags TEXT NOT NULL,
                        importance REAL NOT NULL,
                        metadata TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        expires_at REAL,
                        last_recalled_at REAL,
                        recall_count INTEGER NOT NULL DEFAULT 0,
                        supersedes TEXT
                    );
                    CREATE INDEX memory_namespace ON memory(namespace);
                    CREATE TABLE memory_history (
                        id TEXT PRIMARY KEY NOT NULL,
                        namespace TEXT NOT NULL,
                        agent TEXT,
                        kind TEXT NOT NULL,
                        content TEXT NOT NULL,
                        cause TEXT,
                        outcome TEXT,
                        succeeded INTEGER,
                        tags TEXT NOT NULL,
                        importance REAL NOT NULL,
                        metadata TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        expires_at REAL,
                        supersedes TEXT,
                        superseded_by TEXT NOT NULL,
                        superseded_at REAL NOT NULL
                    );
                    CREATE TABLE working (
                        namespace TEXT NOT NULL,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        PRIMARY KEY (namespace, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX working_expiry ON working(expires_at);
                    """)
            // Porter stemming over unicode61; kept in sync by triggers in the writing transaction.
            try db.create(virtualTable: "memory_fts", using: FTS5()) { t in
                t.synchronize(withTable: "memory")
                t.tokenizer = .porter(wrapping: .unicode61())
                t.column("content")
                t.column("cause")
                t.column("outcome")
                t.column("tags")
            }
        }
        migrator.registerMigration("v2: persistent embedding cache") { db in
            try db.execute(
                sql: """
                    CREATE TABLE embedding_cache (
                        embedder TEXT NOT NULL,
                        text_hash TEXT NOT NULL,
                        vector BLOB NOT NULL,
                        PRIMARY KEY (embedder, text_hash)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3: full-text index per batch, not per row") { db in
            // A per-row trigger made FTS5 dominate imports (15k rows/s against 40k when indexed per
            // batch); `RecordStore` now indexes each write's new rows with one INSERT ... SELECT.
            try db.execute(sql: #"DROP TRIGGER IF EXISTS "__memory_fts_ai""#)
        }
        migrator.registerMigration("v4: full-text index follows text updates only") { db in
            // The synchronising update trigger fired on every UPDATE of a memory row, so compaction's
            // slot renumbering deleted and re-added every row's full-text entry, twice. Only the text
            // columns feed the index; the rowid, which links the two, never changes.
            try db.execute(
                sql: #"""
                    DROP TRIGGER IF EXISTS "__memory_fts_au";
                    CREATE TRIGGER "__memory_fts_au" AFTER UPDATE OF content, cause, outcome, tags ON memory BEGIN
                        INSERT INTO memory_fts(memory_fts, rowid, content, cause, outcome, tags)
                            VALUES ('delete', old.rowid, old.content, old.cause, old.outcome, old.tags);
                        INSERT INTO memory_fts(rowid, content, cause, outcome, tags)
                            VALUES (new.rowid, new.content, new.cause, new.outcome, new.tags);
                    END;
                    """#)
        }
        return migrator
    }
}
