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
        migrator.registerMigration(v5Migration) { db in
            // Keyword recall restricted to a few namespaces must not score the whole store: each memory's
            // full-text row carries a term naming its namespace (`FullText.namespaceTerm`), and a
            // restricted query ANDs the filter's namespace terms into its MATCH. Weight 0 in bm25 keeps
            // that column out of the score. The content hash finds exact duplicates on write.
            try db.execute(
                sql: """
                    ALTER TABLE memory ADD COLUMN scope_terms TEXT NOT NULL DEFAULT '';
                    ALTER TABLE memory ADD COLUMN helpful_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE memory ADD COLUMN unhelpful_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE memory ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
                    """)
            for namespace in try String.fetchAll(db, sql: "SELECT DISTINCT namespace FROM memory") {
                try db.execute(
                    sql: "UPDATE memory SET scope_terms = ? WHERE namespace = ?",
                    arguments: [FullText.namespaceTerm(namespace), namespace])
            }
            let texts = try Row.fetchCursor(db, sql: "SELECT rowid, content, cause, outcome FROM memory")
            var hashes: [(Int64, String)] = []
            while let row = try texts.next() {
                hashes.append((row[0], ContentHash.of(content: row[1], cause: row[2], outcome: row[3])))
            }
            for (rowID, hash) in hashes {
                try db.execute(
                    sql: "UPDATE memory SET content_hash = ? WHERE rowid = ?", arguments: [hash, rowID])
            }
            try db.execute(
                sql: #"""
                    CREATE INDEX memory_content_hash ON memory(namespace, content_hash);
                    DROP TRIGGER IF EXISTS "__memory_fts_ai";
                    DROP TRIGGER IF EXISTS "__memory_fts_ad";
                    DROP TRIGGER IF EXISTS "__memory_fts_au";
                    DROP TABLE memory_fts;
                    \#(v5FullText)
                    INSERT INTO memory_fts(memory_fts) VALUES ('rebuild');
                    """#)
        }
        migrator.registerMigration(v6Migration) { db in
            // A restricted query ANDing the namespace term still walked every query word's whole doclist
            // (80 us of a 200 us keyword recall in a 1 % namespace of 100k memories). The `engram`
            // tokenizer (Sources/CFullText/scoped.c) also indexes each word under its memory's namespace
            // term, at the same position, so a query inside one namespace reads doclists that hold only
            // that namespace's rows. The index reads its text through a view that puts the namespace
            // term in front of each text column (`FullText.scopedColumn`); the memory table is unchanged.
            let values = { (row: String) in
                "\(row).rowid, "
                    + FullText.textColumns.map { FullText.scopedColumn($0, of: row) }.joined(separator: ", ")
                    + ", \(row).scope_terms"
            }
            let columns = "rowid, " + FullText.textColumns.joined(separator: ", ") + ", scope_terms"
            try db.execute(
                sql: #"""
                    DROP TRIGGER IF EXISTS "__memory_fts_ad";
                    DROP TRIGGER IF EXISTS "__memory_fts_au";
                    DROP TABLE memory_fts;
                    CREATE VIEW memory_fts_source(\#(columns)) AS SELECT \#(values("memory")) FROM memory;
                    CREATE VIRTUAL TABLE memory_fts USING fts5(
                        content, cause, outcome, tags, scope_terms,
                        content='memory_fts_source', content_rowid='rowid', tokenize='engram porter unicode61');
                    CREATE TRIGGER "__memory_fts_ad" AFTER DELETE ON memory BEGIN
                        INSERT INTO memory_fts(memory_fts, \#(columns)) VALUES ('delete', \#(values("old")));
                    END;
                    CREATE TRIGGER "__memory_fts_au" AFTER UPDATE OF content, cause, outcome, tags, scope_terms ON memory
                    BEGIN
                        INSERT INTO memory_fts(memory_fts, \#(columns)) VALUES ('delete', \#(values("old")));
                        INSERT INTO memory_fts(\#(columns)) VALUES (\#(values("new")));
                    END;
                    INSERT INTO memory_fts(memory_fts) VALUES ('rebuild');
                    """#)
        }
        migrator.registerMigration(latestMigration) { db in
            // Provenance, quarantine and validity on every version of a memory; the audit log (hash-chained,
            // see `RecordStore+Audit`) and purge tombstones. Fact keys are per namespace. Memories stored
            // before have no source and `agent` trust, as their writers were the store's own agents.
            let columns = """
                ADD COLUMN source TEXT; ADD COLUMN trust INTEGER NOT NULL DEFAULT \(TrustLevel.agent.rawValue);
                ADD COLUMN derived_from TEXT NOT NULL DEFAULT ''; ADD COLUMN written_by TEXT;
                ADD COLUMN flags TEXT NOT NULL DEFAULT ''; ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
                ADD COLUMN fact_key TEXT; ADD COLUMN valid_from REAL; ADD COLUMN valid_until REAL
                """.split(separator: ";")
            for table in ["memory", "memory_history"] {
                for column in columns { try db.execute(sql: "ALTER TABLE \(table) \(column)") }
            }
            try db.execute(
                sql: """
                    CREATE INDEX memory_fact_key ON memory(namespace, fact_key) WHERE fact_key IS NOT NULL;
                    CREATE INDEX memory_history_superseded_by ON memory_history(superseded_by);
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY,
                        at REAL NOT NULL,
                        actor TEXT,
                        action TEXT NOT NULL,
                        ids TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE TABLE tombstone (
                        id TEXT PRIMARY KEY NOT NULL,
                        namespace TEXT NOT NULL,
                        purged_at REAL NOT NULL,
                        actor TEXT,
                        reason TEXT NOT NULL
                    ) WITHOUT ROWID;
                    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commit_counter';
                    """)
        }
        return migrator
    }

    /// The last migration's name: a read-only handle on a store no writer has upgraded yet lacks its
    /// changes and falls back to what the older schema offers. (It also advances the commit counter, so
    /// a slot cache from before it, which lacks trust and validity, is not read as current.)
    static let latestMigration = "v7: provenance, quarantine, validity, audit log, tombstones"
    static let v6Migration = "v6: words indexed under their namespace too"
    static let v5Migration = "v5: namespace terms in the full-text index, feedback, content hash"

    /// The full-text table and triggers v5 made: porter over unicode61, the text read from the memory
    /// table (tests rebuild it to stand for a store of that release).
    static let v5FullText = #"""
        CREATE VIRTUAL TABLE memory_fts USING fts5(
            content, cause, outcome, tags, scope_terms,
            content='memory', content_rowid='rowid', tokenize='porter unicode61');
        CREATE TRIGGER "__memory_fts_ad" AFTER DELETE ON memory BEGIN
            INSERT INTO memory_fts(memory_fts, rowid, content, cause, outcome, tags, scope_terms)
                VALUES ('delete', old.rowid, old.content, old.cause, old.outcome, old.tags, old.scope_terms);
        END;
        CREATE TRIGGER "__memory_fts_au" AFTER UPDATE OF content, cause, outcome, tags, scope_terms ON memory
        BEGIN
            INSERT INTO memory_fts(memory_fts, rowid, content, cause, outcome, tags, scope_terms)
                VALUES ('delete', old.rowid, old.content, old.cause, old.outcome, old.tags, old.scope_terms);
            INSERT INTO memory_fts(rowid, content, cause, outcome, tags, scope_terms)
                VALUES (new.rowid, new.content, new.cause, new.outcome, new.tags, new.scope_terms);
        END;
        """#
}
