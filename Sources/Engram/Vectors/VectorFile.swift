import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fixed facts recorded in a vector file's 4 KiB header.
struct VectorFileHeader: Equatable {
    static let size = 4096
    static let magic: [UInt8] = Array("ENGRAMVF".utf8)
    static let currentFormatVersion: UInt32 = 1
    static let maxEmbedderBytes = 120

    var formatVersion: UInt32 = currentFormatVersion
    var dimension: Int
    var embedder: String
    var element: VectorElement = .float32

    /// Rows are padded to 64 bytes so every row starts on a cache line.
    var strideBytes: Int { (dimension * element.size + 63) / 64 * 64 }
    /// The row stride in elements (floats or halves).
    var strideElements: Int { strideBytes / element.size }

    // Layout: magic[8] | version u32 | element u32 | dimension u32 | stride u32 | embedder length u16 |
    // embedder bytes[120] | zeros | FNV-1a 64 checksum of bytes 0..<4088 at 4088. Little-endian.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        Self.put(formatVersion, into: &bytes, at: 8)
        Self.put(element.headerCode, into: &bytes, at: 12)
        Self.put(UInt32(dimension), into: &bytes, at: 16)
        Self.put(UInt32(strideBytes), into: &bytes, at: 20)
        let name = Array(embedder.utf8.prefix(Self.maxEmbedderBytes))
        bytes[24] = UInt8(name.count & 0xFF)
        bytes[25] = UInt8(name.count >> 8)
        bytes.replaceSubrange(26..<(26 + name.count), with: name)
        Self.seal(&bytes)
        return bytes
    }

    /// Writes the checksum of a header's first 4088 bytes into its last eight.
    static func seal(_ bytes: inout [UInt8]) {
        let sum = fnv1a(bytes[0..<(size - 8)])
        for i in 0..<8 { bytes[size - 8 + i] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(i))) }
    }

    /// Parses and checks a header. Format problems are corruption; a newer version is `schemaTooNew`.
    static func decode(_ bytes: [UInt8], path: String) throws -> VectorFileHeader {
        guard bytes.count == size else {
            throw EngramError(.storageCorrupted, "vector file \(path) is shorter than its 4 KiB header")
        }
        guard Array(bytes[0..<8]) == magic else {
            throw EngramError(
                .storageCorrupted, "vector file \(path) has a bad magic number (not an Engram vector file)")
        }
        var stored: UInt64 = 0
        for i in 0..<8 { stored |= UInt64(bytes[size - 8 + i]) << (8 * UInt64(i)) }
        guard stored == fnv1a(bytes[0..<(size - 8)]) else {
            throw EngramError(
                .storageCorrupted, "vector file \(path) has a damaged header (checksum mismatch)")
        }
        let version = get(bytes, 8)
        guard version <= currentFormatVersion else {
            throw EngramError(
                .schemaTooNew,
                "vector file \(path) has format version \(version); this Engram reads up to \(currentFormatVersion)"
            )
        }
        let code = get(bytes, 12)
        guard let element = VectorElement(headerCode: code) else {
            throw EngramError(.storageCorrupted, "vector file \(path) has unknown element type \(code)")
        }
        let nameLength = Int(bytes[24]) | Int(bytes[25]) << 8
        guard nameLength <= maxEmbedderBytes else {
            throw EngramError(.storageCorrupted, "vector file \(path) has a bad embedder name length")
        }
        // The name must be UTF-8 as written: a repaired one would be written back differently by
        // compaction and no longer match the database's (found by fuzzing).
        guard let embedder = String(validating: bytes[26..<(26 + nameLength)], as: UTF8.self) else {
            throw EngramError(.storageCorrupted, "vector file \(path) has an embedder name that is not UTF-8")
        }
        let header = VectorFileHeader(
            formatVersion: version, dimension: Int(get(bytes, 16)), embedder: embedder, element: element)
        guard header.dimension > 0, header.dimension <= Limits.maxDimension,
            Int(get(bytes, 20)) == header.strideBytes
        else {
            throw EngramError(
                .storageCorrupted, "vector file \(path) has an impossible dimension or row stride")
        }
        return header
    }

    private static func put(_ v: UInt32, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    private static func get(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
}

func fnv1a<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
    return hash
}

