import Foundation

/// A deterministic, model-free embedder: signed feature hashing of normalised word unigrams and bigrams.
///
/// It is *lexical*, not semantic: "checkout is slow" is near "slow checkout page" but not near
/// "payments lag". It exists so that everything works offline from the first minute and in tests; use
/// a semantic model for real recall quality.
///
/// Text is lower-cased, accents are folded, and it is split into runs of letters and digits; a few
/// very common English words are dropped. Each unigram adds ±1 and each bigram ±0.5 at the index and
/// sign given by its FNV-1a hash; the vector is then L2-normalised. Empty text gives a fixed vector.
public struct HashingEmbedder: Embedder {
    /// The default dimension (that of the common MiniLM models, so stores can switch later).
    public static let defaultDimension = 384
    /// Length of every vector.
    public let dimension: Int
    /// `hashing-<dimension>`.
    public var identifier: String { "hashing-\(dimension)" }

    private static let stopwords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it", "its", "of",
        "on", "or", "that", "the", "to", "was", "were", "with",
    ]

    /// An embedder of the given dimension (8...16384).
    public init(dimension: Int = HashingEmbedder.defaultDimension) throws {
        guard (8...Limits.maxDimension).contains(dimension) else {
            throw EngramError.invalid(
                "dimension", "must be from 8 to \(Limits.maxDimension) for the hashing embedder")
        }
        self.dimension = dimension
    }

    /// Embeds each text.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        texts.map(vector)
    }

    /// The normalised words of a text.
    static func tokens(_ text: String) -> [String] {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .lowercased()
        return Words.split(folded).filter { !stopwords.contains($0) }
    }

    private func vector(_ text: String) -> [Float] {
        var v = [Double](repeating: 0, count: dimension)
        let words = Self.tokens(text)
        func add(_ feature: String, _ weight: Double) {
            let h = fnv1a(feature.utf8)
            let index = Int(h % UInt64(dimension))
            v[index] += (h >> 63) == 0 ? weight : -weight
        }
        for (i, word) in words.enumerated() {
            add(word, 1)
            if i > 0 { add(words[i - 1] + " " + word, 0.5) }
        }
        var norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm == 0 {
            v[0] = 1  // empty or all-stopword text: a fixed direction rather than a zero vector
            norm = 1
        }
        return v.map { Float($0 / norm) }
    }
}
