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
    /// 2: checksummed with ``checksum(_:)``. 1 (still read): with byte-wise FNV-1a, which took a
    /// seventh of a 1M-memory open on its own.
    static let version: UInt32 = 2

    /// Writes the cache atomically (temporary file, then rename). Failures are ignored: it is a cache.
    /// `version` is for tests of older files.
    static func write(directory: URL, counter: String, slots: SlotTable, names: NameTables, version: UInt32 = version) {
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
        out.u64(out.data.withUnsafeBytes { checksum($0, version: version) })
        let path = directory.appendingPathComponent(fileName).path
        let temporary = directory.appendingPathComponent(fileName + ".tmp").path
        _ = FileIO.unlink(temporary)
        let fd = FileIO.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let written = out.data.withUnsafeBytes { FileIO.writeFully(fd, $0, at: 0) }
        FileIO.close(fd)
        if !written || !FileIO.rename(temporary, path) { _ = FileIO.unlink(temporary) }
    }

    /// The cached table, or nil when missing, stale, damaged or inconsistent.
    /// `maxSlots` bounds the slot numbers (the vector file's rows): a slot past it is damage, and would
    /// otherwise make the table allocate up to it.
    static func read(directory: URL, counter: String, maxSlots: Int) -> (slots: SlotTable, free: [Int32], names: NameTables)? {
        // Mapped, not read: the file is read once, front to back, and copying it cost as much again.
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(fileName), options: .alwaysMapped),
            data.count > 16
        else { return nil }
        return data.withUnsafeBytes { raw -> (SlotTable, [Int32], NameTables)? in
            var stored: UInt64 = 0
            for i in 0..<8 { stored |= UInt64(raw[raw.count - 8 + i]) << (8 * UInt64(i)) }
            var r = Reader(raw: raw, end: raw.count - 8)
            guard r.bytes(8) == magic, let version = r.u32(), version == 1 || version == Self.version else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 8)])
            guard stored == checksum(body, version: version), r.string() == counter else { return nil }
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
            guard let count = r.u32(), let live = r.u32(), Int(count) <= maxSlots else { return nil }
            var slots = SlotTable.Loader()
            let nameCounts = tables.map { Int32($0.names.count) }
            // Every name id must resolve (-1: no agent or kind).
            func resolves(_ id: Int32, in table: Int, optional: Bool) -> Bool {
                (optional && id == -1) || (id >= 0 && id < nameCounts[table])
            }
            for _ in 0..<live {
                guard let slot = r.u32(), let rowID = r.u64(), let high = r.u64(), let low = r.u64(),
                    let ns = r.u32(), let agent = r.u32(), let kind = r.u32(), let succeeded = r.u32(),
                    let created = r.u64(), let expires = r.u64(), let tagCount = r.u32(), Int(slot) < Int(count)
                else { return nil }
                guard Int(tagCount) <= r.remaining / 4 else { return nil }  // not a count to allocate for
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
                guard info.isLive, resolves(info.namespace, in: 0, optional: false),
                    resolves(info.agent, in: 1, optional: true), resolves(info.kind, in: 2, optional: true),
                    info.tags.allSatisfy({ resolves($0, in: 3, optional: false) })
                else { return nil }
                // Written in slot order: a slot out of order is damage.
                guard slots.add(info, at: Int(slot)) else { return nil }
            }
            guard r.atEnd else { return nil }
            let (table, free) = slots.finish()
            return (table, free, NameTables(namespaces: tables[0], agents: tables[1], kinds: tables[2], tags: tables[3]))
        }
    }

    /// The checksum a file of `version` carries over `body`.
    static func checksum(_ body: UnsafeRawBufferPointer, version: UInt32) -> UInt64 {
        version == 1 ? fnv1a(body) : checksum(body)
    }

    /// A 64-bit checksum that reads eight bytes per step in four independent lanes (FNV-1a's multiply
    /// per word, then a final mix), so a 64 MB cache is checked at memory speed instead of one
    /// dependent multiply per byte. It guards against damage and truncation, not against forgery.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let prime: UInt64 = 0x100_0000_01b3
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (
            0xcbf2_9ce4_8422_2325, 0x8422_2325_cbf2_9ce4, 0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9
        )
        let words = bytes.count / 8
        var i = 0
        while i + 4 <= words {
            lanes.0 = (lanes.0 ^ bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* prime
            lanes.1 = (lanes.1 ^ bytes.loadUnaligned(fromByteOffset: 8 * i + 8, as: UInt64.self)) &* prime
            lanes.2 = (lanes.2 ^ bytes.loadUnaligned(fromByteOffset: 8 * i + 16, as: UInt64.self)) &* prime
            lanes.3 = (lanes.3 ^ bytes.loadUnaligned(fromByteOffset: 8 * i + 24, as: UInt64.self)) &* prime
            i += 4
        }
        var hash = UInt64(bytes.count)
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3] {
            hash = (hash ^ lane ^ (lane >> 29)) &* 0xbf58_476d_1ce4_e5b9
        }
        // The bytes past the last whole group of four words, one at a time.
        for offset in (8 * i)..<bytes.count { hash = (hash ^ UInt64(bytes[offset])) &* prime }
        return hash ^ (hash >> 31)
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
        var remaining: Int { end - offset }

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
