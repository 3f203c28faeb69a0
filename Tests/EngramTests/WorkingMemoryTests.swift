import EngramTestSupport
import Foundation
import Testing

@testable import Engram

@Suite("Working memory")
struct WorkingMemoryTests {
    @Test("entries expire after their TTL, are swept, and survive reopen until then")
    func ttlAndSweep() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let store = try MemoryStore.create(
            at: dir.appending("s"), dimension: 2, options: StoreOptions(clock: clock))
        let wm = store.working
        try wm.set("ticket", "T-1042", namespace: "acme/support", ttl: 60)
        try wm.set("step", .object(["n": 3]), namespace: "acme/support", ttl: 600)
        #expect(try wm.get("ticket", namespace: "acme/support")?.value == "T-1042")
        #expect(try wm.list(namespace: "acme/support").map(\.key) == ["step", "ticket"])
        #expect(try wm.get("ticket") == nil)  // other namespace

        clock.advance(by: 61)
        #expect(try wm.get("ticket", namespace: "acme/support") == nil)
        #expect(try wm.list(namespace: "acme/support").map(\.key) == ["step"])

        let path = store.path
        try store.close()
        let reopened = try MemoryStore.open(at: path, options: StoreOptions(clock: clock))
        #expect(try reopened.working.get("step", namespace: "acme/support")?.value == .object(["n": 3]))
        clock.advance(by: 600)
        #expect(try reopened.working.sweep() == 1)
        #expect(try reopened.working.list(namespace: "acme/support").isEmpty)
    }

    @Test("promote turns an entry into a long-term memory and removes the entry")
    func promote() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 2)
        try store.working.set("insight", "Customer prefers email over phone", namespace: "crm", ttl: 300)
        let id = try store.working.promote("insight", namespace: "crm", embedding: [0.2, 0.8], kind: .fact)
        let memory = try store.memory(id)
        #expect(memory.content == "Customer prefers email over phone")
        #expect(memory.kind == .fact && memory.namespace == "crm" && memory.tags == ["working:insight"])
        #expect(try store.working.get("insight", namespace: "crm") == nil)
        #expect(throws: EngramError.self) {
            try store.working.promote("insight", namespace: "crm", embedding: [1, 0])
        }
    }

    @Test("promotion stores the memory and deletes the entry in one transaction, or does neither")
    func promotionIsAtomic() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 2)
        try store.working.set("kept", "still here", namespace: "crm", ttl: 300)
        // The entry vanished between reading it and storing the memory (another caller took it): the
        // memory's insert rolls back with the failed delete, and the vector's slot is reused.
        let memory = NewMemory(content: "gone", namespace: "crm", embedding: [1, 0])
        #expect(throws: EngramError.self) { try store.remember([memory], consuming: ("crm", "missing")) }
        #expect(try store.count() == 0)
        #expect(try store.working.get("kept", namespace: "crm") != nil)
        let ids = try store.remember([memory], consuming: ("crm", "kept"))
        #expect(try store.count() == 1 && store.memory(ids[0].id).content == "gone")
        #expect(try store.working.get("kept", namespace: "crm") == nil)
        try store.close()
        let reopened = try MemoryStore.open(at: dir.appending("s"))
        #expect(try reopened.count() == 1 && reopened.working.get("kept", namespace: "crm") == nil)
    }

    @Test("rejects bad keys, TTLs and values")
    func validation() throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(at: dir.appending("s"), dimension: 2)
        for (ttl, key) in [(0.0, "k"), (-1, "k"), (.nan, "k"), (60, ""), (60, "a\u{0}b")] {
            #expect(throws: EngramError.self) { try store.working.set(key, "v", ttl: ttl) }
        }
        #expect(throws: EngramError.self) { try store.working.set("k", .number(.infinity), ttl: 5) }
        #expect(throws: EngramError.self) {
            try store.working.set("k", .string(String(repeating: "x", count: 70_000)), ttl: 5)
        }
        #expect(try store.working.list().isEmpty)
    }
}
