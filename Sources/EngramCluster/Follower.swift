import Engram
import EngramService
import Foundation
import PostgresNIO

/// Keeping the replica current: the bootstrap (a REPEATABLE READ snapshot paged in by id, then the
/// change log from that snapshot's horizon on) and the follower (change-log rows below the oldest
/// running transaction, applied by the rows' current versions, idempotently).
extension ClusterNode {
    /// Adds or renews this node's row and lease.
    func register(address: String) async throws {
        try await database.execute(
            """
            INSERT INTO engram_node(name, address, lease_until, state)
            VALUES (\(name), \(address), now() + make_interval(secs => \(Self.leaseSeconds)), 'starting')
            ON CONFLICT (name) DO UPDATE SET address = excluded.address, lease_until = excluded.lease_until,
                state = 'starting', updated_at = now()
            """)
    }

    /// Takes a copy of every shard that has fewer copies than the cluster keeps (under the coordinator's
    /// advisory lock, so two joining nodes do not both take the last place), then reads the map.
    func join() async throws {
        let copies = settings.copies
        try await database.transaction { [database, name] connection in
            try await database.execute("SELECT pg_advisory_xact_lock(7454912, 2)", on: connection)
            try await database.execute(
                """
                UPDATE engram_shard SET nodes = array_append(nodes, \(name)), epoch = epoch + 1
                WHERE NOT (\(name) = ANY(nodes)) AND cardinality(nodes) < \(copies)
                """, on: connection)
        }
        let map = try await refreshMap()
        state.withLock { $0.map = map }
    }

    /// Reads the shard map, and keeps the nodes whose leases hold as the peers to ask.
    func refreshMap() async throws -> ShardMap {
        let shards = try await database.rows("SELECT prefix, nodes, epoch FROM engram_shard").map {
            let (prefix, nodes, epoch) = try $0.decode((String, [String], Int64).self)
            return ShardMap.Shard(prefix: prefix, nodes: nodes, epoch: epoch)
        }
        let peers = try await database.rows(
            "SELECT name, address FROM engram_node WHERE lease_until > now() AND address <> ''"
        ).map { try $0.decode((String, String).self) }
        state.withLock { $0.peers = Dictionary(peers, uniquingKeysWith: { a, _ in a }) }
        return ShardMap(shards)
    }

    /// Fills the (empty) store with the live memories of this node's shards as of one snapshot, then sets
    /// the position to that snapshot's horizon: every change the snapshot missed is at or above it.
    func bootstrap() async throws {
        state.withLock { $0.phase = "bootstrapping" }
        let (map, name) = (state.withLock { $0.map }, name)
        let started = ContinuousClock.now
        let copied = try await copySnapshot { map.holds(name, $0) }
        let position = Position(
            xid: copied.last.xid, seq: copied.last.seq, horizon: copied.horizon, epoch: map.epoch)
        try store.replicate([], removing: [], position: position.description)
        state.withLock { $0.position = position }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        logger.info(
            "bootstrapped from PostgreSQL",
            metadata: ["memories": "\(state.withLock { $0.bootstrapped })", "seconds": "\(seconds)"])
    }

    /// Takes a changed shard map: from then on the follower applies by it; the namespaces the node now
    /// holds are copied from one snapshot (changes after it come through the follower, which already
    /// uses the new map), and those it no longer holds are dropped once the other nodes have had time to
    /// read the map too (a node with the old map may still ask this one for them meanwhile). The node
    /// answers no recall share while it moves (`behind`: the asker tries the next copy).
    func rebalance(to map: ShardMap) async throws {
        let (old, name) = (state.withLock { $0.map }, name)
        state.withLock {
            $0.map = map
            $0.phase = "rebalancing"
        }
        logger.info("the shard map changed; rebalancing", metadata: ["epoch": "\(map.epoch)"])
        _ = try await copySnapshot { map.holds(name, $0) && !old.holds(name, $0) }
        try await Task.sleep(for: .seconds(2))
        let dropped = try store.dropReplicas { map.holds(name, $0) }
        // The new epoch is recorded with the follower's next position.
        state.withLock {
            $0.phase = "following"
            $0.position?.epoch = map.epoch
        }
        logger.info("rebalanced", metadata: ["epoch": "\(map.epoch)", "dropped": "\(dropped)"])
    }

