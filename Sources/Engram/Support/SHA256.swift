internal import Crypto
import Foundation

/// SHA-256 through swift-crypto, for content hashes, namespace terms, cache keys and model checksums.
package struct SHA256Digest {
    private var hasher = Crypto.SHA256()

    /// A fresh digest.
    package init() {}

    /// Adds bytes.
    package mutating func update(_ data: [UInt8]) {
        hasher.update(data: data)
    }

    /// The digest's 32 bytes. Call it (or ``hexDigest()``) once: the digest is finished by it.
    func bytes() -> [UInt8] {
        Array(hasher.finalize())
    }

    /// The digest as lower-case hexadecimal. Call it once: the digest is finished by it.
    package mutating func hexDigest() -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes() {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The SHA-256 of a file, read in 4 MiB chunks.
    package static func hexDigest(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw EngramError(.notFound, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var digest = SHA256Digest()
        while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty {
            digest.update([UInt8](chunk))
        }
        return digest.hexDigest()
    }
}
