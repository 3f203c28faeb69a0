public import struct Foundation.UUID
import Synchronization

/// The stable public id of a memory: a UUID version 7.
///
/// Version 7 ids start with a millisecond timestamp, so they sort in creation order (ids made by one
/// process within a millisecond stay ordered by a counter). Ids are never reused or renumbered.
public struct MemoryID: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The 16 bytes, most significant first, as two big-endian words.
    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Parses the canonical `8-4-4-4-12` hexadecimal form (any case).
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.init(uuid)
    }

    /// Wraps a Foundation UUID.
    public init(_ uuid: UUID) {
        let b = uuid.uuid
        let bytes = [b.0, b.1, b.2, b.3, b.4, b.5, b.6, b.7, b.8, b.9, b.10, b.11, b.12, b.13, b.14, b.15]
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The canonical lower-case form, e.g. `0193a1b2-...`.
    public var description: String {
        let hex = String(high, radix: 16).leftPadded(to: 16) + String(low, radix: 16).leftPadded(to: 16)
        let chars = Array(hex)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
            + String(chars[16..<20]) + "-" + String(chars[20..<32])
    }

    /// The creation time encoded in the id, in milliseconds since 1970.
    public var timestampMilliseconds: UInt64 { high >> 16 }

    /// Orders ids by their bytes, which for version 7 ids is creation order.
    public static func < (a: MemoryID, b: MemoryID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }

    /// Decodes from the canonical string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = MemoryID(string) else {
            throw EngramError.invalid("id", "not a UUID")
        }
        self = id
    }

    /// Encodes as the canonical string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Makes monotonic UUIDv7 ids: a 48-bit millisecond time, then a 12-bit counter that keeps ids made in
/// the same millisecond ordered, then 62 random bits.
final class MemoryIDGenerator: Sendable {
    private let state = Mutex<(millis: UInt64, counter: UInt64)>((0, 0))

    func next(nowMilliseconds: UInt64) -> MemoryID {
        let (millis, counter) = state.withLock { s -> (UInt64, UInt64) in
            if nowMilliseconds > s.millis {
                s = (nowMilliseconds, UInt64.random(in: 0..<256))
            } else if s.counter < 0xFFF {
                s.counter += 1
            } else {
                // Counter exhausted within one millisecond: borrow the next millisecond.
                s = (s.millis + 1, 0)
            }
            return (s.millis, s.counter)
        }
        let high = (millis & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | counter
        let low = (UInt64.random(in: 0...UInt64.max) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return MemoryID(high: high, low: low)
    }
}

extension String {
    func leftPadded(to length: Int, with pad: Character = "0") -> String {
        count >= length ? self : String(repeating: pad, count: length - count) + self
    }
}
