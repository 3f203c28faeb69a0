import Engram
import EngramTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Three `engram serve --cluster` nodes over one real PostgreSQL on loopback. Every answer is checked
/// against PostgreSQL's own rows, read with `psql`: recalls against a brute-force top k in Doubles, each
/// node's replica against a per-namespace checksum of (id, version).
@Suite("A cluster on PostgreSQL", .serialized, .enabled(if: PostgresServer.isInstalled))
struct ClusterTests {
    static let dimension = 16

    @Test("writes through one node, recalls through any: equal to brute force over PostgreSQL's rows")
    func recallsEqualTheOracle() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        var rng = SplitMix(seed: 7)
        var tokens: [UInt64] = []
        var ids: [String] = []
        let namespaces = ["t/a", "t/a/x", "t/b", "t/c", "other"]
        for batch in 0..<10 {
            let memories = (0..<20).map { i in
                Self.memory("memory \(batch)-\(i)", namespaces[(batch + i) % namespaces.count], &rng)
            }
            let answer = try await cluster.call(batch % 3, "POST", "/v1/memories", ["memories": memories])
            #expect(answer.status == 201)
            tokens.append(try #require(UInt64(answer.json["token"] as? String ?? "")))
            ids += try #require(answer.json["ids"] as? [String])
        }
        // An exact duplicate through another node is not stored twice.
        let again = try await cluster.call(
            2, "POST", "/v1/memories",
            ["content": "memory 0-0", "namespace": "t/a", "embedding": Self.vector(&rng)])
        #expect((again.json["results"] as? [[String: Any]])?.first?["status"] as? String == "duplicate")
        #expect((again.json["ids"] as? [String])?.first == ids[0])
        // Forget, update with a new vector, quarantine: through different nodes.
        for (i, id) in ids.prefix(10).enumerated() {
            let answer = try await cluster.call(i % 3, "DELETE", "/v1/memories/\(id)")
            #expect(answer.status == 200)
            tokens.append(try #require(UInt64(answer.json["token"] as? String ?? "")))
        }
        for (i, id) in ids[10..<15].enumerated() {
            let answer = try await cluster.call(
                i % 3, "PATCH", "/v1/memories/\(id)",
                ["content": "updated \(i)", "embedding": Self.vector(&rng)])
            #expect(answer.status == 200)
            #expect(answer.json["supersedes"] as? String == id)
            tokens.append(try #require(UInt64(answer.json["token"] as? String ?? "")))
        }
        for (i, id) in ids[15..<18].enumerated() {
            let answer = try await cluster.call(i % 3, "POST", "/v1/memories/\(id)/quarantine")
            #expect(answer.json["changed"] as? Int == 1)
            tokens.append(try #require(UInt64(answer.json["token"] as? String ?? "")))
        }
        let token = String(try #require(tokens.max()))
        // With the token, every node sees every write at once; the answer is the union's exact top k.
        let oracle = try cluster.oracle()
        #expect(oracle.count == 200 - 10 - 3)
        for q in 0..<12 {
            let query = Self.vector(&rng)
            let answer = try await cluster.call(
                q % 3, "POST", "/v1/recall", ["vector": query, "k": 10, "token": token])
            let hits = try #require(
                answer.json["hits"] as? [[String: Any]], "\(answer.status) \(answer.json)")
            let expected = Self.topK(query, in: oracle, k: 10)
            Self.expectSame(hits, expected)
        }
        // A recall of one subtree asks only the shard holding it (n1 and n2 hold t/a; n3 asks one of them),
        // and equals brute force over that subtree.
        let subtree = try cluster.oracle(where: "(namespace = 't/a' OR namespace LIKE 't/a/%')")
        for node in 0..<3 {
            let asked = try await cluster.gatherNodes(node)
            let query = Self.vector(&rng)
            let answer = try await cluster.call(
                node, "POST", "/v1/recall",
                ["vector": query, "k": 10, "token": token, "filter": ["namespace": "t/a/"]])
            Self.expectSame(
                try #require(answer.json["hits"] as? [[String: Any]]), Self.topK(query, in: subtree, k: 10))
            #expect(
                try await cluster.gatherNodes(node) - asked == 1, "node \(node + 1) asked more than one node")
        }
        // Each node's replica holds exactly PostgreSQL's rows of its shards.
        try await cluster.waitForHorizon(above: UInt64(token)!)
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test(
        "a transaction with the smaller id that commits later, on the same row: every node ends at its version"
    )
    func outOfOrderCommits() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        var rng = SplitMix(seed: 11)
        let stored = try await cluster.call(
            0, "POST", "/v1/memories",
            ["memories": [Self.memory("row r", "t/a", &rng), Self.memory("row s", "t/b", &rng)]])
        let ids = try #require(stored.json["ids"] as? [String])
        let (r, s) = (ids[0], ids[1])
        func change(_ id: String, _ content: String, seq: Int = 1) -> String {
            """
            UPDATE engram_memory SET record = jsonb_set(record, '{content}', to_jsonb('\(content)'::text)),
                version = version + 1, changed_xid = pg_current_xact_id() WHERE id = '\(id)';
            INSERT INTO engram_change(xid, seq, namespace, op, id, version)
                SELECT pg_current_xact_id(), \(seq), namespace, 'put', id, version FROM engram_memory WHERE id = '\(id)';
            """
        }
        // A takes its transaction id first, sleeps, then writes r; B, with the larger id, writes r and s and
        // commits while A is still open; A commits last.
        let a = Task.detached {
            try cluster.postgres.psql(
                "BEGIN; SELECT pg_current_xact_id(); SELECT pg_sleep(1.5); \(change(r, "from A")) COMMIT;")
        }
        // B starts once A holds its id (A's session is the one sleeping with an id).
        while try cluster.postgres.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND query LIKE '%pg_sleep(1.5)%'"
        ) != "1" {
            try await Task.sleep(for: .milliseconds(10))
        }
        try cluster.postgres.psql("BEGIN; \(change(r, "from B")) \(change(s, "from B", seq: 2)) COMMIT;")
        _ = try await a.value
        let xids = try cluster.postgres.psql(
            "SELECT xid FROM engram_change WHERE id = '\(r)' ORDER BY version"
        ).split(separator: "\n")
        #expect(xids.count == 3)
        #expect(UInt64(xids[2])! < UInt64(xids[1])!, "A's row has the smaller id and the newer version")
        try await cluster.waitForEverythingCommitted()
        for node in 0..<3 {
            let answer = try await cluster.call(
                node, "POST", "/v1/recall", ["vector": try cluster.embedding(of: r), "k": 1])
            let hit = try #require((answer.json["hits"] as? [[String: Any]])?.first)
            #expect(hit["id"] as? String == r)
            #expect(hit["content"] as? String == "from A")
        }
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test("kill -9 a node 20 times during writes and recalls: no acknowledged write lost, replicas converge")
    func killStorm() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        let acknowledged = Locked<[String]>([])
        let unexpected = Locked<[String]>([])
        let stop = Atomic<Bool>(false)
        let writer = Task.detached {
            var rng = SplitMix(seed: 23)
            var n = 0
            while !stop.load(ordering: .relaxed) {
                n += 1
                let node = Int(rng.next() % 3)
                let body: [String: Any] = [
                    "memories": (0..<5).map {
                        Self.memory("storm \(n)-\($0)", ["t/a", "t/b", "t/c"][$0 % 3], &rng)
                    }
                ]
                guard let answer = try? await cluster.call(node, "POST", "/v1/memories", body) else {
                    continue
                }
                switch answer.status {
                case 201: acknowledged.withLock { $0 += answer.json["ids"] as? [String] ?? [] }
                case 503: continue  // retryable: the node is still starting
                default: unexpected.withLock { $0.append("write \(answer.status) \(answer.json)") }
                }
                if n % 4 == 0,
                    let recall = try? await cluster.call(
                        (node + 1) % 3, "POST", "/v1/recall", ["vector": Self.vector(&rng), "k": 5]),
                    ![200, 503].contains(recall.status)
                {
                    unexpected.withLock { $0.append("recall \(recall.status) \(recall.json)") }
                }
            }
        }
        var rng = SplitMix(seed: 5)
        for round in 0..<20 {
            try await Task.sleep(for: .milliseconds(150))
            let victim = Int(rng.next() % 3)
            cluster.kill(victim)
            // Every fourth restart starts from an empty directory: a rebuild while the writes go on.
            try await cluster.start(victim, wipe: round % 4 == 3)
        }
        stop.store(true, ordering: .relaxed)
        await writer.value
        #expect(unexpected.withLock { $0 }.isEmpty, "\(unexpected.withLock { $0 }.prefix(3))")
        let acked = Set(acknowledged.withLock { $0 })
        #expect(acked.count > 100)
        let live = Set(
            try cluster.postgres.psql("SELECT id FROM engram_memory WHERE live").split(separator: "\n").map(
                String.init))
        #expect(acked.subtracting(live).isEmpty, "acknowledged writes missing from PostgreSQL")
        try await cluster.waitForEverythingCommitted()
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test(
        "a synchronous standby promoted under load: no acknowledged write lost, writes in the switch retryable, recalls go on"
    )
    func failover() async throws {
        let cluster = try await TestCluster(standby: true)
        defer { cluster.close() }
        struct Tally {
            var acknowledged: [String] = []
            var unexpected: [String] = []
            var retryable = 0, recalled = 0, ackedAfter = 0
            var promoted = false, stop = false
        }
        let tally = Locked(Tally())
        let writer = Task.detached {
            var rng = SplitMix(seed: 53)
            var n = 0
            while !tally.withLock({ $0.stop }) {
                n += 1
                let body: [String: Any] = [
                    "memories": (0..<3).map {
                        Self.memory("failover \(n)-\($0)", ["t/a", "t/b", "t/c"][$0], &rng)
                    }
                ]
                let answer = try? await cluster.call(n % 3, "POST", "/v1/memories", body)
                let ids = answer?.json["ids"] as? [String] ?? []
                let said = "write \(answer?.status ?? 0) \(answer?.json ?? [:])"
                tally.withLock { tally in
                    switch answer?.status {
                    case 201:
                        tally.acknowledged += ids
                        if tally.promoted { tally.ackedAfter += 1 }
                    case 503: tally.retryable += 1
                    default: tally.unexpected.append(said)
                    }
                }
            }
        }
        // Recalls need no database: each node answers from its replica and asks the others over HTTP.
        let reader = Task.detached {
            var rng = SplitMix(seed: 59)
            var n = 0
            while !tally.withLock({ $0.stop }) {
                n += 1
                let answer = try? await cluster.call(
                    n % 3, "POST", "/v1/recall", ["vector": Self.vector(&rng), "k": 5])
                let said = "recall \(answer?.status ?? 0) \(answer?.json ?? [:])"
                tally.withLock { tally in
                    if answer?.status == 200 { tally.recalled += 1 } else { tally.unexpected.append(said) }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        try await Task.sleep(for: .seconds(2))
        let (before, recalledBefore) = tally.withLock { ($0.acknowledged.count, $0.recalled) }
        try cluster.failOver()
        tally.withLock { $0.promoted = true }
        // Writes reach the new primary again.
        let deadline = ContinuousClock.now + .seconds(30)
        while tally.withLock({ $0.ackedAfter }) < 20, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        tally.withLock { $0.stop = true }
        await writer.value
        await reader.value
        let end = tally.withLock { $0 }
        #expect(end.unexpected.isEmpty, "\(end.unexpected.prefix(3))")
        #expect(before > 0)
        #expect(end.ackedAfter >= 20, "writes did not reach the promoted standby")
        #expect(end.retryable > 0, "no write fell in the switch")
        #expect(end.recalled > recalledBefore)
        let acked = Set(end.acknowledged)
        let live = Set(
            try cluster.postgres.psql("SELECT id FROM engram_memory WHERE live").split(separator: "\n").map(
                String.init))
        #expect(acked.subtracting(live).isEmpty, "acknowledged writes missing after the promotion")
        // A write after the switch, read with its token through every node: the union's exact top k.
        var rng = SplitMix(seed: 61)
        let token = try #require(
            try await cluster.call(0, "POST", "/v1/memories", Self.memory("after", "t/b", &rng)).json["token"]
                as? String)
        let oracle = try cluster.oracle()
        for node in 0..<3 {
            let query = Self.vector(&rng)
            let answer = try await cluster.call(
                node, "POST", "/v1/recall", ["vector": query, "k": 10, "token": token])
            Self.expectSame(
                try #require(answer.json["hits"] as? [[String: Any]]), Self.topK(query, in: oracle, k: 10))
        }
        try await cluster.waitForEverythingCommitted()
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test(
        "a writer transaction held open: lag alarms fire, token reads answer through the tail, nothing skipped"
    )
    func heldTransaction() async throws {
        let cluster = try await TestCluster(nodeArguments: ["--max-lag", "2"])
        defer { cluster.close() }
        var rng = SplitMix(seed: 31)
        // Held until the test ends it (below), however long the steps between take.
        let held = Task.detached {
            try? cluster.postgres.psql("BEGIN; SELECT pg_current_xact_id(); SELECT pg_sleep(600); COMMIT;")
        }
        while try cluster.postgres.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND query LIKE '%pg_sleep(600)%'"
        ) != "1" {
            try await Task.sleep(for: .milliseconds(10))
        }
        let vector = Self.vector(&rng)
        let stored = try await cluster.call(
            0, "POST", "/v1/memories",
            ["content": "written while held", "namespace": "t/b", "embedding": vector])
        let id = try #require((stored.json["ids"] as? [String])?.first)
        let token = try #require(stored.json["token"] as? String)
        // n2 and n3 hold t/b; the horizon is below the token, yet both answer with the write.
        for node in [1, 2] {
            let answer = try await cluster.call(
                node, "POST", "/v1/recall", ["vector": vector, "k": 1, "token": token])
            #expect(answer.status == 200)
            #expect((answer.json["hits"] as? [[String: Any]])?.first?["id"] as? String == id)
        }
        // A delete through another node, read with its token: honoured.
        let gone = try await cluster.call(2, "DELETE", "/v1/memories/\(id)")
        let deleteToken = try #require(gone.json["token"] as? String)
        let after = try await cluster.call(
            1, "POST", "/v1/recall", ["vector": vector, "k": 1, "token": deleteToken])
        #expect(after.status == 200)
        #expect((after.json["hits"] as? [[String: Any]])?.first?["id"] as? String != id)
        // The lag alarm: past the 2 s bound, /readyz says not ready and the status shows the lag.
        try await Task.sleep(for: .seconds(3))
        #expect(try await cluster.call(0, "GET", "/readyz").status == 503)
        let lag = try cluster.postgres.psql("SELECT min(lag_seconds) FROM engram_node")
        #expect((Double(lag) ?? 0) >= 2)
        // Held on: for `$ENGRAM_CLUSTER_HOLD_SECONDS` (4 by default; `make cluster-hold` holds it for
        // minutes), a write through one node each second, read with its token through the next.
        let hold =
            ProcessInfo.processInfo.environment["ENGRAM_CLUSTER_HOLD_SECONDS"].flatMap(Double.init) ?? 4
        let until = ContinuousClock.now + .seconds(hold)
        var rounds = 0
        while ContinuousClock.now < until {
            rounds += 1
            let v = Self.vector(&rng)
            let written = try await cluster.call(
                rounds % 3, "POST", "/v1/memories",
                [
                    "content": "held \(rounds)", "namespace": ["t/a", "t/b", "other"][rounds % 3],
                    "embedding": v,
                ])
            let (id, token) = (
                try #require((written.json["ids"] as? [String])?.first),
                try #require(written.json["token"] as? String)
            )
            let read = try await cluster.call(
                (rounds + 1) % 3, "POST", "/v1/recall", ["vector": v, "k": 1, "token": token])
            #expect((read.json["hits"] as? [[String: Any]])?.first?["id"] as? String == id, "round \(rounds)")
            try await Task.sleep(for: .seconds(1))
        }
        #expect(rounds >= 1)
        #expect(try await cluster.call(1, "GET", "/readyz").status == 503)
        try cluster.postgres.psql(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND query LIKE '%pg_sleep(600)%'"
        )
        _ = await held.value
        try await cluster.waitForEverythingCommitted()
        try await Task.sleep(for: .seconds(2))
        #expect(try await cluster.call(0, "GET", "/readyz").status == 200)
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test(
        "moving a subtree to other nodes while writes go on: they copy it from PostgreSQL, the old holder drops it"
    )
    func movesASubtree() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        var rng = SplitMix(seed: 41)
        var token = ""
        for batch in 0..<6 {
            let memories = (0..<20).map {
                Self.memory("before \(batch)-\($0)", ["t/c", "t/c/d", "other"][$0 % 3], &rng)
            }
            token = try #require(
                try await cluster.call(batch % 3, "POST", "/v1/memories", ["memories": memories]).json[
                    "token"] as? String)
        }
        // t/c was in "" (n3, n1); now n2 and n3 hold it: n2 gains it, n1 drops it.
        _ = try cluster.engram(["cluster", "shard", cluster.postgres.url, "t/c", "--nodes", "n2,n3"])
        let epoch = try cluster.postgres.psql("SELECT max(epoch) FROM engram_shard")
        for batch in 0..<6 {
            let memories = (0..<10).map {
                Self.memory("during \(batch)-\($0)", ["t/c", "t/c/d"][$0 % 2], &rng)
            }
            if let answer = try? await cluster.call(
                batch % 3, "POST", "/v1/memories", ["memories": memories]),
                let next = answer.json["token"] as? String
            {
                token = next
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try cluster.postgres.psql(
            "SELECT count(*) FROM engram_node WHERE epoch = \(epoch) AND state = 'following'") != "3"
        {
            #expect(ContinuousClock.now < deadline, "the nodes did not all take epoch \(epoch)")
            if ContinuousClock.now > deadline { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let oracle = try cluster.oracle()
        for q in 0..<9 {
            let query = Self.vector(&rng)
            let answer = try await cluster.call(
                q % 3, "POST", "/v1/recall", ["vector": query, "k": 10, "token": token])
            Self.expectSame(
                try #require(answer.json["hits"] as? [[String: Any]]), Self.topK(query, in: oracle, k: 10))
        }
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test("a keyword recall over three shards ranks on one scale: the order of one store holding them all")
    func keywordRecallAcrossShards() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        // One strong match in t/a, weaker ones in t/b and elsewhere: normalised per shard, each shard's
        // best would score 1 and the weak ones would tie the strong one. (The weak ones differ clearly in
        // length: each shard's BM25 uses its own document frequencies, so near ties may order otherwise.)
        let texts: [(String, String)] = [
            ("t/a", "zebra zebra zebra"), ("t/a", "a horse in a field"),
            ("t/b", "a zebra was seen near the river at dawn by the ranger on patrol"),
            ("t/b", "the ranger counted birds"),
            (
                "other",
                "one zebra among the many animals the visitors photographed that long afternoon in the hot dusty valley beyond the old northern fence line"
            ),
            ("other", "zebra stripes"),
        ]
        var rng = SplitMix(seed: 67)
        let single = try MemoryStore.create(
            at: cluster.directory.appending("single"), dimension: ClusterTests.dimension)
        defer { try? single.close() }
        for (namespace, text) in texts {
            let vector = Self.vector(&rng)
            _ = try await cluster.call(
                0, "POST", "/v1/memories", ["content": text, "namespace": namespace, "embedding": vector])
            _ = try single.remember(
                NewMemory(content: text, namespace: namespace, embedding: vector.map(Float.init)))
        }
        try await cluster.waitForEverythingCommitted()
        let expected = try single.recall(
            text: "zebra", embedder: nil, k: 4, options: TextRecallOptions(mode: .keyword)
        ).map(\.memory.content)
        #expect(expected.first == "zebra zebra zebra")
        for node in 0..<3 {
            let answer = try await cluster.call(
                node, "POST", "/v1/recall", ["query": "zebra", "k": 4, "mode": "keyword"])
            let hits = try #require(answer.json["hits"] as? [[String: Any]], "\(answer.json)")
            // The strong match first, then the short one, as on one store; the two long ones are a near tie
            // whose order follows the BM25 statistics of whichever node serves their shard.
            let contents = hits.compactMap { $0["content"] as? String }
            #expect(contents.prefix(2) == expected.prefix(2), "node \(node + 1)")
            #expect(Set(contents) == Set(expected), "node \(node + 1)")
            let scores = hits.compactMap { $0["score"] as? Double }
            #expect(scores.count == 4 && scores[0] > scores[1] + 0.1, "\(scores)")
        }
        cluster.stopAll()
    }

    @Test("a gathered text recall is embedded once, by the node that gathers it: the others use its vector")
    func gatheredTextEmbeddedOnce() async throws {
        let cluster = try await TestCluster(embedder: ["--embedder", "hashing", "--dimension", "64"])
        defer { cluster.close() }
        let texts = [
            ("t/a", "the invoice was paid late"), ("t/b", "a refund was issued for the invoice"),
            ("other", "the customer asked about the invoice twice"), ("t/a", "shipping was delayed"),
        ]
        for (namespace, text) in texts {
            let stored = try await cluster.call(
                0, "POST", "/v1/memories", ["content": text, "namespace": namespace])
            #expect(stored.status == 201, "\(stored.json)")
        }
        try await cluster.waitForEverythingCommitted()
        let before = try await (0..<3).asyncMap {
            try await cluster.metric($0, "engram_embedded_texts_total")
        }
        for mode in ["hybrid", "vector"] {
            let answer = try await cluster.call(
                2, "POST", "/v1/recall", ["query": "when was the \(mode) invoice paid", "k": 3, "mode": mode])
            let hits = try #require(answer.json["hits"] as? [[String: Any]], "\(answer.json)")
            #expect(hits.count == 3)
        }
        let after = try await (0..<3).asyncMap { try await cluster.metric($0, "engram_embedded_texts_total") }
        // n3 embedded the two questions; n1 and n2, which served shares of both, embedded nothing.
        #expect(after[2] - before[2] == 2)
        #expect(after[0] == before[0] && after[1] == before[1], "\(before) -> \(after)")
        cluster.stopAll()
    }

    @Test("trust through a node is capped by what a memory derives from, as on one store")
    func derivedTrust() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        var rng = SplitMix(seed: 71)
        let source = try await cluster.call(
            0, "POST", "/v1/memories",
            [
                "content": "a web page said so", "namespace": "t/a", "trust": "untrusted",
                "embedding": Self.vector(&rng),
            ])
        let sourceID = try #require((source.json["ids"] as? [String])?.first)
        // Derived without a level: the source's trust caps the default (agent).
        let derived = try await cluster.call(
            1, "POST", "/v1/memories",
            [
                "content": "so we concluded", "namespace": "t/b", "derived_from": [sourceID],
                "embedding": Self.vector(&rng),
            ])
        #expect(derived.status == 201, "\(derived.json)")
        let derivedID = try #require((derived.json["ids"] as? [String])?.first)
        #expect(
            try cluster.postgres.psql("SELECT record->>'trust' FROM engram_memory WHERE id = '\(derivedID)'")
                == "untrusted")
        // Asked above the source: refused, naming the field; a source nobody can see: refused.
        let above = try await cluster.call(
            2, "POST", "/v1/memories",
            [
                "content": "trust me", "namespace": "t/b", "derived_from": [sourceID], "trust": "user",
                "embedding": Self.vector(&rng),
            ])
        #expect(above.status == 422)
        #expect((above.json["error"] as? [String: Any])?["field"] as? String == "trust")
        let unknown = try await cluster.call(
            0, "POST", "/v1/memories",
            [
                "content": "from nowhere", "namespace": "t/b",
                "derived_from": [UUID().uuidString.lowercased()],
                "embedding": Self.vector(&rng),
            ])
        #expect(unknown.status == 422, "\(unknown.json)")
        // One store, the same inputs: the same levels and refusals.
        let single = try MemoryStore.create(
            at: cluster.directory.appending("single"), dimension: ClusterTests.dimension)
        defer { try? single.close() }
        let one = try single.remember(
            NewMemory(
                content: "a web page said so", namespace: "t/a", embedding: Self.vector(&rng).map(Float.init))
        )
        _ = one
        var web = NewMemory(
            content: "a web page", namespace: "t/a", embedding: Self.vector(&rng).map(Float.init))
        web.trust = .untrusted
        let webID = try single.remember(web)
        var concluded = NewMemory(
            content: "so we concluded", namespace: "t/b", embedding: Self.vector(&rng).map(Float.init))
        concluded.derivedFrom = [webID]
        #expect(try single.memory(try single.remember(concluded)).trust == .untrusted)
        concluded.trust = .user
        concluded.content = "trust me"
        #expect(throws: EngramError.self) { try single.remember(concluded) }
        cluster.stopAll()
    }

    @Test(
        "fact keys through the nodes settle as on one store: a newer value ends the current one, an older one ends itself, a quarantined one contradicts"
    )
    func factKeysSettle() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        var rng = SplitMix(seed: 73)
        let single = try MemoryStore.create(
            at: cluster.directory.appending("single"), dimension: ClusterTests.dimension)
        defer { try? single.close() }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let steps: [(content: String, from: String, quarantined: Bool)] = [
            ("lives in Paris", "2026-01-01T00:00:00.000Z", false),
            ("lives in Lyon", "2026-06-01T00:00:00.000Z", false),
            ("lived in Rome", "2025-01-01T00:00:00.000Z", false),
            ("lives on Mars", "2026-09-01T00:00:00.000Z", true),
            ("lives in Nice", "2026-10-01T00:00:00.000Z", false),
        ]
        var clusterIDs: [String] = []
        var singleIDs: [MemoryID] = []
        for (n, step) in steps.enumerated() {
            let vector = Self.vector(&rng)
            let answer = try await cluster.call(
                n % 3, "POST", "/v1/memories",
                [
                    "content": step.content, "namespace": "t/a", "fact_key": "city", "valid_from": step.from,
                    "quarantined": step.quarantined, "embedding": vector,
                ])
            let result = try #require((answer.json["results"] as? [[String: Any]])?.first, "\(answer.json)")
            var new = NewMemory(content: step.content, namespace: "t/a", embedding: vector.map(Float.init))
            (new.factKey, new.validFrom, new.quarantined) = (
                "city", formatter.date(from: step.from), step.quarantined
            )
            let expected = try #require(try single.remember([new], nearDuplicates: nil).first)
            clusterIDs.append(try #require(result["id"] as? String))
            singleIDs.append(expected.id)
            // The same memories ended and contradicted, by position in the sequence.
            func positions(_ ids: [String], in all: [String]) -> [Int] {
                ids.compactMap { all.firstIndex(of: $0) }
            }
            #expect(
                positions(result["ended"] as? [String] ?? [], in: clusterIDs)
                    == positions(expected.ended.map(\.description), in: singleIDs.map(\.description)),
                "\(step.content)")
            #expect(
                positions(result["contradicts"] as? [String] ?? [], in: clusterIDs)
                    == positions(expected.contradicts.map(\.description), in: singleIDs.map(\.description)))
        }
        // Every value's validity in PostgreSQL equals one store's (Paris, Rome and Lyon ended; Mars and Nice
        // not), and again after Mars is released (the key's values become one timeline: Mars ends at Nice).
        for released in [false, true] {
            if released {
                let answer = try await cluster.call(1, "POST", "/v1/memories/\(clusterIDs[3])/release")
                #expect(answer.json["changed"] as? Int == 1)
                try single.release([singleIDs[3]])
            }
            #expect(
                try singleIDs.filter { try single.memory($0).validUntil != nil }.count == (released ? 4 : 3))
            for (clusterID, singleID) in zip(clusterIDs, singleIDs) {
                let until = try cluster.postgres.psql(
                    "SELECT coalesce(record->>'valid_until', '') FROM engram_memory WHERE id = '\(clusterID)'"
                )
                #expect(
                    formatter.date(from: until) == (try single.memory(singleID).validUntil), "\(clusterID)")
            }
        }
        try await cluster.waitForEverythingCommitted()
        cluster.stopAll()
        try cluster.expectReplicasMatch()
    }

    @Test("cluster status lists nodes, shards and positions; init is idempotent")
    func status() async throws {
        let cluster = try await TestCluster()
        defer { cluster.close() }
        let status = try cluster.engram(["cluster", "status", cluster.postgres.url, "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
        let nodes = try #require(json["nodes"] as? [[String: Any]])
        #expect(nodes.compactMap { $0["name"] as? String }.sorted() == ["n1", "n2", "n3"])
        #expect(nodes.allSatisfy { $0["live"] as? Bool == true })
        #expect((json["shards"] as? [[String: Any]])?.count == 3)
        _ = try cluster.engram([
            "cluster", "init", cluster.postgres.url, "--embedder", "custom", "--dimension", "16",
        ])
        #expect(try cluster.postgres.psql("SELECT count(*) FROM engram_shard") == "3")
        // A node of another dimension's store is refused; an operation a node does not serve says so.
        // A token no committed write has (a transaction id not yet given out) is refused, not waited on.
        let future = try await cluster.call(
            0, "POST", "/v1/recall",
            ["vector": Array(repeating: 0.5, count: ClusterTests.dimension), "k": 1, "token": "4000000000"])
        #expect(future.status == 422)
        #expect((future.json["error"] as? [String: Any])?["field"] as? String == "token")
        // A refusal inside a PostgreSQL transaction is the refusal, not a retryable database failure.
        let missing = try await cluster.call(
            1, "PATCH", "/v1/memories/\(UUID().uuidString.lowercased())", ["content": "changed"])
        #expect(missing.status == 404, "\(missing.json)")
        #expect(throws: (any Error).self) { try cluster.engram(["cluster", "status", "postgres://"]) }
        let refused = try await cluster.call(0, "GET", "/v1/count")
        #expect(refused.status == 501)
        #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "notOnCluster")
        cluster.stopAll()
    }

    // MARK: Helpers

    static func vector(_ rng: inout SplitMix) -> [Double] {
        (0..<dimension).map { _ in Double(rng.next() % 20_001) / 10_000 - 1 }
    }

    static func memory(_ content: String, _ namespace: String, _ rng: inout SplitMix) -> [String: Any] {
        ["content": content, "namespace": namespace, "embedding": vector(&rng)]
    }

    /// Ids and cosines of the k best, by Double sums over unit vectors; ties by id.
    static func topK(_ query: [Double], in rows: [String: [Double]], k: Int) -> [(id: String, score: Double)]
    {
        let norm = query.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return rows.map { id, v in
            (id, zip(query, v).reduce(0) { $0 + $1.0 * $1.1 } / norm)
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(k).map { ($0.0, $0.1) }
    }

    static func expectSame(_ hits: [[String: Any]], _ expected: [(id: String, score: Double)]) {
        #expect(hits.count == expected.count)
        for (hit, want) in zip(hits, expected) {
            let score = hit["score"] as? Double ?? .nan
            #expect(abs(score - want.score) < 1e-4)
            // Equal ids unless the two scores are a near tie the float scan may order either way.
            if hit["id"] as? String != want.id {
                #expect(
                    abs(score - want.score) < 1e-6, "hit \(hit["id"] ?? "") where \(want.id) was expected")
            }
        }
    }
}

/// Three nodes and PostgreSQL: shards `t/a` on n1 and n2, `t/b` on n2 and n3, everything else on n3 and n1.
/// With `standby`, PostgreSQL has a synchronous streaming standby, and the nodes are given both servers.
final class TestCluster: @unchecked Sendable {  // Sendable: the node table and the primary are behind locks.
    let first: PostgresServer
    let standby: PostgresServer?
    private let promoted = Locked(false)
    let directory = TemporaryDirectory("engram-cluster")
    private let nodes = Locked<[Int: ServerProcess]>([:])
    let nodeArguments: [String]

    /// The primary: the first server, or the standby once promoted.
    var postgres: PostgresServer { promoted.withLock { $0 } ? standby! : first }

    /// The URL the nodes are given: every server, primary first.
    var url: String {
        guard let standby else { return first.url }
        return "postgres://postgres@127.0.0.1:\(first.port),127.0.0.1:\(standby.port)/postgres"
    }

    /// `embedder`: the `cluster init` flags that choose it (the tests' own vectors of 16 dimensions unless
    /// a test needs the nodes to embed text).
    init(
        nodeArguments: [String] = [], standby: Bool = false,
        embedder: [String] = ["--embedder", "custom", "--dimension", String(ClusterTests.dimension)]
    ) async throws {
        self.nodeArguments = nodeArguments
        first = try PostgresServer()
        if standby {
            let replica = try PostgresServer(standbyOf: first)
            self.standby = replica
            // Synchronous: a commit is acknowledged once the standby has it on disk.
            try first.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
            try first.psql("SELECT pg_reload_conf()")
            let deadline = ContinuousClock.now + .seconds(30)
            while try first.psql("SELECT string_agg(sync_state, ',') FROM pg_stat_replication") != "sync" {
                guard ContinuousClock.now < deadline else {
                    throw PostgresServerError(message: "the standby did not become synchronous")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        } else {
            self.standby = nil
        }
        try engram(["cluster", "init", url] + embedder)
        try postgres.psql(
            """
            UPDATE engram_shard SET nodes = '{n3,n1}', epoch = 2 WHERE prefix = '';
            INSERT INTO engram_shard VALUES ('t/a', '{n1,n2}', 2), ('t/b', '{n2,n3}', 2);
            """)
        for i in 0..<3 { try await start(i) }
    }

    deinit { close() }

    /// Stops the nodes and PostgreSQL (every test defers it: a test that fails early leaks nothing).
    func close() {
        stopAll()
        first.stop()
        standby?.stop()
    }

    /// The primary crashes and the standby is promoted in its place.
    func failOver() throws {
        first.crash()
        try standby!.promote()
        promoted.withLock { $0 = true }
    }

    /// Starts node i (n1, n2, n3), optionally from an empty store directory.
    func start(_ i: Int, wipe: Bool = false) async throws {
        let store = directory.appending("n\(i + 1)")
        if wipe { try? FileManager.default.removeItem(atPath: store) }
        let process = try ServerProcess(
            store: store, extra: ["--cluster", url, "--node", "n\(i + 1)"] + nodeArguments,
            // Small batches, so that full change-log batches and bootstrap pages happen in every test.
            environment: ["ENGRAM_CLUSTER_BATCH": "7"])
        nodes.withLock { $0[i] = process }
    }

    /// SIGKILLs node i.
    func kill(_ i: Int) {
        guard let process = nodes.withLock({ $0.removeValue(forKey: i) }) else { return }
        process.stop(SIGKILL)
    }

    func stopAll() {
        for process in nodes.withLock({ nodes in
            defer { nodes = [:] }; return Array(nodes.values)
        }) {
            process.stop(SIGTERM)
        }
    }

    /// One JSON request to node i; throws when the node cannot be reached.
    func call(_ i: Int, _ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (
        status: Int, json: [String: Any]
    ) {
        guard let node = nodes.withLock({ $0[i] }) else {
            throw PostgresServerError(message: "node \(i) is down")
        }
        let text = try body.map {
            String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self)
        }
        guard let answer = await node.call(method, path, text) else {
            throw PostgresServerError(message: "node \(i) did not answer")
        }
        return (answer.status, answer.json as? [String: Any] ?? [:])
    }

    /// How many nodes node i's gathered recalls have asked so far (itself included), from its metrics.
    func gatherNodes(_ i: Int) async throws -> Int {
        Int(try await metric(i, "engram_cluster_gather_nodes"))
    }

    /// A metric's value on node i (0 when it has none yet).
    func metric(_ i: Int, _ name: String) async throws -> Double {
        guard let node = nodes.withLock({ $0[i] }) else {
            throw PostgresServerError(message: "node \(i) is down")
        }
        let (data, _) = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(node.port)/metrics")!)
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first {
            $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{")
        }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Runs the engram binary; returns its standard output.
    @discardableResult
    func engram(_ arguments: [String]) throws -> String {
        do {
            return try PostgresServer.run(
                Fixtures.productsDirectory().appendingPathComponent("engram").path, arguments,
                asPostgres: false)
        } catch {
            throw PostgresServerError(message: "engram \(arguments.joined(separator: " ")) failed")
        }
    }

    /// Live, unquarantined memories (and the rows `condition` accepts) and their embeddings, from
    /// PostgreSQL's rows.
    func oracle(where condition: String = "true") throws -> [String: [Double]] {
        var rows: [String: [Double]] = [:]
        for line in try postgres.psql(
            """
            SELECT id, encode(embedding, 'hex') FROM engram_memory
            WHERE live AND NOT (record->>'quarantined')::boolean AND \(condition)
            """
        ).split(separator: "\n") {
            let parts = line.split(separator: "|")
            rows[String(parts[0])] = Self.floats(hex: String(parts[1]))
        }
        return rows
    }

    func embedding(of id: String) throws -> [Double] {
        Self.floats(
            hex: try postgres.psql("SELECT encode(embedding, 'hex') FROM engram_memory WHERE id = '\(id)'"))
    }

    static func floats(hex: String) -> [Double] {
        let bytes = stride(from: 0, to: hex.count, by: 2).map {
            UInt8(hex.dropFirst($0).prefix(2), radix: 16)!
        }
        return stride(from: 0, to: bytes.count, by: 4).map { i in
            let bits =
                UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(
                    bytes[i + 3]) << 24
            return Double(Float(bitPattern: bits))
        }
    }

    /// Waits until every node reports a horizon above `xid` (all writes below it applied).
    /// Waits until every node has applied every transaction committed so far (its horizon reaches the
    /// next transaction id PostgreSQL will assign now).
    func waitForEverythingCommitted() async throws {
        let next = UInt64(try postgres.psql("SELECT pg_snapshot_xmax(pg_current_snapshot())"))!
        try await waitForHorizon(above: next - 1)
    }

    func waitForHorizon(above xid: UInt64) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let horizons = try postgres.psql("SELECT coalesce(horizon, '0') FROM engram_node").split(
                separator: "\n")
            if horizons.count == 3, horizons.allSatisfy({ UInt64($0)! > xid }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the nodes did not reach \(xid)")
    }

    /// Every node's store holds exactly PostgreSQL's live rows of its shards: per namespace, the same
    /// count and XOR of hash(id, version). (The nodes must be stopped.)
    func expectReplicasMatch() throws {
        var truth: [String: ReplicaChecksum] = [:]
        for line in try postgres.psql("SELECT namespace, id, version FROM engram_memory WHERE live").split(
            separator: "\n")
        {
            let parts = line.split(separator: "|").map(String.init)
            truth[parts[0], default: ReplicaChecksum()].add(MemoryID(parts[1])!, version: Int64(parts[2])!)
        }
        // The shard map as PostgreSQL holds it: a namespace belongs to its longest prefix.
        let shards = try postgres.psql("SELECT prefix, array_to_string(nodes, ',') FROM engram_shard").split(
            separator: "\n"
        ).map { line -> (prefix: String, nodes: [String]) in
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            return (parts[0], parts[1].split(separator: ",").map(String.init))
        }.sorted { $0.prefix.count > $1.prefix.count }
        func holders(_ namespace: String) -> [String] {
            shards.first {
                $0.prefix.isEmpty || namespace == $0.prefix || namespace.hasPrefix($0.prefix + "/")
            }?
            .nodes ?? []
        }
        for i in 0..<3 {
            let name = "n\(i + 1)"
            let store = try MemoryStore.open(
                at: directory.appending(name) + "/replica", options: StoreOptions(readOnly: true))
            defer { try? store.close() }
            let held = try store.replicaChecksums()
            let expected = truth.filter { holders($0.key).contains(name) }
            #expect(held == expected, "node \(name): \(held) where PostgreSQL has \(expected)")
        }
    }
}

/// A small seeded generator (SplitMix64), so each test's data is the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Sequence {
    /// The results of an async transform, in order.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