    /// Copies the live memories of the namespaces `wanted` accepts, as of one REPEATABLE READ snapshot,
    /// paged by id (each page applied while the next is read); returns the snapshot's horizon and its
    /// last change-log row below it, where following it starts. (Not the horizon itself: after a standby
    /// is promoted, ids the old primary gave out but never replicated may be given out again, and those
    /// are all above every committed transaction's id, not necessarily above the horizon.)
    func copySnapshot(where wanted: @escaping @Sendable (String) -> Bool) async throws -> (
        horizon: UInt64, last: (xid: UInt64, seq: Int64)
    ) {
        try await database.connection { [database, store, batch] connection in
            try await database.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", on: connection)
            let horizon = try await Self.horizon(database, connection)
            let last =
                try await database.rows(
                    """
                    SELECT xid::text, seq::bigint FROM engram_change WHERE xid < \(String(horizon))::xid8
                    ORDER BY xid DESC, seq DESC LIMIT 1
                    """, on: connection
                ).first.map { row -> (xid: UInt64, seq: Int64) in
                    let (xid, seq) = try row.decode((String, Int64).self)
                    return (UInt64(xid) ?? 0, seq)
                } ?? (xid: 0, seq: -1)
            var after = "00000000-0000-0000-0000-000000000000"
            var count = 0
            var applying: Task<Void, any Error>?
            // Where the time goes, for the log: reading pages, decoding them, waiting for the store, and
            // the store's own time (overlapping the reading).
            var (reading, decoding, waiting) = (Duration.zero, Duration.zero, Duration.zero)
            let storing = Locked(Duration.zero)
            while true {
                var clock = ContinuousClock.now
                let rows = try await database.rows(
                    """
                    SELECT id::text, namespace, version, record::text, embedding FROM engram_memory
                    WHERE live AND id > \(after)::uuid ORDER BY engram_memory.id LIMIT \(batch)
                    """, on: connection)
                reading += ContinuousClock.now - clock
                clock = .now
                guard let last = rows.last else { break }
                after = try last.decode(String.self)
                var replicas: [ReplicaRow] = []
                for row in rows {
                    let (_, namespace, version, record, embedding) = try row.decode(
                        (String, String, Int64, String, ByteBuffer).self)
                    guard wanted(namespace) else { continue }
                    replicas.append(try Self.replicaRow(record, embedding, version))
                }
                decoding += ContinuousClock.now - clock
                clock = .now
                try await applying?.value
                waiting += ContinuousClock.now - clock
                count += replicas.count
                let page = replicas
                applying = Task.detached {
                    let started = ContinuousClock.now
                    try store.replicate(page, removing: [], position: nil)
                    storing.withLock { $0 += ContinuousClock.now - started }
                }
                let copied = count
                self.state.withLock { $0.bootstrapped = copied }
            }
            try await applying?.value
            try await database.execute("COMMIT", on: connection)
            self.logger.info(
                "copied a snapshot",
                metadata: [
                    "memories": "\(count)", "reading_s": "\(reading / .seconds(1))",
                    "decoding_s": "\(decoding / .seconds(1))",
                    "waiting_for_store_s": "\(waiting / .seconds(1))",
                    "storing_s": "\(storing.withLock { $0 } / .seconds(1))",
                ])
            return (horizon, last)
        }
    }

