package import Engram
package import EngramService
import Foundation
package import Logging
import PostgresNIO

/// One node of a cluster (`engram serve --cluster URL --node NAME --store DIR`): its store is a replica
/// of the shards the map gives it, rebuilt from PostgreSQL whenever it has no applied position (a new or
/// damaged node), then kept current by the follower. Writes go to PostgreSQL; recalls ask one live node
/// per shard and merge. It is the ``ClusterBackend`` its ``MemoryService`` calls.
package final class ClusterNode: ClusterBackend, Sendable {
    package let name: String
    package let store: MemoryStore
    package let settings: ClusterSchema.Settings
    let database: ClusterDatabase
    let logger: Logger
    let state: Locked<NodeState>
    /// The lag beyond which the node reports itself not ready (`/readyz`).
    let maxLag: Double
    private let tasks = Locked<[Task<Void, Never>]>([])

    /// How long a lease lasts without renewal; nodes renew every second.
    static let leaseSeconds = 5
    /// Change-log rows applied per poll, and memories per bootstrap page: 5,000, or
    /// `$ENGRAM_CLUSTER_BATCH` (the tests make it small, so that full batches and pages are exercised).
    let batch: Int

    /// Connects to the cluster at `url` and opens the replica in `directory/replica` (made anew when it is
    /// missing, unreadable or never finished copying; the directory's other files, such as the keys file,
    /// are left alone). The node joins the map and follows the change log once ``start(address:)`` is
    /// called.
    package init(
        url: String, name: String, directory: String, maxLag: Double = 10, logger: Logger
    ) async throws {
        guard !name.isEmpty, name.utf8.count <= 128, !name.contains(",") else {
            throw ClusterError.invalid("--node", "must be a name of 1 to 128 bytes without commas")
        }
        let database = try ClusterDatabase(url: url, logger: logger)
        do {
            settings = try await ClusterSchema.settings(on: database)
            store = try Self.openStore(directory + "/replica", settings, logger: logger)
        } catch {
            database.close()
            throw error
        }
        self.name = name
        self.maxLag = maxLag
        batch =
            ProcessInfo.processInfo.environment["ENGRAM_CLUSTER_BATCH"].flatMap(Int.init).map { max(1, $0) }
            ?? 5000
        self.database = database
        self.logger = logger
        state = Locked(NodeState(position: (try? store.replicaPosition()).flatMap(Position.init)))
    }

    /// Opens the node's replica, or makes it anew when it is missing, damaged or holds no applied position
    /// (a copy that never finished is not trusted). Everything in it is in PostgreSQL, so nothing is lost.
    static func openStore(
        _ directory: String, _ settings: ClusterSchema.Settings, logger: Logger
    ) throws -> MemoryStore {
        if FileManager.default.fileExists(atPath: directory) {
            let opened: MemoryStore
            do {
                opened = try MemoryStore.open(at: directory)
            } catch let error as EngramError where error.code != .locked {
                logger.warning(
                    "the replica cannot be opened; copying it anew", metadata: ["error": "\(error)"])
                try FileManager.default.removeItem(atPath: directory)
                return try MemoryStore.create(
                    at: directory, dimension: settings.dimension, embedder: settings.embedder)
            }
            let store = opened
            if (try store.replicaPosition()) != nil {
                guard store.dimension == settings.dimension else {
                    try? store.close()
                    throw ClusterError.invalid(
                        "--store",
                        "has \(store.dimension) dimensions; the cluster's vectors have \(settings.dimension)")
                }
                return store
            }
            try store.close()
            try FileManager.default.removeItem(atPath: directory)
        }
        return try MemoryStore.create(
            at: directory, dimension: settings.dimension, embedder: settings.embedder)
    }

    /// Registers the node at `address` (its HTTP base URL, where other nodes send their recall shares),
    /// takes its place in the shard map, rebuilds its store if it has no position, and starts following
    /// the change log and renewing its lease.
    package func start(address: String) async throws {
        try await register(address: address)
        try await join()
        let (position, map) = state.withLock { ($0.position, $0.map) }
        if let position, position.epoch != map.epoch {
            // The map changed while the node was away: what it holds may no longer be its shards.
            logger.info("the shard map changed while the node was down; copying its shards anew")
            try store.dropReplicas { _ in false }
            state.withLock { $0.position = nil }
        }
        if state.withLock({ $0.position }) == nil { try await bootstrap() }
        state.withLock { $0.phase = "following" }
        let follower = Task { [self] in await follow() }
        let heartbeat = Task { [self] in await renewLeases(address: address) }
        tasks.withLock { $0 = [follower, heartbeat] }
    }

    /// Stops following, gives up the lease and closes the database pool (the caller closes the store).
    package func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for task in tasks.withLock({ $0 }) { await task.value }
        try? await database.execute(
            "UPDATE engram_node SET lease_until = now(), state = 'stopped' WHERE name = \(name)")
        database.close()
    }

    // MARK: ClusterBackend

    package func remember(_ drafts: [MemoryDraft], scope: Scope) async throws -> Written<[RememberResult]> {
        try await reachingDatabase { try await rememberInDatabase(drafts) }
    }

    package func update(
        _ id: MemoryID, scope: Scope,
        draft: @escaping @Sendable (Memory) throws -> (memory: Memory, vector: [Float]?)
    ) async throws -> Written<Memory> {
        try await reachingDatabase { try await updateInDatabase(id, scope: scope, draft: draft) }
    }

    package func forget(_ ids: [MemoryID], scope: Scope) async throws -> Written<Int> {
        try await reachingDatabase { try await forgetInDatabase(ids, scope: scope) }
    }

    package func setQuarantined(_ ids: [MemoryID], _ quarantined: Bool, scope: Scope) async throws -> Written<
        Int
    > {
        try await reachingDatabase { try await setQuarantinedInDatabase(ids, quarantined, scope: scope) }
    }

    package func memory(_ id: MemoryID, scope: Scope) async throws -> Memory {
        try await reachingDatabase { try await memoryInDatabase(id, scope: scope) }
    }

    package func trust(of ids: [MemoryID], scope: Scope) async throws -> [MemoryID: TrustLevel] {
        try await reachingDatabase { try await trustInDatabase(ids, scope: scope) }
    }

    /// Returns once this node has applied the write of `token` and every write acknowledged before it.
    /// The follower gets there within a poll; when it cannot (a transaction held open keeps the horizon
    /// below the token), the node applies the committed change-log rows above its horizon at once: the
    /// rows' current versions, so deletes are honoured and nothing goes back.
    package func awaitApplied(_ token: String?) async throws {
        guard state.withLock({ $0.position }) != nil else {
            throw EngramError(.behind, "this node is still copying its shards from PostgreSQL; retry shortly")
        }
        guard state.withLock({ $0.phase }) != "rebalancing" else {
            throw EngramError(.behind, "this node is moving shards; retry shortly")
        }
        guard let token else { return }
        guard let xid = UInt64(token) else { throw EngramError.invalid("token", "is not a write token") }
        noticeFailover()
        let deadline = ContinuousClock.now + .milliseconds(100)
        while !state.withLock({ $0.sees(xid) }) {
            guard ContinuousClock.now < deadline else {
                try await applyTail()
                guard state.withLock({ $0.sees(xid) }) else {
                    throw EngramError.invalid("token", "names no committed write")
                }
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Runs a PostgreSQL operation; a failure of the database itself (unreachable, failing over, a
    /// serialization conflict) is `behind`, which callers retry; the operation's own refusals pass as
    /// they are. A write whose commit was cut off may or may not have happened: its retry is an exact
    /// duplicate, which is not stored twice.
    func reachingDatabase<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EngramError {
            throw error
        } catch {
            logger.warning("PostgreSQL failed", metadata: ["error": "\(String(reflecting: error))"])
            throw EngramError(.behind, "the cluster's database did not answer; retry shortly")
        }
    }

    // MARK: Figures

    package var figures: ClusterFigures {
        state.withLock { s in
            var f = ClusterFigures()
            (f.lagSeconds, f.lagRows, f.appliedRows, f.bootstrapped) =
                (s.lagSeconds, s.lagRows, s.appliedRows, s.bootstrapped)
            (f.gathers, f.gatherNodes, f.gatherSeconds) = (s.gathers, s.gatherNodes, s.gatherSeconds)
            f.ready = s.phase == "following" && s.lagSeconds <= maxLag
            f.detail =
                s.phase != "following"
                ? "\(s.phase) (\(s.bootstrapped) memories copied)"
                : "lag \((s.lagSeconds * 1000).rounded() / 1000) s (bound \(maxLag) s), \(s.lagRows) change-log rows"
            return f
        }
    }

}

/// What a node knows of itself: its applied position, the shard map and the live nodes it last read,
/// and counters for the status and metrics.
package struct NodeState: Sendable {
    package var position: Position?
    package var map = ShardMap([])
    package var peers: [String: String] = [:]
    package var phase = "starting"
    package var appliedRows = 0
    package var bootstrapped = 0
    package var lagRows = 0
    package var lagSeconds = 0.0
    package var caughtUpAt = ContinuousClock.now
    /// The snapshot the last tail apply read the change log in: every transaction it shows committed
    /// (below its `xmax` and not in progress) is applied.
    package var tail: (xmax: UInt64, inProgress: Set<UInt64>)?
    /// The database's ``ClusterDatabase/moves`` when the node last took notice (see
    /// ``ClusterNode/noticeFailover()``).
    package var moves = 0
    package var gathers = 0
    package var gatherNodes = 0
    package var gatherSeconds = 0.0

    /// Whether the write of transaction `xid` (and every write acknowledged before it) is applied.
    func sees(_ xid: UInt64) -> Bool {
        (position?.horizon ?? 0) > xid || tail.map { xid < $0.xmax && !$0.inProgress.contains(xid) } ?? false
    }

    init(position: Position?) { self.position = position }
}

/// Where a replica is in the change log: every row up to (`xid`, `seq`) is applied, and every
/// transaction below `horizon` has finished, so a token below it is seen; `epoch` is the shard map's
/// the store holds. Kept in the store as `xid/seq/horizon/epoch`.
package struct Position: Sendable, Hashable, CustomStringConvertible {
    package var xid: UInt64
    package var seq: Int64
    package var horizon: UInt64
    package var epoch: Int64

    init(xid: UInt64, seq: Int64, horizon: UInt64, epoch: Int64) {
        (self.xid, self.seq, self.horizon, self.epoch) = (xid, seq, horizon, epoch)
    }

    init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 4, let xid = UInt64(parts[0]), let seq = Int64(parts[1]),
            let h = UInt64(parts[2]),
            let epoch = Int64(parts[3])
        else { return nil }
        self.init(xid: xid, seq: seq, horizon: h, epoch: epoch)
    }

    package var description: String { "\(xid)/\(seq)/\(horizon)/\(epoch)" }
}
