import Foundation

/// The documented bounds on every field. Inputs beyond them are rejected with
/// ``EngramError/Code/invalidArgument`` naming the field, never truncated.
public enum Limits {
    /// Maximum UTF-8 bytes of `content`, `cause` and `outcome` each (64 KiB).
    public static let maxTextBytes = 65_536
    /// Maximum UTF-8 bytes of a namespace (256).
    public static let maxNamespaceBytes = 256
    /// Maximum UTF-8 bytes of an agent name (128).
    public static let maxAgentBytes = 128
    /// Maximum UTF-8 bytes of a kind (64).
    public static let maxKindBytes = 64
    /// Maximum number of tags on one memory (64).
    public static let maxTags = 64
    /// Maximum UTF-8 bytes of one tag (64).
    public static let maxTagBytes = 64
    /// Maximum UTF-8 bytes of the metadata object as JSON (64 KiB).
    public static let maxMetadataBytes = 65_536
    /// Maximum UTF-8 bytes of a metadata key (128).
    public static let maxMetadataKeyBytes = 128
    /// Largest supported embedding dimension.
    public static let maxDimension = 16_384
    /// Largest `k` a recall may ask for.
    public static let maxK = 100_000
    /// Most memories one memory may name as `derivedFrom`.
    public static let maxDerivedFrom = 1000
    /// Largest number of memories in one `remember` batch.
    public static let maxBatch = 100_000

    /// Ranking weights must be finite and at least 0; the error names `field.name`.
    static func validateWeights(_ weights: [(name: String, value: Double)], field: String) throws {
        for (name, w) in weights where !(w.isFinite && w >= 0) {
            throw EngramError.invalid("\(field).\(name)", "must be a finite number >= 0")
        }
    }

    /// The times a memory may carry (seconds since 1970): 0001-01-01 to 9999-12-31 UTC, what a
    /// four-digit ISO 8601 year can write. NaN and infinities fall outside too.
    package static let earliestDate: Double = -62_135_596_800
    package static let latestDate: Double = 253_402_300_799.999

    package static func validateText(_ text: String, field: String, required: Bool) throws {
        // A printable ASCII byte settles it without walking every character.
        if required && !text.utf8.contains(where: { $0 > 0x20 && $0 < 0x7F })
            && text.allSatisfy(\.isWhitespace)
        {
            throw EngramError.invalid(field, "must not be empty")
        }
        if text.utf8.count > maxTextBytes {
            throw EngramError.invalid(field, "is longer than \(maxTextBytes) bytes")
        }
        if text.utf8.contains(0) { throw EngramError.invalid(field, "contains a NUL byte") }
    }

    /// A namespace is one or more segments of letters, digits, `.`, `_`, `-`, `@` or `:`, joined by `/`.
    public static func validateNamespace(_ namespace: String, field: String = "namespace") throws {
        if namespace.isEmpty { throw EngramError.invalid(field, "must not be empty") }
        if namespace.utf8.count > maxNamespaceBytes {
            throw EngramError.invalid(field, "is longer than \(maxNamespaceBytes) bytes")
        }
        if isPlainASCIINamespace(namespace.utf8) { return }
        for segment in namespace.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty {
                throw EngramError.invalid(field, "has an empty segment (leading, trailing or double '/')")
            }
            if segment == "." || segment == ".." {
                throw EngramError.invalid(field, "has a '.' or '..' segment")
            }
            guard segment.unicodeScalars.allSatisfy(isNameScalar) else {
                throw EngramError.invalid(
                    field, "may hold only letters, digits and . _ - @ : in each segment")
            }
        }
    }

    static func validateName(_ name: String, field: String, maxBytes: Int) throws {
        if name.isEmpty { throw EngramError.invalid(field, "must not be empty") }
        if name.utf8.count > maxBytes { throw EngramError.invalid(field, "is longer than \(maxBytes) bytes") }
        guard name.unicodeScalars.allSatisfy(isNameScalar) else {
            throw EngramError.invalid(field, "may hold only letters, digits and . _ - @ :")
        }
    }

    static func validateTag(_ tag: String, field: String = "tags") throws {
        if tag.isEmpty { throw EngramError.invalid(field, "a tag must not be empty") }
        if tag.utf8.count > maxTagBytes {
            throw EngramError.invalid(field, "a tag is longer than \(maxTagBytes) bytes")
        }
        if tag.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) {
            throw EngramError.invalid(field, "a tag must not contain spaces or control characters")
        }
    }

    static func validateMetadataKey(_ key: String, field: String = "metadata") throws {
        if key.isEmpty { throw EngramError.invalid(field, "a key must not be empty") }
        if key.utf8.count > maxMetadataKeyBytes {
            throw EngramError.invalid(field, "a key is longer than \(maxMetadataKeyBytes) bytes")
        }
        guard key.unicodeScalars.allSatisfy({ isNameScalar($0) && $0 != ":" }) else {
            throw EngramError.invalid(field, "a key may hold only letters, digits and . _ - @")
        }
    }

    static func validateMetadata(_ metadata: [String: JSONValue]) throws {
        for key in metadata.keys { try validateMetadataKey(key) }
        let value = JSONValue.object(metadata)
        if !value.isFinite { throw EngramError.invalid("metadata", "contains a non-finite number") }
        if value.jsonText.utf8.count > maxMetadataBytes {
            throw EngramError.invalid("metadata", "is larger than \(maxMetadataBytes) bytes as JSON")
        }
    }

    static func validateImportance(_ importance: Double) throws {
        guard importance.isFinite, (0...1).contains(importance) else {
            throw EngramError.invalid("importance", "must be a number from 0 to 1")
        }
    }

    /// Normalised, deduplicated, sorted tags.
    static func normalizedTags(_ tags: [String]) throws -> [String] {
        let unique = Array(Set(tags)).sorted()
        if unique.count > maxTags { throw EngramError.invalid("tags", "has more than \(maxTags) tags") }
        for tag in unique { try validateTag(tag) }
        return unique
    }

    /// A namespace of ASCII letters, digits and `._-@:` in segments that are neither empty, `.` nor
    /// `..`, checked byte by byte: the common case, without splitting or Unicode property lookups.
    private static func isPlainASCIINamespace(_ bytes: String.UTF8View) -> Bool {
        var segmentLength = 0
        var segmentDots = 0
        for byte in bytes {
            if byte == UInt8(ascii: "/") {
                guard segmentLength > 0, segmentDots < segmentLength || segmentLength > 2 else {
                    return false
                }
                segmentLength = 0
                segmentDots = 0
                continue
            }
            guard byte < 0x80, isNameScalar(Unicode.Scalar(byte)) else { return false }
            segmentLength += 1
            if byte == UInt8(ascii: ".") { segmentDots += 1 }
        }
        return segmentLength > 0 && (segmentDots < segmentLength || segmentLength > 2)
    }

    private static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        // ASCII first: Unicode property lookups were a tenth of a restricted keyword recall.
        if s.isASCII {
            let v = s.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v)
                || "._-@:".unicodeScalars.contains(s)
        }
        return s.properties.isAlphabetic || s.properties.numericType != nil
            || "._-@:".unicodeScalars.contains(s)
    }
}
