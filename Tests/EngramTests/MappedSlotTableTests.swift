import EngramTestSupport
import Foundation
import Testing

@testable import Engram

/// A table opened from `slots.cache` reads its slots from the mapped file and decodes a chunk only when
/// it changes; it must behave exactly as a table built in memory, through any sequence of changes.
@Suite("Slot table read in place from slots.cache")
struct MappedSlotTableTests {
    /// What a table holds, independent of how: each live slot's fields, the free slots, and each
    /// namespace's slots (as a set) with every slot's position pointing at itself in its list.
    static func contents(_ table: SlotTable) -> (
        live: [String], free: [Int32], lists: [Set<Int32>], positionsOK: Bool
    ) {
        var live: [String] = []
        table.forEachLive { slot, i in
            live.append(
                "\(slot) \(i.rowID) \(i.id) \(i.namespace) \(i.agent) \(i.kind) \(i.succeeded) \(i.createdAt) \(i.expiresAt) \(i.tags)"
            )
        }
        var positionsOK = true
        for (ns, list) in table.namespaceSlots.enumerated() {
            for (position, slot) in list.enumerated() {
                let info = table[Int(slot)]
                positionsOK =
                    positionsOK && info.isLive && info.namespace == Int32(ns)
                    && info.namespacePosition == Int32(position)
                    && table.rowID(at: Int(slot)) == info.rowID
            }
        }
        var lists = table.namespaceSlots.map(Set.init)
        while lists.last?.isEmpty == true { lists.removeLast() }
        return (live, table.freeSlots(), lists, positionsOK)
    }

    static func randomInfo(_ g: inout SeededGenerator, rowID: Int64) -> SlotInfo {
        let tagCount = Int(g.next() % 4)
        return SlotInfo(
            rowID: rowID, id: MemoryID(high: g.next(), low: g.next()), namespace: Int32(g.next() % 5),
            agent: Int32(g.next() % 3) - 1, kind: Int32(g.next() % 3) - 1,
            succeeded: Int8(Int(g.next() % 3) - 1),
            createdAt: Double(g.next() % 1_000_000), expiresAt: g.next() % 4 == 0 ? 2e9 : .infinity,
            tags: Array(Set((0..<tagCount).map { _ in Int32(g.next() % 6) })).sorted())
    }

    static let names: NameTables = {
        var names = NameTables()
        for i in 0..<5 { _ = names.namespaces.intern("ns\(i)") }
        for i in 0..<2 { _ = names.agents.intern("agent\(i)") }
        for i in 0..<2 { _ = names.kinds.intern("kind\(i)") }
        for i in 0..<6 { _ = names.tags.intern("tag\(i)") }
        return names
    }()

    @Test(
        "through random changes, a mapped table equals one built in memory; earlier copies keep their contents",
        arguments: [1, 2, 3])
    func sameAsInMemory(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let directory = URL(fileURLWithPath: dir.path)
        // Across several chunks, with free slots inside and at the end.
        let size = 3 * SlotTable.chunkSize + 123
        var reference = SlotTable()
        var nextRowID: Int64 = 1
        for slot in 0..<size where g.next() % 5 != 0 {
            reference[slot] = Self.randomInfo(&g, rowID: nextRowID)
            nextRowID += 1
        }
        reference[size - 1] = SlotInfo()  // a free slot at the end still counts
        SlotCache.write(directory: directory, counter: "c", slots: reference, names: Self.names)
        var (mapped, free, _) = try #require(
            SlotCache.read(directory: directory, counter: "c", maxSlots: size))
        #expect(mapped.count == reference.count)
        #expect(free == reference.freeSlots())
        let before = Self.contents(reference)
        #expect(Self.contents(mapped) == before && before.positionsOK)

        let untouched = mapped  // a snapshot taken before any change
        for step in 0..<400 {
            // Mostly inside the file's slots (changing live ones, freeing, filling), sometimes past its end.
            let slot = Int(g.next() % UInt64(size + SlotTable.chunkSize))
            let info = g.next() % 3 == 0 ? SlotInfo() : Self.randomInfo(&g, rowID: nextRowID)
            nextRowID += 1
            reference[slot] = info
            mapped[slot] = info
            if step % 50 == 0 || step == 399 {
                #expect(Self.contents(mapped) == Self.contents(reference), "after \(step + 1) changes")
                #expect(Self.contents(mapped).positionsOK)
            }
        }
        #expect(Self.contents(untouched) == before)

