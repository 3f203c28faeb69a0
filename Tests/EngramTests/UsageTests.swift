import Engram
import EngramTestSupport
import Foundation
import Testing

/// Recall counts and last-recall times: what agents use to see which memories earn their keep.
@Suite("Recall usage")
struct UsageTests {
    @Test("writable handles count recalls and write them with the next write; read-only handles do not")
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

        // A read-only handle beside the writer recalls without counting.
        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        _ = try reader.recall([1, 0], k: 3)
        try reader.close()

        try store.forget(b)  // any write flushes first; b's pending count goes nowhere, harmlessly
        #expect(try store.memory(a).recallCount == 2)
        #expect(try store.memory(a).lastRecalledAt == first)
        #expect(try store.memory(c).recallCount == 2)
        #expect(try store.memory(c).lastRecalledAt == first.addingTimeInterval(90))
        let d = try store.remember(NewMemory(content: "d", embedding: [0.5, 0.5]))
        #expect(try store.memory(d).recallCount == 0 && store.memory(d).lastRecalledAt == nil)
        #expect(try store.stats().neverRecalled == 1)  // d (b is forgotten)

        _ = try store.recall([1, 0], k: 1)
        try store.close()  // close writes the rest
        let reopened = try MemoryStore.open(at: path, options: StoreOptions(clock: clock))
        #expect(try reopened.memory(a).recallCount == 3)
        // A new version keeps its memory's usage (pending recalls are written before the update reads it).
        _ = try reopened.recall([1, 0], k: 1)
        let a2 = try reopened.update(a, with: MemoryChanges(content: "a, revised"))
        #expect(a2.recallCount == 4 && a2.lastRecalledAt == first.addingTimeInterval(90))
        #expect(try reopened.memory(a2.id).recallCount == 4)
    }
}
