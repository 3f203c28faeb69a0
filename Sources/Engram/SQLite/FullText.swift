internal import CFullText
import Foundation
internal import GRDB
import Synchronization

/// How memories' text reaches the FTS5 index, and how a keyword query is written for it.
enum FullText {
    /// The full-text term naming one namespace: `ns` and 20 decimal digits of its SHA-256. Digits only,
    /// so the porter stemmer leaves it alone. It lives in a column of its own and scores 0 in
    /// `engram_bm25`; a text holding the same token, or a hash collision, could only widen a restricted
    /// query, and the in-memory filter still decides.
    static func namespaceTerm(_ namespace: String) -> String {
        if let term = namespaceTerms.withLock({ $0[namespace] }) { return term }
        let term = computeNamespaceTerm(namespace)
        namespaceTerms.withLock { terms in
            if terms.count >= 4096 { terms.removeAll(keepingCapacity: true) }
            terms[namespace] = term
        }
        return term
    }

    /// Terms of recently queried namespaces: a hash per query was a sixth of a restricted keyword recall.
    private static let namespaceTerms = Locked<[String: String]>([:])

    private static func computeNamespaceTerm(_ namespace: String) -> String {
        var digest = SHA256Digest()
        digest.update(Array(namespace.utf8))
        // The digest's first eight bytes, big-endian (the first 16 hex digits).
        let value = digest.bytes().prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let digits = String(value)
        return "ns" + String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// An FTS5 MATCH expression: any of `terms` (each quoted as a phrase, so no query syntax leaks in),
    /// ANDed, when `namespaces` is given, with the namespace column holding one of their terms.
    static func pattern(anyOf terms: [String], namespaces: [String]?) -> String? {
        guard !terms.isEmpty else { return nil }
        let words = terms.map(phrase).joined(separator: " OR ")
        guard let namespaces else { return words }
        guard !namespaces.isEmpty else { return nil }
        let scope = namespaces.map(namespaceTerm).joined(separator: " OR ")
        // No column filter on the namespace terms: FTS5 would check each entry of their doclists for
        // the column, and no indexed text holds such a term anyway (see `namespaceTerm`).
        return "(\(words)) AND (\(scope))"
    }

    /// An FTS5 MATCH expression for `terms` inside `namespaces` through the words the `engram` tokenizer
    /// indexes under each memory's namespace (schema v6): one phrase per namespace and term, namespace by
    /// namespace, so phrase `i` is term `i % terms.count`. Nil when it can match nothing.
    static func pattern(anyOf terms: [String], scopedTo namespaces: [String]) -> String? {
        guard !terms.isEmpty, !namespaces.isEmpty else { return nil }
        var pattern = ""
        pattern.reserveCapacity(namespaces.count * terms.reduce(0) { $0 + $1.utf8.count + 30 })
        for namespace in namespaces {
            let scope = "\u{1E}" + namespaceTerm(namespace) + "\u{1F}"
            for term in terms {
                if !pattern.isEmpty { pattern += " OR " }
                appendPhrase(term, scope: scope, to: &pattern)
            }
        }
        return pattern
    }

    /// Namespaces a query restricts through scoped words at most. Each namespace adds one term lookup per
    /// word, while the AND walks each word's doclist once: for namespaces of 1 % each, scoped words cost
    /// less up to 64 of them, but for many tiny namespaces the lookups can cost more than the walk
    /// (Benchmarks/README.md, "Words indexed under their namespace").
    static let maxScopedNamespaces = 8

    /// The indexed text columns, in the full-text table's order (the namespace term column follows).
    static let textColumns = ["content", "cause", "outcome", "tags"]

    /// The SQL for one text column as the full-text index reads it (schema v6): the memory's namespace
    /// term between the `engram` tokenizer's markers, then the text. NULL stays NULL.
    static func scopedColumn(_ column: String, of row: String) -> String {
        "char(30) || \(row).scope_terms || char(31) || \(row).\(column)"
    }

    /// One term as an FTS5 phrase, quoted so that no query syntax leaks in.
    static func phrase(_ term: String) -> String {
        var quoted = ""
        appendPhrase(term, to: &quoted)
        return quoted
    }

    /// Appends `scope` and `term` as one quoted phrase (a `"` inside doubled).
    private static func appendPhrase(_ term: String, scope: String = "", to out: inout String) {
        out += "\""
        out += scope
        // By hand: Foundation's replacingOccurrences was a third of a restricted keyword recall on Linux.
        if term.utf8.contains(UInt8(ascii: "\"")) {
            for character in term {
                out.append(character)
                if character == "\"" { out.append(character) }
            }
        } else {
            out += term
        }
        out += "\""
    }

    /// Registers `engram_bm25` and the `engram` tokenizer on a connection; every connection of a store
    /// needs them (without the tokenizer SQLite cannot read, write or even drop the full-text table).
    static func registerFunctions(_ db: Database) throws {
        let code = engram_fulltext_register(UnsafeMutableRawPointer(db.sqliteConnection))
        guard code == 0 else {
            throw EngramError(.sqlite, "cannot register the full-text functions (SQLite code \(code))")
        }
    }

    /// Document frequencies as `engram_bm25` reads them: little-endian 64-bit counts, one per term.
    static func frequencyBlob(_ counts: [Int64]) -> Data {
        var data = Data(capacity: counts.count * 8)
        for count in counts { withUnsafeBytes(of: count.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }
}

/// How many memories hold each query term (FTS5's document frequency: rows matching the term as a
/// phrase in any column), cached until the next commit. Every write transaction advances
/// `meta.commit_counter`; a count is reused only when read under the same counter, so a cached count is
/// exactly what FTS5 would count in that snapshot, including after another process's commits.
final class DocumentFrequencies: Sendable {
    private struct State {
        var commit: Int64 = -1
        var counts: [String: Int64] = [:]
    }

    private let state = Locked(State())
    /// Terms kept at most; past it the cache starts over (queries use few terms, stores many).
    static let capacity = 50_000

    /// The counts of `terms` in the snapshot `db` reads, counting only the terms not cached.
    func counts(of terms: [String], db: Database) throws -> [Int64] {
        let counter = try db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'commit_counter'")
        let commit = Int64(try String.fetchOne(counter) ?? "0") ?? 0
        var counts = state.withLock { s in terms.map { s.commit == commit ? s.counts[$0] : nil } }
        var counted: [String: Int64] = [:]
        let count = try db.cachedStatement(sql: "SELECT count(*) FROM memory_fts WHERE memory_fts MATCH ?")
        for (i, term) in terms.enumerated() where counts[i] == nil {
            let n = try Int64.fetchOne(count, arguments: [FullText.phrase(term)]) ?? 0
            counts[i] = n
            counted[term] = n
        }
        if !counted.isEmpty {
            state.withLock { s in
                // A reader of an older snapshot never replaces the counts of a newer one.
                guard commit >= s.commit else { return }
                if commit > s.commit || s.counts.count + counted.count > Self.capacity {
                    s = State(commit: commit)
                }
                s.counts.merge(counted) { old, _ in old }
            }
        }
        return counts.map { $0 ?? 0 }
    }
}

/// The hash that identifies exact duplicates: content, cause and outcome after Unicode normalisation,
/// case folding and collapsing whitespace, so trivial re-wordings of the same text count as the same.
enum ContentHash {
    static func of(content: String, cause: String?, outcome: String?) -> String {
        var digest = SHA256Digest()
        for (i, part) in [content, cause ?? "", outcome ?? ""].enumerated() {
            if i > 0 { digest.update([0x1F]) }
            digest.update(normalizedUTF8(part))
        }
        return digest.hexDigest()
    }

    /// The UTF-8 of ``normalized(_:)``; ASCII text by bytes, without Foundation's Unicode normalisation,
    /// which was two thirds of a bulk remember's time.
    static func normalizedUTF8(_ text: String) -> [UInt8] {
        let utf8 = text.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }) else { return Array(normalized(text).utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var space = false
        for byte in utf8 {
            if byte == 0x20 || (0x09...0x0D).contains(byte) {  // ASCII's Unicode white space
                space = !out.isEmpty
            } else {
                if space { out.append(0x20) }
                space = false
                out.append((0x41...0x5A).contains(byte) ? byte | 0x20 : byte)
            }
        }
        return out
    }

    static func normalized(_ text: String) -> String {
        text.precomposedStringWithCanonicalMapping.lowercased()
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
