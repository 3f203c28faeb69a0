import EngramTestSupport
import Foundation
import Testing

@testable import Engram

@Suite("Persistence, updates, forgetting and compaction")
struct PersistenceTests {
    @Test("close and reopen returns identical results")
    func reopen() throws {
        var s = try SeededStore(count: 2000, dimension: 24, seed: 21)
        var rng = SeededGenerator(seed: 3)
        let queries = (0..<5).map { _ in rng.vector(dimension: 24) }
        let filter = MemoryFilter(namespace: .prefix("acme"), metadata: [.equals("team", "blue")])
        let before = try queries.map { try s.store.recall($0, k: 15, filter: filter) }
        let path = s.store.path
        try s.store.close()
        let reopened = try MemoryStore.open(at: path)
        let after = try queries.map { try reopened.recall($0, k: 15, filter: filter) }
        func withoutUsage(_ results: [[RecallHit]]) -> [[RecallHit]] {
            results.map { hits in
                hits.map { hit in
                    var hit = hit
                    hit.memory.recallCount = 0
                    hit.memory.lastRecalledAt = nil
                    return hit
                }
            }
        }
        #expect(withoutUsage(before) == withoutUsage(after))
        // The first round's recalls were written at close: each memory now counts its appearances there.
        var appearances: [MemoryID: Int] = [:]
        for hit in before.joined() { appearances[hit.memory.id, default: 0] += 1 }
        for hit in after.joined() {
            #expect(hit.memory.recallCount == appearances[hit.memory.id] && hit.memory.lastRecalledAt != nil)
        }
        #expect(before.joined().allSatisfy { $0.memory.recallCount == 0 && $0.memory.lastRecalledAt == nil })
        #expect(try reopened.count() == 2000)
        s.oracle.entries.removeAll()  // silence unused-mutation warnings in some toolchains
    }

