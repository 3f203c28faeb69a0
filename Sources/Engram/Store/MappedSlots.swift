import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A whole file mapped read-only, unmapped when the last user lets go.
final class MappedFile: @unchecked Sendable {
    /// The file's bytes. Immutable: the mapping is never written, and a cache is replaced by renaming a
    /// new file over it, never rewritten in place.
    let bytes: UnsafeRawBufferPointer

    /// Nil when the file is missing, empty or cannot be mapped.
    init?(path: String) {
        let fd = FileIO.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { FileIO.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0,
            let address = FileIO.mapShared(fd, length: Int(status.st_size))
        else { return nil }
        bytes = UnsafeRawBufferPointer(start: address, count: Int(status.st_size))
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}

/// The slot records of a `slots.cache` of format 3 or 4, read in place: ``SlotTable`` reads a slot from
/// here until it changes one in its chunk. Opening decodes no record.
///
/// One record per slot, little-endian: rowid (i64, 0 for a free slot), id high and low (u64), created
/// and expires (f64), namespace, agent and kind ids (i32, -1 for none), the slot's position in its
/// namespace's list (i32), its tags as a start index into the tag section (u32) and a count (u16),
/// succeeded (i8: -1, 0, 1), then a byte holding the trust level (bits 0-2) and quarantine (bit 3), zero
/// in format 3. Format 4 adds valid-from and valid-until (f64): 80 bytes a record; format 3's are 64.
final class MappedSlots: Sendable {
    static let recordSize = 80
    static func recordSize(version: UInt32) -> Int { version >= 4 ? 80 : 64 }
    private let recordSize: Int
    private let hasTrust: Bool
    private let file: MappedFile
    private let records: Int
    private let tags: Int
    /// Slots the file holds records for.
    let count: Int

    /// Records of `count` slots at byte `records` of `file`, tag ids at byte `tags`; the caller has
    /// checked that they lie inside the file.
    init(file: MappedFile, records: Int, count: Int, tags: Int, version: UInt32) {
        recordSize = Self.recordSize(version: version)
        hasTrust = version >= 4
        self.file = file
        self.records = records
        self.count = count
        self.tags = tags
    }

    private func field<T: FixedWidthInteger>(_ slot: Int, _ offset: Int, _: T.Type) -> T {
        T(
            littleEndian: file.bytes.loadUnaligned(
                fromByteOffset: records + slot * recordSize + offset, as: T.self))
    }

    func rowID(_ slot: Int) -> Int64 { field(slot, 0, Int64.self) }
    func namespace(_ slot: Int) -> Int32 { field(slot, 40, Int32.self) }
    func agent(_ slot: Int) -> Int32 { field(slot, 44, Int32.self) }
    func kind(_ slot: Int) -> Int32 { field(slot, 48, Int32.self) }
    func namespacePosition(_ slot: Int) -> Int32 { field(slot, 52, Int32.self) }
    func tagRange(_ slot: Int) -> Range<Int> {
        let start = Int(field(slot, 56, UInt32.self))
        return start..<(start + Int(field(slot, 60, UInt16.self)))
    }
    /// Whether the slot's trust byte names a level (format 3 has none to check).
    func hasValidTrust(_ slot: Int) -> Bool {
        !hasTrust || Int(field(slot, 63, UInt8.self) & 7) < TrustLevel.allCases.count
    }
    func tag(_ index: Int) -> Int32 {
        Int32(littleEndian: file.bytes.loadUnaligned(fromByteOffset: tags + index * 4, as: Int32.self))
    }

    /// The info of a slot; a free slot's, past `count` too, is `SlotInfo()`.
    func info(_ slot: Int) -> SlotInfo {
        guard slot < count, rowID(slot) != 0 else { return SlotInfo() }
        let createdAt = Double(bitPattern: field(slot, 24, UInt64.self))
        let trust = field(slot, 63, UInt8.self)
        return SlotInfo(
            rowID: rowID(slot),
            id: MemoryID(high: field(slot, 8, UInt64.self), low: field(slot, 16, UInt64.self)),
            namespace: namespace(slot), agent: agent(slot), kind: kind(slot),
            succeeded: field(slot, 62, Int8.self),
            createdAt: Double(bitPattern: field(slot, 24, UInt64.self)),
            expiresAt: Double(bitPattern: field(slot, 32, UInt64.self)), tags: tagRange(slot).map(tag),
            namespacePosition: namespacePosition(slot),
            trust: hasTrust ? Int8(trust & 7) : Int8(TrustLevel.agent.rawValue), quarantined: trust & 8 != 0,
            validFrom: hasTrust ? Double(bitPattern: field(slot, 64, UInt64.self)) : createdAt,
            validUntil: hasTrust ? Double(bitPattern: field(slot, 72, UInt64.self)) : .infinity)
    }

    /// The infos of `count` slots from `first`.
    func infos(from first: Int, count: Int) -> [SlotInfo] {
        (first..<(first + count)).map(info)
    }

    /// Appends a slot's record to `out` (the writer's side of the layout above).
    static func appendRecord(_ info: SlotInfo, position: Int32, tagStart: Int, to out: inout [UInt8]) {
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        put(info.rowID)
        put(info.id.high)
        put(info.id.low)
        put(info.createdAt.bitPattern)
        put(info.expiresAt.bitPattern)
        put(info.namespace)
        put(info.agent)
        put(info.kind)
        put(position)
        put(UInt32(tagStart))
        put(UInt16(info.tags.count))
        put(info.succeeded)
        put(UInt8(info.trust & 7) | (info.quarantined ? 8 : 0))
        put(info.validFrom.bitPattern)
        put(info.validUntil.bitPattern)
    }
}
