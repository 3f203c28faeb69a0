import EngramTestSupport
import Foundation
import GRDB
import Testing

@testable import Engram

/// Purge removes every trace from the files; the audit log detects any change to its entries; facts
/// answer "as of" as an oracle over their history does.
@Suite("Purge, audit log and validity")
struct PurgeAuditTests {
    /// Every file of the store (WAL and caches included) as bytes.
    static func files(_ dir: String) throws -> [(String, [UInt8])] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { name in
            (name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent(name))))
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first && Array(haystack[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }

    static func found(_ dir: String, _ needle: [UInt8]) throws -> [String] {
        try files(dir).filter { contains($0.1, needle) }.map(\.0)
    }

    /// A stored vector's bytes as the vector file holds them.
    static func bytes(_ vector: [Float], _ element: VectorElement) -> [UInt8] {
        let head = Array(vector.prefix(12))
        switch element {
        case .float32: return head.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        case .float16:
            return head.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian, Array.init) }
        }
    }

    @Test(
        "purge leaves no text nor vector in any file of the store",
        arguments: [VectorElement.float32, .float16])
    func purgeProof(element: VectorElement) throws {
        for compacted in [false, true] {
            let dir = TemporaryDirectory()
            let path = dir.appending("s")
            let store = try MemoryStore.create(at: path, dimension: 32, element: element)
            var g = SeededGenerator(seed: 21)
            // Background memories, so the purged ones share pages and index segments with others.
            for i in 0..<300 {
                try store.remember(
                    NewMemory(
                        content: "routine ticket \(i) about refunds", embedding: g.vector(dimension: 32)))
            }
            let secret = "zanzibarquokka secret shipping address 221B"
            let older = "xylophonewombat earlier address"
            let first = try store.remember(
                NewMemory(content: older, outcome: "noted", embedding: g.vector(dimension: 32)))
            let cache = store.cachingEmbedder(try HashingEmbedder(dimension: 32))
            _ = try cache.embed([EmbeddingText.compose(content: secret, cause: nil, outcome: "noted")])
            let current = try store.update(
                first, with: MemoryChanges(content: secret, embedding: g.vector(dimension: 32)))
            let vectors = try [first, current.id].map { id -> [UInt8] in
                id == current.id ? Self.bytes(try store.embeddings(of: [id])[id]!, element) : []
            }
            try store.close()
            let reopened = try MemoryStore.open(at: path)
            if compacted { try reopened.compact() }
            // The test can fail: before the purge, both texts and the vector are in the files.
            try reopened.close()
            #expect(!(try Self.found(path, Array(secret.utf8))).isEmpty)
            #expect(!(try Self.found(path, vectors[1])).isEmpty)
            let store2 = try MemoryStore.open(at: path)
            let cache2 = store2.cachingEmbedder(try HashingEmbedder(dimension: 32))
            _ = try cache2.embed([EmbeddingText.compose(content: secret, cause: nil, outcome: "noted")])
            let result = try store2.purge([current.id], reason: "user asked")
            #expect(Set(result.versions) == [first, current.id] && result.memories == [current.id])
            #expect(try store2.count() == 300)
            #expect(try store2.history(of: current.id).isEmpty)
            #expect(try store2.search(text: "zanzibarquokka", k: 5).isEmpty)
            #expect(try store2.search(text: "xylophonewombat", k: 5).isEmpty)
            for (name, bytes) in try Self.files(path) {
                for needle in [secret, older, "zanzibarquokka", "xylophonewombat", "zanzibarquokka"] {
                    #expect(
                        !Self.contains(bytes, Array(needle.utf8)),
                        "\(needle) in \(name) (\(element), compacted \(compacted))")
                }
                #expect(
                    !Self.contains(bytes, vectors[1]),
                    "vector in \(name) (\(element), compacted \(compacted))")
            }
            let tombstones = try store2.tombstones()
            #expect(Set(tombstones.map(\.id)) == [first, current.id])
            #expect(tombstones.allSatisfy { $0.reason == "user asked" })
            #expect(try store2.verifyAudit().isIntact)
            #expect(try store2.auditEntries().last?.action == "purge")
            try store2.close()
            // Reopened, the store is whole and the rest still recalls.
            let store3 = try MemoryStore.open(at: path)
            #expect(try store3.count() == 300)
            #expect(try store3.search(text: "refunds", k: 3).count == 3)
            try store3.close()
        }
    }

    @Test("purge by source and by lineage removes what a tainted source led to")
    func purgeLineage() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 8)
        defer { try? store.close() }
        var g = SeededGenerator(seed: 22)
        func remember(_ text: String, source: MemorySource = .agent, from: [MemoryID] = []) throws -> MemoryID
        {
            var m = NewMemory(content: text, embedding: g.vector(dimension: 8))
            m.source = source
            m.derivedFrom = from
            return try store.remember(m)
        }
        let bad = try remember("scraped page says refunds take 90 days", source: "scraper")
        let child = try remember("refunds are slow", from: [bad])
        let grandchild = try remember("tell users to wait three months", from: [child])
        let clean = try remember("refunds take 5 days", source: .user)
        let mixed = try remember("refunds vary", from: [clean, grandchild])
        let result = try store.purge(derivedFrom: [bad])
        #expect(Set(result.memories) == [bad, child, grandchild, mixed])
        #expect(try store.count() == 1)
        let other = try remember("another scraped page", source: "scraper")
        _ = try remember("kept", source: .tool)
        #expect(try store.purge(source: "scraper").memories == [other])
        #expect(try store.count() == 2)
        // A scope without forget may not purge.
        let reader = store.scoped(to: Scope.everyNamespace(actions: .readWrite))
        #expect(throws: EngramError.self) { try reader.purge([clean]) }
    }

    @Test("the audit log records every change and any tampering is detected (seeded, 200 tamperings)")
    func auditTampering() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let clock = ManualClock()
        let store = try MemoryStore.create(at: path, dimension: 8, options: StoreOptions(clock: clock))
        var g = SeededGenerator(seed: 23)
        let agent = store.scoped(to: Scope.unrestricted.acting(as: "agent-7"))
        var ids: [MemoryID] = []
        for i in 0..<20 {
            clock.advance(by: 1)
            ids.append(
                try agent.remember(NewMemory(content: "event \(i)", embedding: g.vector(dimension: 8))))
        }
        _ = try agent.update(ids[0], with: MemoryChanges(content: "event 0 again"))
        try agent.forget(ids[1])
        try store.quarantine([ids[2]])
        try store.purge([ids[3]])
        let entries = try store.auditEntries()
        #expect(entries.map(\.action).filter { $0 == "remember" }.count == 20)
        #expect(entries.map(\.action).suffix(4) == ["update", "forget", "quarantine", "purge"])
        #expect(entries.prefix(20).allSatisfy { $0.actor == "agent-7" })
        #expect(entries.map(\.seq) == Array(1...entries.count))
        #expect(try store.auditEntries(since: Date(timeIntervalSince1970: 1_800_000_010.5)).first?.seq == 11)
        let intact = try store.verifyAudit()
        #expect(intact.isIntact && intact.entries == entries.count && intact.head == entries.last?.hash)
        try store.close()
        // Never content: no entry holds a memory's text.
        #expect(!entries.contains { $0.detail.contains("event") })

        let pristine = try Data(
            contentsOf: URL(fileURLWithPath: path).appendingPathComponent("memories.sqlite"))
        let n = entries.count
        for round in 0..<200 {
            try pristine.write(to: URL(fileURLWithPath: path).appendingPathComponent("memories.sqlite"))
            for suffix in ["-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: path + "/memories.sqlite" + suffix)
            }
            let queue = try ScopedWordsTests.database(path)
            let target = 1 + Int(g.next() % UInt64(n))
            let kind = round % 5
            try queue.write { db in
                switch kind {
                case 0:  // an altered field
                    try db.execute(
                        sql: "UPDATE audit SET detail = detail || 'x' WHERE seq = ?", arguments: [target])
                case 1:  // a removed entry
                    try db.execute(sql: "DELETE FROM audit WHERE seq = ?", arguments: [target])
                case 2:  // reordered: two entries swap places
                    let other = target == n ? 1 : target + 1
                    try db.execute(sql: "UPDATE audit SET seq = -1 WHERE seq = ?", arguments: [target])
                    try db.execute(sql: "UPDATE audit SET seq = ? WHERE seq = ?", arguments: [target, other])
                    try db.execute(sql: "UPDATE audit SET seq = ? WHERE seq = -1", arguments: [other])
                case 3:  // another actor
                    try db.execute(
                        sql: "UPDATE audit SET actor = 'someone' WHERE seq = ?", arguments: [target])
                default:  // the tail cut off, hashes intact
                    try db.execute(sql: "DELETE FROM audit WHERE seq >= ?", arguments: [target])
                }
            }
            try queue.close()
            let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
            let result = try reader.verifyAudit()
            try reader.close()
            #expect(!result.isIntact, "round \(round), kind \(kind), entry \(target)")
            if kind != 2 { #expect(result.firstBad == target, "round \(round), kind \(kind)") }
        }
    }

    @Test("as-of and fact keys against an oracle over 10,000 generated changes")
    func validityOracle() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        var options = StoreOptions(clock: clock)
        options.recordsUsage = false
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 8, options: options)
        defer { try? store.close() }
        var g = SeededGenerator(seed: 24)
        let keys = (0..<40).map { "user-\($0)/address" }
        /// Per key: each value's id and interval, as the oracle keeps them.
        var timeline: [String: [(id: MemoryID, from: Double, until: Double)]] = [:]
        var gone = Set<MemoryID>()
        var checkpoints: [Double] = []
        for change in 0..<10_000 {
            clock.advance(by: Double(1 + g.next() % 100))
            let now = clock.now().timeIntervalSince1970
            let key = keys[Int(g.next() % UInt64(keys.count))]
            let roll = g.next() % 10
            if roll < 8 {
                var m = NewMemory(
                    content: "\(key) is \(change)", kind: .fact, embedding: g.vector(dimension: 8))
                m.factKey = key
                let result = try store.remember([m], nearDuplicates: nil)[0]
                let open = timeline[key, default: []].indices.filter {
                    timeline[key]![$0].until == .infinity && !gone.contains(timeline[key]![$0].id)
                }
                #expect(Set(result.ended) == Set(open.map { timeline[key]![$0].id }))
                for i in open { timeline[key]![i].until = now }
                timeline[key, default: []].append((result.id, now, .infinity))
            } else if roll == 8, let last = timeline[key]?.last, last.until == .infinity,
                !gone.contains(last.id)
            {
                #expect(try store.endValidity([last.id]) == 1)
                timeline[key]![timeline[key]!.count - 1].until = now
            } else if let victim = timeline[key]?.randomElement(using: &g), !gone.contains(victim.id) {
                try store.forget(victim.id)
                gone.insert(victim.id)
            }
            if change % 97 == 0 { checkpoints.append(now - Double(g.next() % 50)) }
        }
        func oracle(at t: Double?) -> Set<MemoryID> {
            var ids = Set<MemoryID>()
            for values in timeline.values {
                for v in values where !gone.contains(v.id) {
                    if let t {
                        if v.from <= t && t < v.until { ids.insert(v.id) }
                    } else if v.until == .infinity {
                        ids.insert(v.id)
                    }
                }
            }
            return ids
        }
        func listed(_ filter: MemoryFilter) throws -> Set<MemoryID> {
            Set(try store.list(filter: filter, after: nil, limit: 10_000).memories.map(\.id))
        }
        #expect(try listed(MemoryFilter()) == oracle(at: nil))
        for t in checkpoints {
            #expect(
                try listed(MemoryFilter(validity: .asOf(Date(timeIntervalSince1970: t)))) == oracle(at: t),
                "as of \(t)")
        }
        // Never two current values of one key.
        let current = try store.list(filter: MemoryFilter(), after: nil, limit: 10_000).memories
        #expect(Set(current.compactMap(\.factKey)).count == current.count)
        // Recall answers as of a time too: the one value of a key that held then.
        let key = keys[0]
        if let middle = timeline[key]?.filter({ !gone.contains($0.id) && $0.until != .infinity }).first {
            let t = Date(timeIntervalSince1970: middle.from)
            let hits = try store.recall(
                g.vector(dimension: 8), k: 100, filter: MemoryFilter(validity: .asOf(t)))
            #expect(hits.filter { $0.memory.factKey == key }.map(\.memory.id) == [middle.id])
        }
    }
}