        // Written again from a partly decoded table, and read back.
        SlotCache.write(directory: directory, counter: "d", slots: mapped, names: Self.names)
        let again = try #require(SlotCache.read(directory: directory, counter: "d", maxSlots: mapped.count))
        #expect(Self.contents(again.slots) == Self.contents(reference))
        mapped.removeAll()
        #expect(mapped.count == 0 && Self.contents(mapped).live.isEmpty)
    }

    @Test("a record that contradicts the others is refused even under a valid checksum")
    func inconsistentRecords() throws {
        let dir = TemporaryDirectory()
        let directory = URL(fileURLWithPath: dir.path)
        var g = SeededGenerator(seed: 5)
        var table = SlotTable()
        for slot in 0..<40 { table[slot] = Self.randomInfo(&g, rowID: Int64(slot + 1)) }
        SlotCache.write(directory: directory, counter: "c", slots: table, names: Self.names)
        let file = directory.appendingPathComponent(SlotCache.fileName)
        let good = [UInt8](try Data(contentsOf: file))
        #expect(SlotCache.read(directory: directory, counter: "c", maxSlots: 40) != nil)
        // The tag ids end the body; the records come just before them.
        let recordsEnd = good.count - 8 - 4 * table.tagTotal
        let recordsStart = recordsEnd - 40 * MappedSlots.recordSize
        func rewritten(_ change: (inout [UInt8]) -> Void) throws -> Bool {
            var bytes = good
            change(&bytes)
            try Data(SlotCache.resealed(bytes)).write(to: file)
            return SlotCache.read(directory: directory, counter: "c", maxSlots: 40) == nil
        }
        let record = recordsStart + 7 * MappedSlots.recordSize
        #expect(try rewritten { $0[record + 40] = 9 })  // namespace id past the table
        #expect(try rewritten { $0[record + 44] = 7 })  // agent id past the table
        #expect(try rewritten { $0[record + 52] &+= 1 })  // namespace position not its rank
        #expect(try rewritten { $0[record + 60] = 200 })  // tags past the tag section
        #expect(try rewritten { $0[recordsEnd] = 99 })  // a tag id past the table
        #expect(try rewritten { $0.removeSubrange(recordsEnd - 1..<recordsEnd) })  // sections not adding up
        #expect(try !rewritten { _ in })  // the unchanged file still reads
    }
}

extension MappedSlotTableTests {
    @Test(
        "a file laid out from the documentation by another program (the fuzz seed from make_seeds.py) reads as written"
    )
    func independentlyWrittenFile() throws {
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/slot-cache/three-slots-v3")
        // The seed leaves the checksum to the reader of the corpus (as the fuzz harness does).
        let bytes = SlotCache.resealed([UInt8](try Data(contentsOf: seed)))
        let dir = TemporaryDirectory()
        try Data(bytes).write(to: URL(fileURLWithPath: dir.appending(SlotCache.fileName)))
        let read = try #require(
            SlotCache.read(directory: URL(fileURLWithPath: dir.path), counter: "7", maxSlots: 4))
        #expect(read.slots.count == 4 && read.free == [1])
        #expect(
            read.names.namespaces.names == ["default", "acme/support"]
                && read.names.tags.names == ["checkout", "latency"])
        let live = Self.contents(read.slots).live
        #expect(
            live == [
                "0 1 \(MemoryID(high: 0x0190A00000007000, low: 0x8000000000000001)) 0 0 1 1 1700000000.0 inf [0, 1]",
                "2 3 \(MemoryID(high: 0x0190A00000007002, low: 0x8000000000000001)) 1 -1 1 1 1700000000.0 inf []",
                "3 4 \(MemoryID(high: 0x0190A00000007003, low: 0x8000000000000001)) 0 -1 1 1 1700000000.0 inf [1]",
            ])
        #expect(read.slots.namespaceSlots == [[0, 3], [2]])
    }
}

extension SlotTable {
    /// How many tag ids the live slots hold in all.
    var tagTotal: Int {
        var n = 0
        forEachLive { _, info in n += info.tags.count }
        return n
    }
}
