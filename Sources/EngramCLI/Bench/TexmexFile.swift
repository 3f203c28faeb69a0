import Engram
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// TEXMEX `.fvecs` / `.ivecs` files: each record is a little-endian int32 dimension followed by that many
/// float32 (fvecs) or int32 (ivecs) values. Every record of a file has the same dimension.
enum TexmexFile {
    /// Reads an `.fvecs` file as a row-major matrix.
    static func readFloats(_ path: String) throws -> (values: [Float], dimension: Int) {
        let (raw, dimension) = try readRecords(path)
        return (raw.map { Float(bitPattern: $0) }, dimension)
    }

    /// Reads an `.ivecs` file as a row-major matrix.
    static func readInts(_ path: String) throws -> (values: [Int32], dimension: Int) {
        let (raw, dimension) = try readRecords(path)
        return (raw.map { Int32(bitPattern: $0) }, dimension)
    }

    /// Appends rows to an `.fvecs` file being written (a large file is written a chunk at a time).
    static func appendFloats(_ handle: FileHandle, rows: [Float], dimension: Int) throws {
        try handle.write(contentsOf: records(words: rows.map(\.bitPattern), dimension: dimension))
    }

    static func writeFloats(_ path: String, rows: [Float], dimension: Int) throws {
        try writeRecords(path, words: rows.map(\.bitPattern), dimension: dimension)
    }

    static func writeInts(_ path: String, rows: [Int32], dimension: Int) throws {
        try writeRecords(path, words: rows.map { UInt32(bitPattern: $0) }, dimension: dimension)
    }

    private static func readRecords(_ path: String) throws -> ([UInt32], Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngramError(.notFound, "cannot read \(path)", field: "file")
        }
        guard data.count >= 4 else {
            throw EngramError.invalid("file", "\(path) is too short to be a TEXMEX file")
        }
        let words: [UInt32] = data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))
            }
        }
        let dimension = Int(Int32(bitPattern: words[0]))
        guard dimension > 0, dimension <= Limits.maxDimension else {
            throw EngramError.invalid("file", "\(path) has an impossible dimension \(dimension)")
        }
        let record = dimension + 1
        guard data.count % 4 == 0, words.count % record == 0 else {
            throw EngramError.invalid(
                "file", "\(path) is truncated: its size is not a whole number of \(dimension)-value records")
        }
        var values: [UInt32] = []
        values.reserveCapacity(words.count / record * dimension)
        for start in stride(from: 0, to: words.count, by: record) {
            guard Int(Int32(bitPattern: words[start])) == dimension else {
                throw EngramError.invalid("file", "\(path) record \(start / record) has another dimension")
            }
            values.append(contentsOf: words[(start + 1)..<(start + record)])
        }
        return (values, dimension)
    }

    private static func records(words: [UInt32], dimension: Int) -> Data {
        var out = [UInt32]()
        out.reserveCapacity(words.count / dimension * (dimension + 1))
        for start in stride(from: 0, to: words.count, by: dimension) {
            out.append(UInt32(dimension).littleEndian)
            out.append(contentsOf: words[start..<(start + dimension)].map(\.littleEndian))
        }
        return out.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    private static func writeRecords(_ path: String, words: [UInt32], dimension: Int) throws {
        let data = records(words: words, dimension: dimension)
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw EngramError(.io, "cannot write \(path)")
        }
    }
}

/// An `.fvecs` file mapped read-only, its rows read in place: a base larger than memory (10M × 384 floats
/// is 15.4 GB) can be ingested and searched. Each record's dimension word sits just before its row, so
/// the rows form a strided matrix (``stride`` = dimension + 1 floats) that BLAS reads as it is. The floats
/// are read in the host's byte order: little-endian, as the format is, on every platform Engram builds for.
final class MappedVectors: @unchecked Sendable {  // read-only once made
    let dimension: Int
    /// Rows.
    let count: Int
    /// Floats from one row's start to the next's.
    let stride: Int
    /// The first value of row 0.
    let rows: UnsafePointer<Float>
    private let mapping: UnsafeMutableRawPointer
    private let length: Int

    /// Maps `path`, checking that every record has the first record's dimension.
    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw EngramError(.notFound, "cannot read \(path)", field: "file") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= 4 else {
            throw EngramError.invalid("file", "\(path) is too short to be a TEXMEX file")
        }
        length = Int(info.st_size)
        guard let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw EngramError(.io, "cannot map \(path)")
        }
        mapping = mapped
        let words = UnsafeRawPointer(mapped).assumingMemoryBound(to: Int32.self)
        dimension = Int(words[0])
        stride = dimension + 1
        count = length / (stride * 4)
        rows = UnsafeRawPointer(mapped + 4).assumingMemoryBound(to: Float.self)
        guard dimension > 0, dimension <= Limits.maxDimension else {
            throw EngramError.invalid("file", "\(path) has an impossible dimension \(dimension)")
        }
        guard length % (stride * 4) == 0 else {
            throw EngramError.invalid(
                "file", "\(path) is truncated: its size is not a whole number of \(dimension)-value records")
        }
        for r in 0..<count where Int(words[r * stride]) != dimension {
            throw EngramError.invalid("file", "\(path) record \(r) has another dimension")
        }
    }

    deinit { munmap(mapping, length) }

    /// Row `i` as an array.
    func row(_ i: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: rows + i * stride, count: dimension))
    }

    /// Value `column` of row `row`.
    subscript(row: Int, column: Int) -> Float { rows[row * stride + column] }
}
