import Engram
import Foundation

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

    private static func writeRecords(_ path: String, words: [UInt32], dimension: Int) throws {
        var out = [UInt32]()
        out.reserveCapacity(words.count / dimension * (dimension + 1))
        for start in stride(from: 0, to: words.count, by: dimension) {
            out.append(UInt32(dimension).littleEndian)
            out.append(contentsOf: words[start..<(start + dimension)].map(\.littleEndian))
        }
        let data = out.withUnsafeBufferPointer { Data(buffer: $0) }
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw EngramError(.io, "cannot write \(path)")
        }
    }
}