    @Test("update makes a new version, keeps history, and recall follows the new vector")
    func update() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 3)
        let old = try store.remember(
            NewMemory(content: "checkout slow", cause: "db pool", tags: ["db"], embedding: [1, 0, 0]))
        let other = try store.remember(NewMemory(content: "other", embedding: [0, 1, 0]))
        let v2 = try store.update(
            old, with: MemoryChanges(outcome: .some("raised pool size"), succeeded: .some(true)))
        #expect(v2.id != old)
        #expect(v2.supersedes == old)
        #expect(v2.outcome == "raised pool size" && v2.cause == "db pool" && v2.tags == ["db"])
        #expect(throws: EngramError.self) { try store.memory(old) }
        #expect(try store.memory(v2.id) == v2)
        // Same vector kept: still the best match for [1,0,0].
        #expect(try store.recall([1, 0, 0], k: 1).first?.memory.id == v2.id)
        let v3 = try store.update(
            v2.id, with: MemoryChanges(content: "checkout very slow", embedding: [0, 0, 1]))
        #expect(try store.recall([0, 0, 1], k: 1).first?.memory.id == v3.id)
        #expect(try store.recall([1, 0, 0], k: 3).map(\.memory.id).contains(v2.id) == false)
        let history = try store.history(of: v3.id)
        #expect(history.map(\.id) == [v2.id, old])
        #expect(history[1].outcome == nil)
        #expect(try store.count() == 2)
        _ = other
        do {
            _ = try store.update(old, with: MemoryChanges(content: "x"))
            Issue.record("updating a superseded id must fail")
        } catch EngramError.notFound {}
    }

    @Test("forget by id and by filter, then compact, keep the oracle true across reopen")
    func forgetAndCompact() throws {
        var s = try SeededStore(count: 3000, dimension: 16, seed: 33)
        var rng = SeededGenerator(seed: 34)
        let ids = Array(s.attributes.keys)
        let doomed = Array(ids.shuffled(using: &rng).prefix(400))
        #expect(try s.store.forget(doomed) == 400)
        let byFilter = try s.store.forget(matching: MemoryFilter(namespace: .exact("beta")))
        let betaIDs = Set(s.attributes.filter { $0.value.namespace == "beta" }.keys).subtracting(doomed)
        #expect(byFilter == betaIDs.count)
        let gone = Set(doomed).union(betaIDs)
        s.oracle.entries.removeAll { gone.contains($0.id) }

        // Re-use freed slots with new memories.
        var fresh: [BruteForceOracle.Entry] = []
        for i in 0..<300 {
            let v = rng.vector(dimension: 16)
            let id = try s.store.remember(Fixtures.memory(v, index: 10_000 + i, namespace: "fresh"))
            fresh.append(.init(id: id, vector: v))
        }
        s.oracle.entries += fresh
        let live = Set(s.oracle.entries.map(\.id))
        func check(_ store: MemoryStore) throws {
            // Namespace filters go through the per-namespace slot lists, which forgets and reuse rewire.
            for ns in ["acme/support", "acme/deploy", "beta/x/y", "beta"] {
                let expected = s.attributes.filter { live.contains($0.key) && $0.value.namespace == ns }.count
                #expect(try store.count(matching: MemoryFilter(namespace: .exact(ns))) == expected, "\(ns)")
            }
            #expect(try store.count(matching: MemoryFilter(namespace: .exact("fresh"))) == 300)
            for _ in 0..<4 {
                let q = rng.vector(dimension: 16)
                let hits = try store.recall(q, k: 25)
                #expect(s.oracle.mismatch(hits, query: q, k: 25) == nil)
            }
            #expect(try store.count() == s.oracle.entries.count)
        }
        try check(s.store)
        let before = try s.store.stats()
        let reclaimed = try s.store.compact()
        let after = try s.store.stats()
        #expect(after.freeSlots == 0)
        #expect(after.vectorFileBytes <= before.vectorFileBytes)
        #expect(reclaimed >= 0)
        try check(s.store)
        let path = s.store.path
        try s.store.close()
        let reopened = try MemoryStore.open(at: path)
        try check(reopened)
        #expect(try reopened.stats().freeSlots == 0)
    }

    @Test("list pages through every match exactly once in id order")
    func listPagination() throws {
        let s = try SeededStore(count: 1234, dimension: 8, seed: 44)
        let filter = MemoryFilter(kinds: [.fact])
        var seen: [MemoryID] = []
        var cursor: MemoryID?
        repeat {
            let page = try s.store.list(filter: filter, after: cursor, limit: 100)
            seen += page.memories.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        let expected = s.attributes.filter { $0.value.kind == .fact }.keys.sorted()
        #expect(seen == expected)
    }

    @Test("keyword search ranks by BM25 with porter stemming and respects filters")
    func keywordSearch() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 2)
        let a = try store.remember(
            NewMemory(
                content: "Deploy failed", cause: "flaky integration tests", outcome: "retried the pipeline",
                namespace: "ops", embedding: [1, 0]))
        let b = try store.remember(
            NewMemory(content: "User prefers dark mode", namespace: "prefs", tags: ["ui"], embedding: [0, 1]))
        _ = try store.remember(NewMemory(content: "Unrelated", namespace: "ops", embedding: [1, 1]))
        #expect(try store.search(text: "deploying").map(\.memory.id) == [a])
        #expect(try store.search(text: "retry pipelines").map(\.memory.id) == [a])
        #expect(try store.search(text: "ui").map(\.memory.id) == [b])
        #expect(try store.search(text: "deploy", filter: MemoryFilter(namespace: .exact("prefs"))).isEmpty)
        let v2 = try store.update(b, with: MemoryChanges(outcome: .some("switched the theme to solarized")))
        #expect(try store.search(text: "solarized").map(\.memory.id) == [v2.id])
        #expect(try store.search(text: "dark mode").map(\.memory.id) == [v2.id])
        try store.forget(a)
        #expect(try store.search(text: "deploy").isEmpty)
        let batch = try store.remember(
            (0..<50).map { NewMemory(content: "batch item \($0) zebra", embedding: [1, Float($0)]) })
        #expect(Set(try store.search(text: "zebra", k: 100).map(\.memory.id)) == Set(batch))
        // Compaction renumbers slots; the full-text index, keyed by rowid, must not notice.
        try store.forget(Array(batch.prefix(20)))
        try store.compact()
        #expect(Set(try store.search(text: "zebra", k: 100).map(\.memory.id)) == Set(batch.dropFirst(20)))
        #expect(try store.search(text: "solarized").map(\.memory.id) == [v2.id])
        #expect(try store.search(text: "item 37", k: 100).contains { $0.memory.id == batch[37] })
    }
}

@Suite("The slot cache written at close")
struct SlotCacheTests {
    @Test(
        "a clean close writes the cache; a later commit without close, or a damaged cache, falls back to SQLite"
    )
    func staleAndDamaged() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        var rng = SeededGenerator(seed: 4)
        var vectors = (0..<300).map { _ in rng.vector(dimension: 12) }
        var store = try MemoryStore.create(at: path, dimension: 12)
        var ids = try store.remember(
            vectors.enumerated().map {
                Fixtures.memory($1, index: $0, namespace: "n\($0 % 3)", tags: ["t\($0 % 4)"])
            })
        try store.forget(ids[10])
        vectors.remove(at: 10)
        ids.remove(at: 10)
        // A reader keeps its connection until after the writer's; the close still empties the WAL, so
        // the next open has no log to replay.
        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        _ = try reader.count()
        try store.close()
        let cache = URL(fileURLWithPath: path).appendingPathComponent("slots.cache").path
        #expect(FileManager.default.fileExists(atPath: cache))
        let wal = URL(fileURLWithPath: path).appendingPathComponent("memories.sqlite-wal").path
        #expect(((try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0) == 0)
        try reader.close()