/// A read-only `MAP_SHARED` mapping of a vector file's rows.
///
/// Immutable after creation; the mapping lives until the last snapshot holding it is released, so a
/// reader never sees its rows unmapped when the writer grows or replaces the file.
final class VectorMapping: @unchecked Sendable {  // Sendable: immutable pointer to read-only shared memory.
    private let base: UnsafeMutableRawPointer?
    private let length: Int
    /// Rows that fit in the mapping.
    let capacity: Int
    /// Row stride in elements.
    let strideElements: Int
    let dimension: Int
    let element: VectorElement

    /// Maps `rows` rows of the open file `fd`.
    init(fd: Int32, header: VectorFileHeader, rows: Int, path: String) throws {
        strideElements = header.strideElements
        dimension = header.dimension
        element = header.element
        capacity = rows
        length = VectorFileHeader.size + rows * header.strideBytes
        if rows == 0 {
            base = nil
            return
        }
        guard let p = FileIO.mapShared(fd, length: length) else {
            throw EngramError(.io, "cannot map vector file \(path): \(String(cString: strerror(errno)))")
        }
        base = p
    }

    /// A mapping of no rows with `other`'s layout: what a closed store's snapshot holds, so that closing
    /// unmaps the file once no recall in flight still reads it.
    init(noRowsLike other: VectorMapping) {
        (strideElements, dimension, element) = (other.strideElements, other.dimension, other.element)
        capacity = 0
        length = 0
        base = nil
    }

    deinit {
        if let base { munmap(base, length) }
    }

    /// The first row; rows follow every `strideElements` elements. Nil when the file has no rows.
    var rows: UnsafeRawPointer? {
        guard let base else { return nil }
        return UnsafeRawPointer(base + VectorFileHeader.size)
    }

    /// One row as floats (`dimension` of them), converted from half precision when stored so.
    func vector(_ slot: Int) -> [Float] {
        guard rows != nil else { return [] }
        return [Float](unsafeUninitializedCapacity: dimension) { buffer, count in
            read(slot, into: buffer.baseAddress!)
            count = dimension
        }
    }

    /// Copies one row as floats (`dimension` of them) into `out`, converted from half precision when
    /// stored so.
    func read(_ slot: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(slot >= 0 && slot < capacity, "slot outside the mapping")  // invariant
        guard let rows else { return }
        let start = rows + slot * strideElements * element.size
        switch element {
        case .float32: out.update(from: start.assumingMemoryBound(to: Float.self), count: dimension)
        case .float16: BLAS.widen(start.assumingMemoryBound(to: UInt16.self), into: out, count: dimension)
        }
    }
}

/// The writer's handle on `vectors.f32`: header, growth and `pwrite`s. Rows are never written through
/// the mapping; readers see them through the page cache once `pwrite` returns.
// Sendable: used only under MemoryStore.writer (or before publication).
final class VectorFile: @unchecked Sendable {
    let path: String
    let header: VectorFileHeader
    private let fd: Int32
    /// Rows the file currently has room for (derived from its length).
    private(set) var capacity: Int

    private init(path: String, fd: Int32, header: VectorFileHeader, capacity: Int) {
        self.path = path
        self.fd = fd
        self.header = header
        self.capacity = capacity
    }

    deinit { FileIO.close(fd) }