    /// Polls the change log until cancelled: at once again after a full batch, else after 20 ms.
    func follow() async {
        while !Task.isCancelled {
            do {
                let applied = try await poll()
                if applied < batch { try await Task.sleep(for: .milliseconds(20)) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning(
                    "following the change log failed; retrying",
                    metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Applies the next change-log rows below the current horizon; returns how many rows were read.
    @discardableResult
    func poll() async throws -> Int {
        noticeFailover()
        guard let position = state.withLock({ $0.position }) else { return 0 }
        let moves = database.moves
        // Every transaction below the horizon has committed or aborted, so the rows read below it are all
        // there will ever be; a transaction that took a smaller id but commits later is still above it.
        let horizon = try await Self.horizon(database, nil)
        let rows = try await database.rows(
            """
            SELECT xid::text, seq::bigint, id::text FROM engram_change
            WHERE (xid, seq) > (\(String(position.xid))::xid8, \(position.seq)::integer)
              AND xid < \(String(horizon))::xid8
            ORDER BY engram_change.xid, engram_change.seq LIMIT \(batch)
            """)
        var next = position
        var ids: [MemoryID] = []
        for row in rows {
            let (xid, seq, id) = try row.decode((String, Int64, String).self)
            (next.xid, next.seq) = (UInt64(xid) ?? next.xid, seq)
            if let id = MemoryID(id) { ids.append(id) }
        }
        // The primary moved while the rows were read: the horizon may be the old one's.
        guard database.moves == moves else { return 0 }
        next.epoch = state.withLock { $0.position?.epoch ?? next.epoch }  // a rebalance may have moved it
        // A full batch may end inside a transaction: only those wholly below its last id are complete.
        next.horizon = max(position.horizon, rows.count < batch ? horizon : next.xid)
        try await apply(Array(Set(ids)), position: next)
        state.withLock {
            $0.position = Position(
                xid: next.xid, seq: next.seq, horizon: next.horizon, epoch: $0.position?.epoch ?? next.epoch)
            $0.appliedRows += rows.count
            if rows.count < batch { $0.caughtUpAt = .now }
        }
        return rows.count
    }

    /// Applies every committed change-log row above the horizon now (see ``awaitApplied(_:)``), without
    /// moving the position: the follower reads those rows again when the horizon passes them.
    func applyTail() async throws {
        noticeFailover()
        let moves = database.moves
        let horizon = state.withLock { $0.position?.horizon ?? 0 }
        // One statement: the rows it reads are exactly those of the transactions its snapshot shows
        // committed, so that snapshot says which tokens the apply covers (a smaller id that commits
        // later is not covered, however far the tail reached).
        let row = try await database.rows(
            """
            SELECT pg_current_snapshot()::text,
                   array(SELECT DISTINCT id::text FROM engram_change WHERE xid >= \(String(horizon))::xid8)
            """)[0]
        let (snapshot, ids) = try row.decode((String, [String]).self)
        let parts = snapshot.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmax = UInt64(parts[1]) else {
            throw ClusterError.invalid("the snapshot", "is not xmin:xmax:xip: \(snapshot)")
        }
        let inProgress = Set(parts[2].split(separator: ",").compactMap { UInt64($0) })
        try await apply(ids.compactMap(MemoryID.init), position: nil)
        guard database.moves == moves else { return }
        state.withLock { state in
            if (state.tail?.xmax ?? 0) <= xmax { state.tail = (xmax, inProgress) }
        }
    }

    /// After the primary moved (a standby promoted), or when the node starts, what was seen by transaction
    /// id alone is not trusted: ids the old primary gave out but never replicated may be given out again.
    /// Every reused id is above every committed one, so the horizon falls back to just past the last
    /// change-log row applied (always a committed transaction's), and the last tail's snapshot is
    /// forgotten; the follower's next poll on the current primary moves the horizon up again.
    func noticeFailover() {
        let moves = database.moves
        state.withLock { state in
            guard state.moves != moves else { return }
            state.moves = moves
            state.tail = nil
            if let position = state.position {
                state.position?.horizon = min(position.horizon, position.xid + 1)
            }
        }
    }

    /// Makes the store's copies of `ids` equal PostgreSQL's current rows (a row's newest version wins,
    /// whatever order its transactions committed in) and records `position` (nil: unchanged), in one
    /// store transaction.
    func apply(_ ids: [MemoryID], position: Position?) async throws {
        let map = state.withLock { $0.map }
        var upserts: [ReplicaRow] = []
        var removing: [(id: MemoryID, version: Int64)] = []
        if !ids.isEmpty {
            let rows = try await database.rows(
                """
                SELECT id::text, namespace, version, live, record::text, embedding FROM engram_memory
                WHERE id = ANY(\(ids.map(\.description))::uuid[])
                """)
            for row in rows {
                let (id, namespace, version, live, record, embedding) = try row.decode(
                    (String, String, Int64, Bool, String, ByteBuffer).self)
                guard let id = MemoryID(id), map.holds(name, namespace) else { continue }
                // The store skips what it holds at this version or newer.
                if live {
                    upserts.append(try Self.replicaRow(record, embedding, version))
                } else {
                    removing.append((id, version))
                }
            }
        }
        try store.replicate(upserts, removing: removing, position: position?.description)
    }

    /// Renews the lease every second, publishing the applied position and lag, and re-reads the map.
    func renewLeases(address: String) async {
        while !Task.isCancelled {
            do {
                let lagRows = try await database.rows(
                    "SELECT count(*) FROM engram_change WHERE xid >= \(String(state.withLock { $0.position?.horizon ?? 0 }))::xid8"
                )[0].decode(Int64.self)
                // A writer transaction open for long holds the horizon back: its age is lag too.
                let held = try await database.rows(
                    """
                    SELECT COALESCE(EXTRACT(EPOCH FROM max(now() - xact_start)), 0)::float8 FROM pg_stat_activity
                    WHERE backend_xid IS NOT NULL
                    """)[0].decode(Double.self)
                let figures = state.withLock { state -> NodeState in
                    state.lagRows = Int(lagRows)
                    state.lagSeconds = max(held, (ContinuousClock.now - state.caughtUpAt) / .seconds(1))
                    return state
                }
                try await database.execute(
                    """
                    UPDATE engram_node SET address = \(address),
                        lease_until = now() + make_interval(secs => \(Self.leaseSeconds)),
                        horizon = \(figures.position.map { String($0.horizon) }), lag_rows = \(figures.lagRows),
                        lag_seconds = \(figures.lagSeconds), applied_rows = \(figures.appliedRows),
                        bootstrapped = \(figures.bootstrapped), state = \(figures.phase), epoch = \(figures.position?.epoch ?? 0),
                        updated_at = now()
                    WHERE name = \(name)
                    """)
                let map = try await refreshMap()
                if map != state.withLock({ $0.map }), state.withLock({ $0.position }) != nil {
                    try await rebalance(to: map)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning(
                    "renewing the lease failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    static func horizon(_ database: ClusterDatabase, _ connection: PostgresConnection?) async throws -> UInt64
    {
        let text = try await database.rows(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", on: connection)[0].decode(String.self)
        guard let horizon = UInt64(text) else {
            throw ClusterError.invalid("the horizon", "is not a number: \(text)")
        }
        return horizon
    }

    static func replicaRow(_ record: String, _ embedding: ByteBuffer, _ version: Int64) throws -> ReplicaRow {
        ReplicaRow(
            memory: try MemoryJSON.memory(from: JSONValue(parsing: record)),
            vector: VectorBytes.floats(embedding),
            version: version)
    }
}
