import Foundation

/// Turns text into vectors. The store records its embedder's ``identifier`` and refuses queries
/// embedded by another one, so vectors from different models never mix.
public protocol Embedder: Sendable {
    /// A stable name for the model and its settings, e.g. `hashing-384` or `all-MiniLM-L6-v2`.
    var identifier: String { get }
    /// Length of every vector it returns.
    var dimension: Int { get }
    /// Embeds a batch of texts, one vector per text, in order.
    func embed(_ texts: [String]) throws -> [[Float]]
}

extension Embedder {
    /// Embeds one text.
    public func embed(_ text: String) throws -> [Float] {
        try embed([text])[0]
    }
}

/// The text a memory is embedded from: content, then cause, then outcome, one per line, so that a
/// query about a symptom also lands near the memory of its cause and its fix.
public enum EmbeddingText {
    /// `content`, `cause` and `outcome`, each present one on its own line, in that order.
    public static func compose(content: String, cause: String?, outcome: String?) -> String {
        [content, cause, outcome].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    /// The embedded text of a new memory.
    public static func of(_ memory: NewMemory) -> String {
        compose(content: memory.content, cause: memory.cause, outcome: memory.outcome)
    }
}

/// Finds built-in embedders by identifier.
public enum Embedders {
    /// Names accepted by ``make(_:dimension:)``.
    public static let builtInNames = ["hashing"]

    /// The embedder for an identifier recorded in a store (`hashing-384`) or a name given by a user
    /// (`hashing`, with `dimension`). Nil when the identifier is not built in (e.g. `custom`: vectors
    /// supplied by the caller).
    public static func make(_ identifier: String, dimension: Int? = nil) throws -> (any Embedder)? {
        if identifier == "hashing" {
            return try HashingEmbedder(dimension: dimension ?? HashingEmbedder.defaultDimension)
        }
        if identifier.hasPrefix("hashing-"), let d = Int(identifier.dropFirst("hashing-".count)) {
            if let dimension, dimension != d {
                throw EngramError.invalid("dimension", "\(identifier) makes \(d)-dimensional vectors, not \(dimension)")
            }
            return try HashingEmbedder(dimension: d)
        }
        return nil
    }
}