    /// Creates a new, empty vector file (header only) and makes it durable.
    static func create(path: String, header: VectorFileHeader) throws -> VectorFile {
        let fd = FileIO.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("create", path) }
        let file = VectorFile(path: path, fd: fd, header: header, capacity: 0)
        let bytes = header.encoded()
        try bytes.withUnsafeBytes { try file.writeFully($0, at: 0) }
        try file.sync()
        // The name too: compaction and reembed commit a transaction that points at this file once its
        // rows are synced, and a power cut must not then find the file gone (found by the power-cut test).
        try syncDirectory((path as NSString).deletingLastPathComponent)
        return file
    }

    /// Opens and validates an existing vector file.
    static func open(path: String, writable: Bool) throws -> VectorFile {
        let fd = FileIO.open(path, writable ? O_RDWR | O_CLOEXEC : O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw EngramError(.storageCorrupted, "vector file \(path) is missing") }
            throw ioError("open", path)
        }
        var bytes = [UInt8](repeating: 0, count: VectorFileHeader.size)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, VectorFileHeader.size, 0) }
        guard got >= 0 else {
            FileIO.close(fd)
            throw ioError("read", path)
        }
        let header: VectorFileHeader
        do {
            header = try VectorFileHeader.decode(Array(bytes.prefix(got)), path: path)
        } catch {
            FileIO.close(fd)
            throw error
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            FileIO.close(fd)
            throw ioError("stat", path)
        }
        let rows = (Int(st.st_size) - VectorFileHeader.size) / header.strideBytes
        return VectorFile(path: path, fd: fd, header: header, capacity: max(0, rows))
    }

    /// A read-only mapping of every row the file has room for.
    func map() throws -> VectorMapping {
        try VectorMapping(fd: fd, header: header, rows: capacity, path: path)
    }

    /// Grows the file so that `rows` rows fit, doubling to keep re-maps rare. Returns true if it grew.
    @discardableResult
    func reserve(rows: Int) throws -> Bool {
        guard rows > capacity else { return false }
        let target = max(rows, capacity * 2, 1024)
        let length = VectorFileHeader.size + target * header.strideBytes
        guard FileIO.truncate(fd, length: length) else { throw Self.ioError("grow", path) }
        capacity = target
        return true
    }

    /// Shrinks or grows the file to exactly `rows` rows.
    func resize(rows: Int) throws {
        let length = VectorFileHeader.size + rows * header.strideBytes
        guard FileIO.truncate(fd, length: length) else { throw Self.ioError("resize", path) }
        capacity = rows
    }

    /// Writes normalised rows at their slots, coalescing runs of consecutive slots into one `pwrite` of
    /// at most ``writeRun`` rows. The caller has reserved room for every slot.
    func write(_ rows: [(slot: Int32, vector: [Float])]) throws {
        let stride = header.strideElements
        let sorted = rows.sorted { $0.slot < $1.slot }
        // One staging buffer, reused: a buffer the size of a large batch is fresh memory, whose page
        // faults cost more than the copy (a third of a 100k-row import's vector write).
        var buffer = [Float](repeating: 0, count: min(sorted.count, Self.writeRun) * stride)
        var start = 0
        while start < sorted.count {
            var end = start + 1
            while end < sorted.count && end - start < Self.writeRun
                && sorted[end].slot == sorted[end - 1].slot + 1
            {
                end += 1
            }
            buffer.withUnsafeMutableBufferPointer { buffer in
                for i in start..<end {
                    let row = UnsafeMutableBufferPointer(rebasing: buffer[((i - start) * stride)...])
                    _ = sorted[i].vector.withUnsafeBufferPointer { row.initialize(fromContentsOf: $0) }
                }
            }
            let fileOffset = VectorFileHeader.size + Int(sorted[start].slot) * header.strideBytes
            // invariant
            precondition(Int(sorted[end - 1].slot) < capacity, "row written past the reserved capacity")
            let run = buffer[..<((end - start) * stride)]
            switch header.element {
            case .float32:
                try run.withUnsafeBytes { try writeFully($0, at: fileOffset) }
            case .float16:
                let halves = BLAS.halves(fromFloats: Array(run))
                try halves.withUnsafeBytes { try writeFully($0, at: fileOffset) }
            }
            start = end
        }
    }

    /// The most rows one `pwrite` takes (1.5 MB at 384 dimensions).
    static let writeRun = 1024

    /// Makes written rows durable (`fdatasync`).
    func sync() throws {
        guard FileIO.sync(fd) else { throw Self.ioError("sync", path) }
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard FileIO.writeFully(fd, bytes, at: offset) else { throw Self.ioError("write", path) }
    }

    /// Makes the directory's entries (a file created, renamed or removed in it) durable.
    static func syncDirectory(_ path: String) throws {
        guard FileIO.syncDirectory(path) else { throw ioError("sync directory", path) }
    }

    static func ioError(_ action: String, _ path: String) -> EngramError {
        EngramError(.io, "cannot \(action) \(path): \(String(cString: strerror(errno)))")
    }
}
