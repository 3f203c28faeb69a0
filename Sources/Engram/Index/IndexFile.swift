import Foundation

/// `vectors.index`: a store's ``VectorIndex`` on disk, beside the vector file.
///
/// Like `slots.cache`, it names the database's `commit_counter` it reflects. An index of another counter
/// is still used: the open checks each entry against the slot table (``VectorIndex/renumbered(_:holding:)``
/// with the identity map) and adds the memories it lacks, so a crash costs time, never a missed memory.
/// A damaged file (checksum, sizes) is ignored, as if there were none.
///
/// Layout (little-endian): magic `ENGRAMIX`, version, the counter (length + UTF-8), dimension, lists,
/// bits per code dimension, tuned probes; centroids, ranges and steps (float32); each list's entry count; then per
/// list its slots (int32), tags (uint32) and codes; a checksum of each part, folded, last.
enum IndexFile {
    static let fileName = "vectors.index"
    private static let magic = Array("ENGRAMIX".utf8)
    static let version: UInt32 = 1

    /// Writes the index durably (temporary file, sync, rename, directory sync).
    static func write(_ index: VectorIndex, counter: String, directory: URL) throws {
        let path = directory.appendingPathComponent(fileName).path
        let temporary = path + ".tmp"
        _ = FileIO.unlink(temporary)
        let fd = FileIO.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw VectorFile.ioError("create", temporary) }
        var offset = 0
        var folded: UInt64 = 0
        var ok = true
        func put(_ bytes: UnsafeRawBufferPointer) {
            guard ok, bytes.count > 0 else { return }
            folded = (folded ^ SlotCache.checksum(bytes)) &* 0x100_0000_01b3
            ok = FileIO.writeFully(fd, bytes, at: offset)
            offset += bytes.count
        }
        func put<T>(_ values: [T]) { values.withUnsafeBytes { put($0) } }
        var header = magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        u32(version)
        u32(UInt32(counter.utf8.count))
        header += Array(counter.utf8)
        u32(UInt32(index.dimension))
        u32(UInt32(index.listCount))
        u32(UInt32(index.bits))
        u32(UInt32(index.probes))
        put(header)
        put(index.centroids)
        put(index.lower)
        put(index.step)
        put(index.lists.map { UInt32($0.count).littleEndian })
        // Each list's slots, tags and codes as one part each, however many chunks hold them.
        for list in index.lists {
            var slots: [Int32] = []
            var tags: [UInt32] = []
            var codes: [UInt8] = []
            list.forEachRun { chunk, used in
                slots += UnsafeBufferPointer(start: chunk.slots, count: used)
                tags += UnsafeBufferPointer(start: chunk.tags, count: used)
                codes += UnsafeBufferPointer(start: chunk.codes, count: used * index.codeBytes)
            }
            put(slots.map(\.littleEndian))
            put(tags.map(\.littleEndian))
            put(codes)
        }
        put([folded.littleEndian])
        ok = ok && FileIO.sync(fd)
        FileIO.close(fd)
        guard ok, FileIO.rename(temporary, path) else {
            _ = FileIO.unlink(temporary)
            throw VectorFile.ioError("write", temporary)
        }
        try VectorFile.syncDirectory(directory.path)
    }

    /// Whether the store in `directory` has an index file.
    static func exists(in directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(fileName).path)
    }

    /// Removes the index file (and a temporary one left by a crash).
    static func remove(from directory: URL) throws {
        let path = directory.appendingPathComponent(fileName).path
        _ = FileIO.unlink(path + ".tmp")
        if FileManager.default.fileExists(atPath: path) {
            guard FileIO.unlink(path) else { throw VectorFile.ioError("unlink", path) }
            try VectorFile.syncDirectory(directory.path)
        }
    }

    /// The index in `directory` and the counter it reflects; nil when there is none, or it is damaged or
    /// of another dimension.
    static func read(from directory: URL, dimension: Int) -> (index: VectorIndex, counter: String)? {
        guard let file = MappedFile(path: directory.appendingPathComponent(fileName).path) else { return nil }
        return parse(file.bytes, dimension: dimension)
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, dimension: Int) -> (VectorIndex, String)? {
        var offset = 0
        var folded: UInt64 = 0
        func take(_ n: Int) -> UnsafeRawBufferPointer? {
            guard n >= 0, offset + n <= raw.count else { return nil }
            defer { offset += n }
            let part = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)])
            if n > 0 { folded = (folded ^ SlotCache.checksum(part)) &* 0x100_0000_01b3 }
            return part
        }
        func u32(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        func floats(_ count: Int) -> [Float]? {
            guard let part = take(count * 4) else { return nil }
            return (0..<count).map { Float(bitPattern: u32(part, 4 * $0)) }
        }
        // The header is checksummed as one part, as written: read its fixed fields first.
        guard raw.count >= magic.count + 8, Array(raw[0..<magic.count]) == magic,
            u32(raw, magic.count) == version
        else { return nil }
        let counterLength = Int(u32(raw, magic.count + 4))
        guard let header = take(magic.count + 8 + counterLength + 16) else { return nil }
        let counter = String(
            decoding: header[(magic.count + 8)..<(magic.count + 8 + counterLength)], as: UTF8.self)
        let d = Int(u32(header, magic.count + 8 + counterLength))
        let listCount = Int(u32(header, magic.count + 12 + counterLength))
        let bits = Int(u32(header, magic.count + 16 + counterLength))
        let probes = Int(u32(header, magic.count + 20 + counterLength))
        let codeBytes = VectorIndex.codeBytes(dimension: d, bits: bits)
        guard d == dimension, bits == 8 || bits == 4, listCount > 0, listCount <= 1 << 20,
            let centroids = floats(listCount * d), let lower = floats(d), let step = floats(d),
            let countsPart = take(listCount * 4)
        else { return nil }
        var lists: [EntryList] = []
        lists.reserveCapacity(listCount)
        for l in 0..<listCount {
            let count = Int(u32(countsPart, 4 * l))
            guard let slots = take(count * 4), let tags = take(count * 4), let codes = take(count * codeBytes)
            else {
                return nil
            }
            let chunk = EntryChunk(capacity: count, codeBytes: codeBytes)
            for i in 0..<count {
                chunk.slots[i] = Int32(bitPattern: u32(slots, 4 * i))
                chunk.tags[i] = u32(tags, 4 * i)
            }
            if count > 0 {
                UnsafeMutableRawPointer(chunk.codes).copyMemory(
                    from: codes.baseAddress!, byteCount: count * codeBytes)
            }
            lists.append(EntryList(filled: chunk))
        }
        let expected = folded
        guard let sum = take(8), UInt64(littleEndian: sum.loadUnaligned(as: UInt64.self)) == expected,
            offset == raw.count
        else { return nil }
        var index = VectorIndex(
            dimension: d, bits: bits, centroids: centroids, lower: lower, step: step, lists: lists)
        index.probes = min(probes, listCount)
        return (index, counter)
    }
}
