import Foundation

/// How memories' text reaches the FTS5 index, and how a keyword query is written for it.
enum FullText {
    /// The full-text term naming one namespace: `ns` and 20 decimal digits of its SHA-256. Digits only,
    /// so the porter stemmer leaves it alone, and no word of real text collides with it (it lives in a
    /// column of its own, which bm25 weighs 0). A hash collision could only widen a restricted query; the
    /// in-memory filter still decides.
    static func namespaceTerm(_ namespace: String) -> String {
        var digest = SHA256Digest()
        digest.update(Array(namespace.utf8))
        let hex = digest.hexDigest()
        let value = UInt64(hex.prefix(16), radix: 16) ?? 0
        let digits = String(value)
        return "ns" + String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// An FTS5 MATCH expression: any of `terms` (each quoted as a phrase, so no query syntax leaks in),
    /// ANDed, when `namespaces` is given, with the namespace column holding one of their terms.
    static func pattern(anyOf terms: [String], namespaces: [String]?) -> String? {
        guard !terms.isEmpty else { return nil }
        let words = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " OR ")
        guard let namespaces else { return words }
        guard !namespaces.isEmpty else { return nil }
        let scope = namespaces.map(namespaceTerm).joined(separator: " OR ")
        return "(\(words)) AND scope_terms : (\(scope))"
    }
}

/// The hash that identifies exact duplicates: content, cause and outcome after Unicode normalisation,
/// case folding and collapsing whitespace, so trivial re-wordings of the same text count as the same.
enum ContentHash {
    static func of(content: String, cause: String?, outcome: String?) -> String {
        var digest = SHA256Digest()
        for (i, part) in [content, cause ?? "", outcome ?? ""].enumerated() {
            if i > 0 { digest.update([0x1F]) }
            digest.update(Array(normalized(part).utf8))
        }
        return digest.hexDigest()
    }

    static func normalized(_ text: String) -> String {
        text.precomposedStringWithCanonicalMapping.lowercased()
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
