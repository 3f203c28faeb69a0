import Engram

/// Vectors that are a function of a memory's logical key and version, under one of two embedders whose
/// vectors differ (one negates), for fault tests that rebuild the exact expected store: a row left from
/// before a re-embed, or another memory's row, shows in recall.
package struct KeyedVectors: Sendable {
    package let dimension: Int
    /// Mixed into the seed, so two test programs do not share vectors.
    let salt: UInt64

    package init(dimension: Int, salt: UInt64) {
        self.dimension = dimension
        self.salt = salt
    }

    /// The embedder identifiers a re-embed alternates between (a new store's is "custom", plain).
    package static let plain = "keyed-plain"
    package static let negated = "keyed-negated"

    /// A memory's vector under the store's embedder.
    package func vector(key: Int, version: Int, embedder: String) -> [Float] {
        var rng = SeededGenerator(seed: UInt64(key) &* 1_000_003 &+ UInt64(version) &+ salt)
        let v = rng.vector(dimension: dimension)
        return embedder == Self.negated ? v.map { -$0 } : v
    }

    /// The embedder a re-embed switches a store with `current` to.
    package func embedder(after current: String) -> Embedder {
        Embedder(identifier: current == Self.negated ? Self.plain : Self.negated, keyed: self)
    }

    /// Reads the key (and the version, 0 when absent) back from a memory's text — "key K version V",
    /// or a promoted working entry's `{"key":K}` — and returns its vector.
    package struct Embedder: Engram.Embedder {
        package let identifier: String
        let keyed: KeyedVectors
        package var dimension: Int { keyed.dimension }

        package func embed(_ texts: [String]) throws -> [[Float]] {
            try texts.map { text in
                let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
                guard let key = numbers.first else { throw EngramError.invalid("text", "no key in \(text)") }
                return keyed.vector(
                    key: key, version: numbers.count > 1 ? numbers[1] : 0, embedder: identifier)
            }
        }
    }
}
