import Engram
import Foundation
package import Logging
package import PostgresNIO

/// The cluster's PostgreSQL: a connection pool to the server at a `postgres://` URL that accepts writes.
///
/// The URL may name several servers, as libpq's does (`postgres://USER@HOST1:PORT1,HOST2:PORT2/DATABASE`):
/// a primary and the standbys that may replace it. The pool goes to the first that is not in recovery;
/// when a query fails in a way that says the server went away or turned read-only, the servers are asked
/// again, so after a standby is promoted the next operations reach it. Operations in between fail, and
/// callers answer them `behind` (retryable). Runs for as long as the value lives (``close()`` ends it).
package final class ClusterDatabase: Sendable {
    /// One server the URL names.
    struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { "\(host):\(port)" }
    }

    /// A pool to one server.
    struct Pool: Sendable {
        let endpoint: Endpoint
        let client: PostgresClient
        let running: Task<Void, Never>
        /// Set when the pool is replaced or closed.
        let retired = Locked(false)

        func retire() {
            retired.withLock { $0 = true }
            running.cancel()
        }
    }

    private struct State: Sendable {
        var pool: Pool?
        /// Set by a failure that may mean the server is gone or no longer the primary.
        var suspect = true
        var probe: Task<Pool, any Error>?
        var closed = false
        var moves = 0
    }

    let endpoints: [Endpoint]
    let logger: Logger
    private let username: String
    private let password: String?
    private let database: String?
    private let tls: Bool
    private let state = Locked(State())

    /// How long an operation waits for a pooled connection before it fails (the pool itself would keep
    /// retrying a dead server for a minute).
    static let leaseTimeout = Duration.seconds(3)

    /// Connects (lazily: the first operation finds the primary) to `url`:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]...]/DATABASE` (TLS when the server offers it,
    /// unless `?sslmode=disable` or the host is loopback).
    package init(url: String, logger: Logger = Logger(label: "engram.cluster")) throws {
        let invalid = ClusterError.invalid(
            "URL", "must be postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]...]/DATABASE")
        guard let schemeEnd = url.range(of: "://") else { throw invalid }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let hostList = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        var endpoints: [Endpoint] = []
        for item in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            // Each item parsed as the URL it would be alone, so IPv6 brackets and ports follow the URL rules.
            guard
                let parts = URLComponents(
                    string: url.replacingCharacters(
                        in: authority.startIndex..<authority.endIndex,
                        with: authority.dropLast(hostList.count) + item)),
                ["postgres", "postgresql"].contains(parts.scheme ?? ""),
                let host = parts.host, !host.isEmpty
            else { throw invalid }
            endpoints.append(Endpoint(host: host, port: parts.port ?? 5432))
        }
        guard
            let first = URLComponents(
                string: url.replacingCharacters(
                    in: authority.startIndex..<authority.endIndex,
                    with: authority.dropLast(hostList.count) + (hostList.split(separator: ",").first ?? ""))),
            !endpoints.isEmpty
        else { throw invalid }
        self.endpoints = endpoints
        username = first.user ?? "postgres"
        password = first.password
        let path = String(first.path.drop(while: { $0 == "/" }))
        database = path.isEmpty ? nil : path
        let sslmode = first.queryItems?.first(where: { $0.name == "sslmode" })?.value
        tls =
            sslmode != "disable"
            && endpoints.contains { !["127.0.0.1", "localhost", "::1"].contains($0.host) }
        // PostgresNIO's own notices (a lease asked for before `run()` has started, and the like) are
        // not the operator's concern; errors reach the caller.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .error)
        self.logger = quiet
    }

    /// How many times the pool has gone to a server other than the one before (its first counts): a
    /// change means the primary moved, and transaction ids may have been given out again.
    package var moves: Int { state.withLock { $0.moves } }

    /// Stops the pool (queries in flight fail).
    package func close() {
        let pool = state.withLock { state in
            state.closed = true
            state.probe?.cancel()
            return state.pool
        }
        pool?.retire()
    }

    /// Runs `body` in one transaction (READ COMMITTED), committed when it returns. An error `body` throws
    /// reaches the caller as it is (not wrapped in PostgresNIO's transaction error).
    package func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection { [logger] connection in
            do {
                return try await connection.withTransaction(logger: logger) { try await body($0) }
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error.commitError ?? error.beginError ?? error
            }
        }
    }

    /// Runs `body` on one pooled connection to the primary.
    package func connection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let pool = try await primary()
        do {
            return try await Self.leasing(from: pool, body)
        } catch {
            if Self.suggestsFailover(error) {
                state.withLock { if $0.pool?.endpoint == pool.endpoint { $0.suspect = true } }
            }
            throw error
        }
    }

    /// Every row of a query (decode each with `row.decode((A, B).self)`).
    package func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws
        -> [PostgresRow]
    {
        if let connection {
            return try await connection.query(query, logger: logger).collect()
        }
        return try await self.connection { [logger] in try await $0.query(query, logger: logger).collect() }
    }

    /// Runs a statement whose rows are not read.
    package func execute(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws {
        _ = try await rows(query, on: connection)
    }

    // MARK: Finding the primary

    /// The pool to the primary: the current one, or, after a failure that may mean it moved, the pool
    /// to whichever server now says it is not in recovery (one probe at a time; others wait for it).
    func primary() async throws -> Pool {
        let (pool, probe): (Pool?, Task<Pool, any Error>?) = try state.withLock { state in
            guard !state.closed else { throw ClusterError.invalid("the database pool", "is closed") }
            if let pool = state.pool, !state.suspect { return (pool, nil) }
            if state.probe == nil { state.probe = Task { try await self.findPrimary() } }
            return (nil, state.probe)
        }
        if let pool { return pool }
        return try await probe!.value
    }

    private func findPrimary() async throws -> Pool {
        defer { state.withLock { $0.probe = nil } }
        let current = state.withLock { $0.pool?.endpoint }
        // The current server first: a passing hiccup should not move the pool.
        let order = endpoints.filter { $0 == current } + endpoints.filter { $0 != current }
        var answers: [String] = []
        for endpoint in order {
            do {
                if try await acceptsWrites(endpoint) {
                    return state.withLock { state in
                        state.suspect = false
                        if let pool = state.pool, pool.endpoint == endpoint { return pool }
                        state.pool?.retire()
                        let pool = makePool(endpoint)
                        state.pool = pool
                        state.moves += 1
                        if current != nil {
                            logger.critical(
                                "the cluster's database moved", metadata: ["primary": "\(endpoint)"])
                        }
                        return pool
                    }
                }
                answers.append("\(endpoint) is in recovery")
            } catch {
                answers.append("\(endpoint) did not answer")
            }
        }
        throw ClusterError.invalid(
            "PostgreSQL", "has no server that accepts writes (\(answers.joined(separator: "; ")))")
    }

    /// Whether the server at `endpoint` answers and is not a standby.
    private func acceptsWrites(_ endpoint: Endpoint) async throws -> Bool {
        var configuration = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: username, password: password,
            database: database,
            tls: tls ? .prefer(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable)
        configuration.options.connectTimeout = TimeAmount.seconds(1)
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 0, logger: logger)
        defer { Task { try? await connection.close() } }
        return try await !connection.query("SELECT pg_is_in_recovery()", logger: logger).collect()[0]
            .decode(Bool.self)
    }

    private func makePool(_ endpoint: Endpoint) -> Pool {
        var configuration = PostgresClient.Configuration(
            host: endpoint.host, port: endpoint.port, username: username, password: password,
            database: database, tls: tls ? .prefer(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        // Detached: a pool made while serving a request must not inherit that request's task-locals
        // (ServiceLifecycle's graceful-shutdown handler among them, which would end the pool first).
        return Pool(endpoint: endpoint, client: client, running: Task.detached { await client.run() })
    }

    /// Runs `body` on a connection from `pool`. The caller stops waiting, with an error, when no connection
    /// is leased within ``leaseTimeout``, when its own task is cancelled, or when the pool is retired (the
    /// primary moved): an operation on a pool being shut down after its server died has been seen never to
    /// return, so it is cancelled and left behind rather than awaited.
    private static func leasing<T: Sendable>(
        from pool: Pool, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let leased = Locked(false)
        let operation = Task {
            try await pool.client.withConnection { connection in
                leased.withLock { $0 = true }
                return try await body(connection)
            }
        }
        let waiter = Locked<CheckedContinuation<T, any Error>?>(nil)
        @Sendable func finish(_ result: Result<T, any Error>) {
            waiter.withLock { $0.take() }?.resume(with: result)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiter.withLock { $0 = continuation }
                if Task.isCancelled { finish(.failure(CancellationError())) }
                Task { finish(await operation.result) }
                Task {
                    var waited = Duration.zero
                    while waiter.withLock({ $0 != nil }) {
                        try? await Task.sleep(for: .milliseconds(100))
                        waited += .milliseconds(100)
                        if waited >= leaseTimeout, !leased.withLock({ $0 }) {
                            operation.cancel()
                            finish(.failure(LeaseTimeout()))
                        } else if pool.retired.withLock({ $0 }) {
                            operation.cancel()
                            finish(.failure(PoolRetired()))
                        }
                    }
                }
            }
        } onCancel: {
            operation.cancel()
            finish(.failure(CancellationError()))
        }
    }

    /// The primary moved while the operation ran.
    struct PoolRetired: Error {}

    /// No pooled connection within the lease timeout.
    struct LeaseTimeout: Error {}

    /// Whether `error` may mean the server went away, is shutting down or is no longer the primary.
    static func suggestsFailover(_ error: any Error) -> Bool {
        switch error {
        case is CancellationError: return false
        case let error as PostgresTransactionError:
            return [error.beginError, error.closureError, error.commitError].contains {
                $0.map(suggestsFailover) ?? false
            }
        case let error as PSQLError:
            guard error.code == .server else { return error.code != .queryCancelled }
            let state = error.serverInfo?[.sqlState] ?? ""
            // read_only_sql_transaction, connection exceptions, operator intervention (shutdowns).
            return state == "25006" || state.hasPrefix("08") || state.hasPrefix("57P")
        case is EngramError, is ClusterError: return false
        default: return true
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
