import Foundation

/// A snapshot of the in-memory slot table in `slots.cache`, written when a writable store closes and
/// read at the next open instead of scanning every memory row in SQLite.
///
/// It is only a cache: it names the database's `commit_counter` it reflects, and any later commit (by
/// this process after a crash, or by another one) makes it stale, so the open falls back to SQLite. A
/// damaged file fails its checksum and is ignored the same way.
enum SlotCache {
    static let fileName = "slots.cache"
    private static let magic = Array("ENGRAMSC".utf8)
    private static let version: UInt32 = 1

    /// Writes the cache atomically (temporary file, then rename). Failures are ignored: it is a cache.
    static func write(directory: URL, counter: String, slots: SlotTable, names: NameTables) {
        var out = Writer()
        out.bytes(magic)
        out.u32(version)
        out.string(counter)
        for table in [names.namespaces, names.agents, names.kinds, names.tags] {
            out.u32(UInt32(table.names.count))
            for name in table.names { out.string(name) }
        }
        out.u32(UInt32(slots.count))
        var live = 0
        slots.forEachLive { _, _ in live += 1 }
        out.u32(UInt32(live))
        slots.forEachLive { slot, info in
            out.u32(UInt32(slot))
            out.u64(UInt64(bitPattern: info.rowID))
            out.u64(info.id.high)
            out.u64(info.id.low)
            out.u32(UInt32(bitPattern: info.namespace))
            out.u32(UInt32(bitPattern: info.agent))
            out.u32(UInt32(bitPattern: info.kind))
            out.u32(UInt32(bitPattern: Int32(info.succeeded)))
            out.u64(info.createdAt.bitPattern)
            out.u64(info.expiresAt.bitPattern)
            out.u32(UInt32(info.tags.count))
            for tag in info.tags { out.u32(UInt32(bitPattern: tag)) }
        }
        out.u64(fnv1a(out.data))
        let path = directory.appendingPathComponent(fileName)
        let temporary = directory.appendingPathComponent(fileName + ".tmp")
        do {
            try Data(out.data).write(to: temporary)
            _ = rename(temporary.path, path.path)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    /// The cached table, or nil when missing, stale, damaged or inconsistent.
    static func read(directory: URL, counter: String) -> (slots: SlotTable, names: NameTables, maxSlot: Int)? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(fileName).path),
            data.count > 16
        else { return nil }
        return data.withUnsafeBytes { raw -> (SlotTable, NameTables, Int)? in
            var stored: UInt64 = 0
            for i in 0..<8 { stored |= UInt64(raw[raw.count - 8 + i]) << (8 * UInt64(i)) }
            guard stored == fnv1a(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 8)])) else { return nil }
            var r = Reader(raw: raw, end: raw.count - 8)
            guard r.bytes(8) == magic, r.u32() == version, r.string() == counter else { return nil }
            var tables: [NameTable] = []
            for _ in 0..<4 {
                guard let n = r.u32() else { return nil }
                var names: [String] = []
                for _ in 0..<n {
                    guard let name = r.string() else { return nil }
                    names.append(name)
                }
                tables.append(NameTable(names: names))
            }
            guard let count = r.u32(), let live = r.u32() else { return nil }
            var slots = SlotTable()
            var maxSlot = -1
            for _ in 0..<live {
                guard let slot = r.u32(), let rowID = r.u64(), let high = r.u64(), let low = r.u64(),
                    let ns = r.u32(), let agent = r.u32(), let kind = r.u32(), let succeeded = r.u32(),
                    let created = r.u64(), let expires = r.u64(), let tagCount = r.u32(), Int(slot) < Int(count)
                else { return nil }
                var tags: [Int32] = []
                tags.reserveCapacity(Int(tagCount))
                for _ in 0..<tagCount {
                    guard let tag = r.u32() else { return nil }
                    tags.append(Int32(bitPattern: tag))
                }
                let info = SlotInfo(
                    rowID: Int64(bitPattern: rowID), id: MemoryID(high: high, low: low),
                    namespace: Int32(bitPattern: ns), agent: Int32(bitPattern: agent), kind: Int32(bitPattern: kind),
                    succeeded: Int8(truncatingIfNeeded: Int32(bitPattern: succeeded)),
                    createdAt: Double(bitPattern: created), expiresAt: Double(bitPattern: expires), tags: tags)
                guard info.isLive, Int(info.namespace) < tables[0].names.count, info.namespace >= 0 else { return nil }
                slots[Int(slot)] = info
                maxSlot = max(maxSlot, Int(slot))
            }
            guard r.atEnd else { return nil }
            return (slots, NameTables(namespaces: tables[0], agents: tables[1], kinds: tables[2], tags: tables[3]), maxSlot)
        }
    }

    private struct Writer {
        var data: [UInt8] = []
        mutating func bytes(_ b: [UInt8]) { data += b }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
        mutating func string(_ s: String) {
            let utf8 = Array(s.utf8)
            u32(UInt32(utf8.count))
            data += utf8
        }
    }

    private struct Reader {
        let raw: UnsafeRawBufferPointer
        let end: Int
        var offset = 0
        var atEnd: Bool { offset == end }

        init(raw: UnsafeRawBufferPointer, end: Int) {
            self.raw = raw
            self.end = end
        }

        mutating func bytes(_ n: Int) -> [UInt8]? {
            guard offset + n <= end else { return nil }
            defer { offset += n }
            return Array(raw[offset..<(offset + n)])
        }

        mutating func u32() -> UInt32? {
            guard offset + 4 <= end else { return nil }
            defer { offset += 4 }
            return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        mutating func u64() -> UInt64? {
            guard offset + 8 <= end else { return nil }
            defer { offset += 8 }
            return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        mutating func string() -> String? {
            guard let n = u32(), offset + Int(n) <= end else { return nil }
            defer { offset += Int(n) }
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(n))]), as: UTF8.self)
        }
    }
}