        func check(_ store: MemoryStore, _ ids: [MemoryID], _ vectors: [[Float]]) throws {
            let oracle = BruteForceOracle(entries: zip(ids, vectors).map { .init(id: $0, vector: $1) })
            let q = vectors[5]
            #expect(oracle.mismatch(try store.recall(q, k: 15), query: q, k: 15) == nil)
            #expect(
                try store.count(matching: MemoryFilter(namespace: .exact("n1")))
                    == ids.indices.filter { ($0 < 10 ? $0 : $0 + 1) % 3 == 1 }.count)
            #expect(
                try store.count(matching: MemoryFilter(tags: .any(["t2"])))
                    == ids.indices.filter { ($0 < 10 ? $0 : $0 + 1) % 4 == 2 }.count)
        }
        store = try MemoryStore.open(at: path)  // from the cache
        try check(store, ids, vectors)

        // A commit, then no close (as after a crash): the cache is stale and must not be used.
        let extra = rng.vector(dimension: 12)
        let extraID = try store.remember(Fixtures.memory(extra, index: 999, namespace: "n0"))
        store = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(try store.memory(extraID).content == "memory number 999")
        #expect(try store.count() == 300)

        // A damaged cache is ignored.
        try Data(repeating: 7, count: 64).write(to: URL(fileURLWithPath: cache))
        store = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(try store.count() == 300)
    }

    @Test(
        "the cache reads back exactly; one flipped bit anywhere rejects it; version 1 and 2 files still read")
    func checksumAndVersions() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        var rng = SeededGenerator(seed: 9)
        let store = try MemoryStore.create(at: path, dimension: 4)
        let ids = try store.remember(
            (0..<50).map {
                Fixtures.memory(
                    rng.vector(dimension: 4), index: $0, namespace: "n\($0 % 2)", tags: ["t\($0 % 3)"])
            })
        // Free slots at the start and inside (the last slot stays live: the table ends at it).
        _ = try store.forget([ids[0], ids[7], ids[8], ids[30]])
        let (slots, names) = try store.withSnapshot { ($0.slots, $0.names) }
        try store.close()
        let directory = URL(fileURLWithPath: path)
        let file = directory.appendingPathComponent(SlotCache.fileName)
        func live(_ table: SlotTable) -> [String] {
            var rows: [String] = []
            table.forEachLive { slot, info in rows.append("\(slot) \(info.id) \(info.namespace) \(info.tags)")
            }
            return rows
        }
        for version in [SlotCache.version, 2, 1] {
            SlotCache.write(directory: directory, counter: "c", slots: slots, names: names, version: version)
            let read = try #require(
                SlotCache.read(directory: directory, counter: "c", maxSlots: 1 << 20), "version \(version)")
            #expect(live(read.slots) == live(slots) && read.names.namespaces.names == names.namespaces.names)
            #expect(read.slots.count == slots.count)
            #expect(read.free == [30, 8, 7, 0])
            // Each namespace lists its live slots, and each slot knows where it sits in its list.
            for (ns, list) in read.slots.namespaceSlots.enumerated() {
                #expect(Set(list) == Set(slots.namespaceSlots[ns]))
                for (position, slot) in list.enumerated() {
                    #expect(
                        read.slots[Int(slot)].namespacePosition == Int32(position)
                            && read.slots[Int(slot)].namespace == Int32(ns))
                }
            }
            #expect(SlotCache.read(directory: directory, counter: "other", maxSlots: 1 << 20) == nil)
            // Slots past the vector file's rows: refused, not allocated.
            #expect(SlotCache.read(directory: directory, counter: "c", maxSlots: 10) == nil)
            let good = try Data(contentsOf: file)
            for position in stride(from: 0, to: good.count, by: max(1, good.count / 40)) {
                var bad = good
                bad[position] ^= 0x10
                try bad.write(to: file)
                #expect(
                    SlotCache.read(directory: directory, counter: "c", maxSlots: 1 << 20) == nil,
                    "version \(version), byte \(position)")
            }
            try good.dropLast(3).write(to: file)
            #expect(SlotCache.read(directory: directory, counter: "c", maxSlots: 1 << 20) == nil)
        }
    }
}
