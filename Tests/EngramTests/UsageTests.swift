import EngramTestSupport
import Foundation
import Testing

@testable import Engram

/// Recall counts and last-recall times: what agents use to see which memories earn their keep.
@Suite("Recall usage")
struct UsageTests {
    @Test(
        "writable handles count recalls and write them with the next write; read-only handles log theirs for it"
    )
    func counting() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let clock = ManualClock()
        let store = try MemoryStore.create(at: path, dimension: 2, options: StoreOptions(clock: clock))
        let (a, b, c) = (
            try store.remember(NewMemory(content: "a", embedding: [1, 0])),
            try store.remember(NewMemory(content: "b", embedding: [0.9, 0.1])),
            try store.remember(NewMemory(content: "c", embedding: [0, 1]))
        )
        let first = clock.now()
        _ = try store.recall([1, 0], k: 2)  // a, b
        _ = try store.recall(batch: [[1, 0], [0, 1]], k: 1)  // a; c
        clock.advance(by: 90)
        _ = try store.recall([0, 1], k: 1)  // c
        #expect(try store.memory(a).recallCount == 0)  // not written yet

        // A read-only handle beside the writer cannot write the columns: its recalls go to the usage log.
        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true, clock: clock))
        _ = try reader.recall([1, 0], k: 3)  // a, b, c
        #expect(try reader.stats().neverRecalled == 0)  // a, b, c: its own pending notes count as recalls
        try reader.close()
        #expect(try store.memory(a).recallCount == 0)
        let another = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(try another.stats().neverRecalled == 0)  // the log counts too, before any writer writes it in
        try another.close()

        try store.forget(b)  // any write flushes first; b's pending count goes nowhere, harmlessly
        #expect(try store.memory(a).recallCount == 3)
        #expect(try store.memory(a).lastRecalledAt == first.addingTimeInterval(90))
        #expect(try store.memory(c).recallCount == 3)
        #expect(try store.memory(c).lastRecalledAt == first.addingTimeInterval(90))
        let d = try store.remember(NewMemory(content: "d", embedding: [0.5, 0.5]))
        #expect(try store.memory(d).recallCount == 0 && store.memory(d).lastRecalledAt == nil)
        #expect(try store.stats().neverRecalled == 1)  // d (b is forgotten)
        try store.forget(d)  // a second flush adds nothing twice
        #expect(try store.memory(a).recallCount == 3 && store.memory(c).recallCount == 3)

        _ = try store.recall([1, 0], k: 1)
        try store.close()  // close writes the rest
        let reopened = try MemoryStore.open(at: path, options: StoreOptions(clock: clock))
        #expect(try reopened.memory(a).recallCount == 4)
        // A new version keeps its memory's usage (pending recalls are written before the update reads it).
        _ = try reopened.recall([1, 0], k: 1)
        let a2 = try reopened.update(a, with: MemoryChanges(content: "a, revised"))
        #expect(a2.recallCount == 5 && a2.lastRecalledAt == first.addingTimeInterval(90))
        #expect(try reopened.memory(a2.id).recallCount == 5)
        #expect(UsageLog.leftovers(directory: URL(fileURLWithPath: path)).isEmpty)
    }

    @Test("recalls through many read-only handles at once are each counted exactly once")
    func concurrentReaders() async throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let store = try MemoryStore.create(at: path, dimension: 4)
        var g = SeededGenerator(seed: 11)
        let ids = try (0..<40).map { i in
            try store.remember(
                NewMemory(content: "m\(i)", embedding: (0..<4).map { _ in Float(g.gaussian()) }))
        }
        let readers = 4
        let oracle = try await withThrowingTaskGroup(of: [MemoryID: Int].self) { group in
            for r in 0..<readers {
                group.addTask {
                    var g = SeededGenerator(seed: UInt64(100 + r))
                    var seen: [MemoryID: Int] = [:]
                    for round in 0..<10 {  // a handle per round: every close appends to the log
                        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
                        for _ in 0..<(5 + round) {
                            let query = (0..<4).map { _ in Float(g.gaussian()) }
                            for hit in try reader.recall(query, k: 3) { seen[hit.memory.id, default: 0] += 1 }
                        }
                        try reader.close()
                    }
                    return seen
                }
            }
            // Meanwhile the writer writes, so it claims the log while readers append to it.
            for i in 0..<30 { _ = try store.remember(NewMemory(content: "w\(i)", embedding: [0, 0, 0, 1])) }
            var total: [MemoryID: Int] = [:]
            for try await seen in group { total.merge(seen, uniquingKeysWith: +) }
            return total
        }
        try store.close()
        let reopened = try MemoryStore.open(at: path)
        // flushes what is left
        _ = try reopened.remember(NewMemory(content: "last", embedding: [1, 0, 0, 0]))
        for id in ids { #expect(try reopened.memory(id).recallCount == oracle[id, default: 0], "\(id)") }
        #expect(oracle.values.reduce(0, +) == readers * (0..<10).reduce(0) { $0 + (5 + $1) } * 3)
    }

    @Test(
        "a claimed log already counted is deleted at open, an uncounted one is counted, torn lines are skipped"
    )
    func claimedLogsAfterACrash() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let directory = URL(fileURLWithPath: path)
        let store = try MemoryStore.create(at: path, dimension: 2)
        let a = try store.remember(NewMemory(content: "a", embedding: [1, 0]))
        let b = try store.remember(NewMemory(content: "b", embedding: [0, 1]))
        // As a writer that died after committing usage.log.merging-X's counts but before deleting it leaves it.
        try store.records.setMeta([UsageLog.mergedKey: UsageLog.claimedPrefix + "X"])
        try store.close()
        func put(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: directory.appendingPathComponent(name))
        }
        try put(UsageLog.claimedPrefix + "X", "\(a) 5 100\n")  // counted already: must not count again
        try put(UsageLog.claimedPrefix + "Y", "\(b) 2 200\n")  // claimed, never committed
        try put(UsageLog.name, "\(a) 1 300\n\(b) 1 50\nnot a line\n\(a) 0 10\n\(a) 7")  // garbage, zero, torn

        let reopened = try MemoryStore.open(at: path)
        _ = try reopened.remember(NewMemory(content: "c", embedding: [1, 1]))
        #expect(try reopened.memory(a).recallCount == 1)
        #expect(try reopened.memory(a).lastRecalledAt?.timeIntervalSince1970 == 300)
        #expect(try reopened.memory(b).recallCount == 3)
        #expect(try reopened.memory(b).lastRecalledAt?.timeIntervalSince1970 == 200)
        #expect(UsageLog.leftovers(directory: directory).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(UsageLog.name).path))
    }

    @Test("the log stops growing at its cap when no writer merges it")
    func logCap() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("s")
        let store = try MemoryStore.create(at: path, dimension: 2)
        let a = try store.remember(NewMemory(content: "a", embedding: [1, 0]))
        try store.close()
        let directory = URL(fileURLWithPath: path)
        let log = directory.appendingPathComponent(UsageLog.name).path
        #expect(UsageLog.append([(a, 1, 100)], directory: directory))
        let line = try Data(contentsOf: URL(fileURLWithPath: log)).count
        #expect(truncate(log, off_t(UsageLog.maxBytes - line + 1)) == 0)  // one byte too few for another line
        #expect(!UsageLog.append([(a, 1, 200)], directory: directory))
        #expect(
            try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int == UsageLog.maxBytes - line
                + 1)
        #expect(truncate(log, off_t(line)) == 0)
        #expect(UsageLog.append([(a, 1, 300)], directory: directory))
        let reopened = try MemoryStore.open(at: path)
        _ = try reopened.remember(NewMemory(content: "b", embedding: [0, 1]))
        #expect(try reopened.memory(a).recallCount == 2)
    }
}
