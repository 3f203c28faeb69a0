import Foundation
package import Logging
package import PostgresNIO

/// The cluster's PostgreSQL: a connection pool to the database at a `postgres://` URL, run for as long as
/// the value lives (``close()`` ends it).
package final class ClusterDatabase: Sendable {
    package let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>

    /// Connects (lazily: the first query opens the first connection) to `url`:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (TLS when the server offers it, unless
    /// `?sslmode=disable`).
    package init(url: String, logger: Logger = Logger(label: "engram.cluster")) throws {
        guard let parts = URLComponents(string: url),
            ["postgres", "postgresql"].contains(parts.scheme ?? ""),
            let host = parts.host, !host.isEmpty
        else {
            throw ClusterError.invalid("URL", "must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        let sslmode = parts.queryItems?.first(where: { $0.name == "sslmode" })?.value
        var configuration = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: parts.user ?? "postgres",
            password: parts.password,
            database: database.isEmpty ? nil : database,
            tls: sslmode == "disable" || host == "127.0.0.1" || host == "localhost"
                ? .disable : .prefer(.makeClientConfiguration()))
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(5)
        // PostgresNIO's own notices (a lease asked for before `run()` has started, and the like) are
        // not the operator's concern; errors reach the caller.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        self.client = client
        self.logger = quiet
        running = Task { await client.run() }
    }

    /// Stops the pool (queries in flight fail).
    package func close() {
        running.cancel()
    }

    /// Runs `body` in one transaction (READ COMMITTED), committed when it returns.
    package func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await client.withTransaction(logger: logger) { connection in try await body(connection) }
    }

    /// Runs `body` on one connection.
    package func connection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await client.withConnection { try await body($0) }
    }

    /// Every row of a query (decode each with `row.decode((A, B).self)`).
    package func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws
        -> [PostgresRow]
    {
        if let connection {
            return try await connection.query(query, logger: logger).collect()
        }
        return try await client.query(query, logger: logger).collect()
    }

    /// Runs a statement whose rows are not read.
    package func execute(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws {
        if let connection {
            _ = try await connection.query(query, logger: logger).collect()
        } else {
            _ = try await client.query(query, logger: logger).collect()
        }
    }
}

/// A cluster operation's refusal, with the part of the input or state it concerns.
package struct ClusterError: Error, CustomStringConvertible, Sendable {
    package var what: String
    package var message: String

    package static func invalid(_ what: String, _ message: String) -> ClusterError {
        ClusterError(what: what, message: message)
    }

    package var description: String { "\(what) \(message)" }
}
