import Engram
import Foundation
package import PostgresNIO

/// The cluster's tables in PostgreSQL. Every memory version is a row of `engram_memory` (the record as
/// Engram's wire JSON, the unit-length embedding as little-endian float32 `bytea`, a `version` bumped under
/// the row lock by every change); every change adds a row to `engram_change` in the same transaction,
/// keyed by the writer's transaction id (`xid8`) and a sequence within it. Nodes follow that log below
/// the oldest running transaction (`pg_snapshot_xmin`), never by a sequence: a sequence is allocated
/// before commit, so a follower of one would skip rows that commit late.
package enum ClusterSchema {
    static let statements: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS engram_cluster (key text PRIMARY KEY, value text NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS engram_memory (
            id uuid PRIMARY KEY,
            namespace text NOT NULL,
            version bigint NOT NULL,
            live boolean NOT NULL,
            content_hash text NOT NULL,
            expires_at double precision,
            record jsonb NOT NULL,
            embedding bytea NOT NULL,
            changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id())
        """,
        """
        CREATE INDEX IF NOT EXISTS engram_memory_duplicates
            ON engram_memory (namespace, content_hash) WHERE live
        """,
        """
        CREATE TABLE IF NOT EXISTS engram_change (
            xid xid8 NOT NULL,
            seq integer NOT NULL,
            namespace text NOT NULL,
            op text NOT NULL,
            id uuid NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (xid, seq))
        """,
        """
        CREATE TABLE IF NOT EXISTS engram_shard (
            prefix text PRIMARY KEY,
            nodes text[] NOT NULL,
            epoch bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS engram_node (
            name text PRIMARY KEY,
            address text NOT NULL,
            lease_until timestamptz NOT NULL,
            horizon text,
            lag_rows bigint NOT NULL DEFAULT 0,
            lag_seconds double precision NOT NULL DEFAULT 0,
            applied_rows bigint NOT NULL DEFAULT 0,
            bootstrapped bigint NOT NULL DEFAULT 0,
            state text NOT NULL DEFAULT 'starting',
            updated_at timestamptz NOT NULL DEFAULT now())
        """,
        "ALTER TABLE engram_node ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0",
    ]

    /// The cluster's settings, fixed at `engram cluster init`.
    package struct Settings: Sendable, Hashable {
        package var dimension: Int
        package var embedder: String
        /// Nodes holding each shard.
        package var copies: Int

        package init(dimension: Int, embedder: String, copies: Int) {
            self.dimension = dimension
            self.embedder = embedder
            self.copies = copies
        }
    }

    /// Creates the tables and the whole-keyspace shard when missing, and records `settings` unless the
    /// cluster has them already (then they must agree). Safe to run again.
    package static func install(_ settings: Settings, on database: ClusterDatabase) async throws -> Settings {
        try await database.transaction { connection in
            // One installer at a time: CREATE ... IF NOT EXISTS races with itself.
            try await database.execute("SELECT pg_advisory_xact_lock(7454912, 1)", on: connection)
            for statement in statements { try await database.execute(statement, on: connection) }
            for (key, value) in [
                ("dimension", String(settings.dimension)), ("embedder", settings.embedder),
                ("copies", String(settings.copies)),
            ] {
                try await database.execute(
                    "INSERT INTO engram_cluster(key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO NOTHING",
                    on: connection)
            }
            try await database.execute(
                "INSERT INTO engram_shard(prefix, nodes, epoch) VALUES ('', '{}', 1) ON CONFLICT DO NOTHING",
                on: connection)
            return try await Self.settings(on: database, connection: connection)
        }
    }

    /// Sets which nodes hold the shard `prefix` (making it when missing), or with no nodes removes it (its
    /// namespaces fall to the next longer-to-shorter prefix that holds them), under the coordinator's
    /// lock; the map's epoch rises, and every node rebalances to it within a second or two.
    package static func setShard(_ prefix: String, nodes: [String], on database: ClusterDatabase) async throws
    {
        if !prefix.isEmpty { try Limits.validateNamespace(prefix, field: "prefix") }
        guard Set(nodes).count == nodes.count, nodes.allSatisfy({ !$0.isEmpty && !$0.contains(",") }) else {
            throw ClusterError.invalid("--nodes", "must name distinct nodes")
        }
        guard !(prefix.isEmpty && nodes.isEmpty) else {
            throw ClusterError.invalid(
                "the empty prefix", "holds every namespace no other shard holds; it cannot be removed")
        }
        try await database.transaction { connection in
            try await database.execute("SELECT pg_advisory_xact_lock(7454912, 2)", on: connection)
            let epoch = try await database.rows(
                "SELECT coalesce(max(epoch), 0) + 1 FROM engram_shard", on: connection)[0]
                .decode(Int64.self)
            if nodes.isEmpty {
                try await database.execute(
                    "DELETE FROM engram_shard WHERE prefix = \(prefix)", on: connection)
                // The epoch must still rise: the shard that takes its namespaces over records it.
                try await database.execute(
                    "UPDATE engram_shard SET epoch = \(epoch) WHERE prefix = ''", on: connection)
            } else {
                try await database.execute(
                    """
                    INSERT INTO engram_shard(prefix, nodes, epoch) VALUES (\(prefix), \(nodes), \(epoch))
                    ON CONFLICT (prefix) DO UPDATE SET nodes = excluded.nodes, epoch = excluded.epoch
                    """, on: connection)
            }
        }
    }

    /// The settings `engram cluster init` recorded.
    package static func settings(
        on database: ClusterDatabase, connection: PostgresConnection? = nil
    ) async throws -> Settings {
        let rows = try await database.rows("SELECT key, value FROM engram_cluster", on: connection)
        let values = Dictionary(
            try rows.map { try $0.decode((String, String).self) }, uniquingKeysWith: { a, _ in a })
        guard let dimension = values["dimension"].flatMap(Int.init), let embedder = values["embedder"],
            let copies = values["copies"].flatMap(Int.init)
        else {
            throw ClusterError.invalid(
                "the database", "holds no Engram cluster; run `engram cluster init URL`")
        }
        return Settings(dimension: dimension, embedder: embedder, copies: copies)
    }
}
