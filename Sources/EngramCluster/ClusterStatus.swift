package import Engram
import Foundation
import PostgresNIO

/// What `engram cluster status` shows: the nodes (lease, applied horizon, lag), the shard map, and
/// PostgreSQL's own horizon and memory count.
package enum ClusterStatus {
    package static func read(from database: ClusterDatabase) async throws -> JSONValue {
        let settings = try await ClusterSchema.settings(on: database)
        let horizon = try await ClusterNode.horizon(database, nil)
        let nodes = try await database.rows(
            """
            SELECT name, address, lease_until > now(), state, horizon, lag_rows, lag_seconds, applied_rows,
                   bootstrapped
            FROM engram_node ORDER BY name
            """
        ).map { row -> JSONValue in
            let (name, address, live, state, applied, lagRows, lagSeconds, appliedRows, bootstrapped) =
                try row.decode((String, String, Bool, String, String?, Int64, Double, Int64, Int64).self)
            return .object([
                "name": .string(name), "address": .string(address), "live": .bool(live),
                "state": .string(state),
                "horizon": applied.map(JSONValue.string) ?? .null, "lag_rows": .number(Double(lagRows)),
                "lag_seconds": .number((lagSeconds * 1000).rounded() / 1000),
                "applied_rows": .number(Double(appliedRows)), "bootstrapped": .number(Double(bootstrapped)),
            ])
        }
        let shards = try await database.rows("SELECT prefix, nodes, epoch FROM engram_shard ORDER BY prefix")
            .map {
                row -> JSONValue in
                let (prefix, nodes, epoch) = try row.decode((String, [String], Int64).self)
                return .object([
                    "prefix": .string(prefix), "nodes": .array(nodes.map(JSONValue.string)),
                    "epoch": .number(Double(epoch)),
                ])
            }
        let memories = try await database.rows("SELECT count(*) FROM engram_memory WHERE live")[0].decode(
            Int64.self)
        return .object([
            "nodes": .array(nodes), "shards": .array(shards), "horizon": .string(String(horizon)),
            "memories": .number(Double(memories)), "dimension": .number(Double(settings.dimension)),
            "embedder": .string(settings.embedder), "copies": .number(Double(settings.copies)),
        ])
    }
}
