import Synchronization

public import struct Foundation.UUID

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
        self.init(utf8: string.utf8)
    }

    /// Parses the UTF-8 of an id as ``init(_:)`` does (records read from SQLite need no String first).
    init?<Bytes: Collection<UInt8>>(utf8 bytes: Bytes) {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        for (i, byte) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(value) } else { low = low << 4 | UInt64(value) }
            digits += 1
            if digits > 32 { return nil }
        }
        guard digits == 32 else { return nil }
        self.init(high: high, low: low)
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
        let hex = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var out = 0
            for (word, shift) in [(high, 60), (low, 60)] {
                var s = shift
                while s >= 0 {
                    if out == 8 || out == 13 || out == 18 || out == 23 {
                        buffer[out] = UInt8(ascii: "-")
                        out += 1
                    }
                    buffer[out] = hex[Int((word >> UInt64(s)) & 0xF)]
                    out += 1
                    s -= 4
                }
            }
            return out
        }
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
    private let state = Locked<(millis: UInt64, counter: UInt64)>((0, 0))

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
