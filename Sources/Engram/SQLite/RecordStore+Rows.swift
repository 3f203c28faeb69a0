import Foundation
internal import GRDB

/// The hot columns of one live memory, loaded at open to build the in-memory slot table.
struct SlotRow {
    var slot: Int32
    var rowID: Int64
    var id: MemoryID
    var namespace: String
    var agent: String?
    var kind: String
    var succeeded: Bool?
    var createdAt: Double
    var expiresAt: Double?
    var tags: [String]
    var trust: Int
    var quarantined: Bool
    var validFrom: Double?
    var validUntil: Double?
}

/// A memory read's columns, by position: the record columns every row has (memory and history), then
/// for live rows the usage columns. Read by position, not name: a lookup by name compares every column
/// name case-insensitively, which showed in recall profiles.
enum MemoryColumn: Int32, CaseIterable {
    case id, namespace, agent, kind, content, cause, outcome, succeeded, tags, importance, metadata
    case createdAt, updatedAt, expiresAt, supersedes
    // Provenance and validity (schema v7):
    case source, trust, derivedFrom, writtenBy, flags, quarantined, factKey, validFrom, validUntil
    // Live rows only, after the record columns:
    case recallCount, lastRecalledAt, helpfulCount, unhelpfulCount

    static let recordColumns = allCases.prefix(Int(validUntil.rawValue) + 1)

    /// The SQL names of the record columns, in order.
    static let recordList = recordColumns.map(\.name).joined(separator: ", ")

    /// The record columns of a schema before v7, with each provenance column's default in its place.
    static let legacyRecordList = recordColumns.map { column in
        switch column {
        case .trust: "\(TrustLevel.agent.rawValue)"
        case .derivedFrom, .flags: "''"
        case .quarantined: "0"
        case .source, .writtenBy, .factKey, .validFrom, .validUntil: "NULL"
        default: column.name
        }
    }.joined(separator: ", ")

    var name: String {
        switch self {
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .expiresAt: "expires_at"
        case .recallCount: "recall_count"
        case .lastRecalledAt: "last_recalled_at"
        case .helpfulCount: "helpful_count"
        case .unhelpfulCount: "unhelpful_count"
        case .derivedFrom: "derived_from"
        case .writtenBy: "written_by"
        case .factKey: "fact_key"
        case .validFrom: "valid_from"
        case .validUntil: "valid_until"
        default: "\(self)"
        }
    }
}

/// Memories from rows, by named column.
extension RecordStore {
    // MARK: Row mapping

    /// A memory from a row whose ``MemoryColumn``s start at index `start`; `usage` for live rows, which
    /// have the usage columns after the record columns (history rows have none).
    func memory(from row: StatementColumns, at start: Int32 = 0, usage: Bool) throws -> Memory {
        func at(_ column: MemoryColumn) -> Int32 { start + column.rawValue }
        guard let id = row.withUTF8(at(.id), { MemoryID(utf8: $0) }) else {
            throw EngramError(.storageCorrupted, "a memory row has a malformed id")
        }
        var metadata: [String: JSONValue] = [:]
        // The common case skips the JSON decoder.
        if !row.withUTF8(at(.metadata), { $0.elementsEqual("{}".utf8) }) {
            guard
                case .object(let object) = try JSONValue(
                    parsing: row.string(at(.metadata)), field: "metadata")
            else {
                throw EngramError(.storageCorrupted, "a memory row has metadata that is not an object")
            }
            metadata = object
        }
        let feedback = usage && hasV5Columns
        let trust = TrustLevel(rawValue: Int(row.int64(at(.trust))))
        guard let trust else {
            throw EngramError(.storageCorrupted, "a memory row has an unknown trust level")
        }
        func date(_ column: MemoryColumn) -> Date? {
            row.optionalDouble(at(column)).map(Date.init(timeIntervalSince1970:))
        }
        return Memory(
            id: id, namespace: row.string(at(.namespace)), agent: row.optionalString(at(.agent)),
            kind: MemoryKind(rawValue: row.string(at(.kind))), content: row.string(at(.content)),
            cause: row.optionalString(at(.cause)), outcome: row.optionalString(at(.outcome)),
            succeeded: row.optionalInt64(at(.succeeded)).map { $0 != 0 },
            tags: Self.tags(row.string(at(.tags))),
            importance: row.double(at(.importance)), metadata: metadata,
            createdAt: Date(timeIntervalSince1970: row.double(at(.createdAt))),
            updatedAt: Date(timeIntervalSince1970: row.double(at(.updatedAt))),
            expiresAt: row.optionalDouble(at(.expiresAt)).map(Date.init(timeIntervalSince1970:)),
            supersedes: row.withUTF8(at(.supersedes)) { MemoryID(utf8: $0) },
            recallCount: usage ? Int(row.int64(at(.recallCount))) : 0,
            lastRecalledAt: usage
                ? row.optionalDouble(at(.lastRecalledAt)).map(Date.init(timeIntervalSince1970:)) : nil,
            helpfulCount: feedback ? Int(row.int64(at(.helpfulCount))) : 0,
            unhelpfulCount: feedback ? Int(row.int64(at(.unhelpfulCount))) : 0,
            source: row.optionalString(at(.source)).map(MemorySource.init(rawValue:)), trust: trust,
            derivedFrom: Self.ids(row.string(at(.derivedFrom))),
            writtenBy: row.optionalString(at(.writtenBy)),
            flags: Self.tags(row.string(at(.flags))), quarantined: row.int64(at(.quarantined)) != 0,
            factKey: row.optionalString(at(.factKey)), validFrom: date(.validFrom),
            validUntil: date(.validUntil))
    }

    /// Ids are stored joined by commas (they never contain one).
    static func idText(_ ids: [MemoryID]) -> String { ids.map(\.description).joined(separator: ",") }

    static func ids(_ text: String) -> [MemoryID] {
        text.isEmpty ? [] : text.split(separator: ",").compactMap { MemoryID(String($0)) }
    }

    /// Tags are stored joined by U+001F (unit separator), which tags cannot contain: splitting is cheap
    /// at open, and FTS5's unicode61 tokenizer treats it as a separator.
    static func tagText(_ tags: [String]) -> String { tags.joined(separator: "\u{1F}") }

    static func tags(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    }
}
