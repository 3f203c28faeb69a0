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
    /// 4: as 3, with trust, quarantine and validity in each record.
    /// 3 (still read): fixed-width slot records read in place (``MappedSlots``), so an open decodes none.
    /// 2 (still read): variable-length records decoded at open, checksummed with ``checksum(_:)``.
    /// 1 (still read): as 2, with byte-wise FNV-1a, which took a seventh of a 1M-memory open on its own.
    static let version: UInt32 = 4

    /// Writes the cache atomically (temporary file, then rename). Failures are ignored: it is a cache.
    /// `version` is for tests of older files.
    static func write(
        directory: URL, counter: String, slots: SlotTable, names: NameTables, version: UInt32 = version
    ) {
        var out = Writer()
        out.bytes(magic)
        out.u32(version)
        out.string(counter)
        for table in [names.namespaces, names.agents, names.kinds, names.tags] {
            out.u32(UInt32(table.names.count))
            for name in table.names { out.string(name) }
        }
        if version >= 3 { writeRecords(slots, version: version, &out) } else { writeListed(slots, &out) }
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

    /// Format 3's body: the slot count, the tag count, padding to 8 bytes, one ``MappedSlots`` record per
    /// slot, then the tag ids. Each live slot's namespace position is its rank among its namespace's
    /// live slots in slot order, so the reader rebuilds the namespace lists in one pass and checks them.
    private static func writeRecords(_ slots: SlotTable, version: UInt32, _ out: inout Writer) {
        let size = MappedSlots.recordSize(version: version)
        var records: [UInt8] = []
        records.reserveCapacity(slots.count * size)
        var tags: [Int32] = []
        var ranks: [Int32] = []
        for slot in 0..<slots.count {
            let info = slots[slot]
            guard info.isLive else {
                records += repeatElement(0, count: size)
                continue
            }
            let ns = Int(info.namespace)
            if ranks.count <= ns { ranks += repeatElement(0, count: ns + 1 - ranks.count) }
            MappedSlots.appendRecord(info, position: ranks[ns], tagStart: tags.count, to: &records)
            if size < MappedSlots.recordSize {  // an older format, for tests: no trust byte, no validity
                records.removeLast(MappedSlots.recordSize - size + 1)
                records.append(0)
            }
            ranks[ns] += 1
            tags += info.tags
        }
        out.u32(UInt32(slots.count))
        out.u32(UInt32(tags.count))
        while out.data.count % 8 != 0 { out.data.append(0) }
        out.bytes(records)
        for tag in tags { out.u32(UInt32(bitPattern: tag)) }
    }

    /// Formats 1 and 2's body: the slot count, the live count, then each live slot with its tags.
    private static func writeListed(_ slots: SlotTable, _ out: inout Writer) {
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
    }

    /// The cached table and its free slots (highest first), or nil when missing, stale, damaged or
    /// inconsistent. `maxSlots` bounds the slot numbers (the vector file's rows): a slot past it is damage,
    /// and would otherwise make the table allocate up to it.
    static func read(directory: URL, counter: String, maxSlots: Int) -> (
        slots: SlotTable, free: [Int32], names: NameTables
    )? {
        // Mapped, not read: format 3 is used in place, and the others are read once, front to back.
        guard let file = MappedFile(path: directory.appendingPathComponent(fileName).path),
            file.bytes.count > 16
        else { return nil }
        let raw = file.bytes
        var stored: UInt64 = 0
        for i in 0..<8 { stored |= UInt64(raw[raw.count - 8 + i]) << (8 * UInt64(i)) }
        var r = Reader(raw: raw, end: raw.count - 8)
        guard r.bytes(8) == magic, let version = r.u32(), (1...Self.version).contains(version) else {
            return nil
        }
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
        let names = NameTables(namespaces: tables[0], agents: tables[1], kinds: tables[2], tags: tables[3])
        let nameCounts = tables.map { Int32($0.names.count) }
        let read =
            version >= 3
            ? readRecords(file, &r, version: version, nameCounts: nameCounts, maxSlots: maxSlots)
            : readListed(&r, nameCounts: nameCounts, maxSlots: maxSlots)
        return read.map { ($0.slots, $0.free, names) }
    }

    /// Every name id must resolve (-1: no agent or kind).
    private static func resolves(_ id: Int32, count: Int32, optional: Bool) -> Bool {
        (optional && id == -1) || (id >= 0 && id < count)
    }

    /// Formats 3 and 4: checks every record in one pass (names resolve, tags lie in the tag section, namespace
    /// positions are ranks) while listing each namespace's slots and the free ones; decodes none.
    private static func readRecords(
        _ file: MappedFile, _ r: inout Reader, version: UInt32, nameCounts: [Int32], maxSlots: Int
    ) -> (slots: SlotTable, free: [Int32])? {
        guard let count = r.u32().map(Int.init), let tagCount = r.u32().map(Int.init), count <= maxSlots
        else { return nil }
        let recordsAt = (r.offset + 7) & ~7
        let tagsAt = recordsAt + count * MappedSlots.recordSize(version: version)
        guard tagsAt + tagCount * 4 == r.end else { return nil }
        let records = MappedSlots(
            file: file, records: recordsAt, count: count, tags: tagsAt, version: version)
        for i in 0..<tagCount where !resolves(records.tag(i), count: nameCounts[3], optional: false) {
            return nil
        }
        var lists = [[Int32]](repeating: [], count: Int(nameCounts[0]))
        var free: [Int32] = []
        for slot in 0..<count {
            guard records.rowID(slot) != 0 else {
                free.append(Int32(slot))
                continue
            }
            let ns = records.namespace(slot)
            guard resolves(ns, count: nameCounts[0], optional: false),
                resolves(records.agent(slot), count: nameCounts[1], optional: true),
                resolves(records.kind(slot), count: nameCounts[2], optional: true),
                records.namespacePosition(slot) == Int32(lists[Int(ns)].count), records.hasValidTrust(slot),
                records.tagRange(slot).upperBound <= tagCount
            else { return nil }
            lists[Int(ns)].append(Int32(slot))
        }
        return (SlotTable(mapped: records, namespaceSlots: lists), free.reversed())
    }

    /// Formats 1 and 2: decodes every live slot into a table of its own.
    private static func readListed(_ r: inout Reader, nameCounts: [Int32], maxSlots: Int) -> (
        slots: SlotTable, free: [Int32]
    )? {
        guard let count = r.u32(), let live = r.u32(), Int(count) <= maxSlots else { return nil }
        var slots = SlotTable.Loader()
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
                namespace: Int32(bitPattern: ns), agent: Int32(bitPattern: agent),
                kind: Int32(bitPattern: kind),
                succeeded: Int8(truncatingIfNeeded: Int32(bitPattern: succeeded)),
                createdAt: Double(bitPattern: created), expiresAt: Double(bitPattern: expires), tags: tags)
            guard info.isLive, resolves(info.namespace, count: nameCounts[0], optional: false),
                resolves(info.agent, count: nameCounts[1], optional: true),
                resolves(info.kind, count: nameCounts[2], optional: true),
                info.tags.allSatisfy({ resolves($0, count: nameCounts[3], optional: false) }),
                // Written in slot order: a slot out of order is damage.
                slots.add(info, at: Int(slot))
            else { return nil }
        }
        guard r.atEnd else { return nil }
        let (table, free) = slots.finish()
        return (table, free)
    }

    /// `bytes` with its last eight replaced by the checksum its header's version calls for: a file
    /// changed on purpose (by the fuzzer, by tests of inconsistent records) that still passes the check.
    package static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count > 16 else { return bytes }
        var bytes = bytes
        let body = bytes.count - 8
        let version =
            UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24
        let sum = bytes.withUnsafeBytes {
            checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body]), version: version)
        }
        for i in 0..<8 { bytes[body + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
        return bytes
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
            return String(
                decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(n))]), as: UTF8.self)
        }
    }
}
