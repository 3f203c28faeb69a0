import Foundation
import Synchronization

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
    /// Names accepted by ``make(_:dimension:environment:)``.
    public static let builtInNames = ["minilm", "hashing"]

    /// The embedder for an identifier recorded in a store (`hashing-384`, `all-MiniLM-L6-v2`) or a name
    /// given by a user (`hashing` with an optional `dimension`, `minilm`). Nil when the identifier is
    /// not built in (e.g. `custom`: vectors supplied by the caller).
    ///
    /// MiniLM reads two settings from `environment`: `ENGRAM_MINILM_WEIGHTS` (`bfloat16`, `float16` or
    /// `float32`; by default ``MiniLMEmbedder/WeightPrecision/preferred``) and `ENGRAM_EMBED_THREADS`
    /// (threads per embed call; default one per processor).
    /// - Throws: ``EngramError/Code/notFound`` when MiniLM is asked for but not installed,
    ///   ``EngramError/Code/invalidArgument`` when a setting is malformed.
    public static func make(
        _ identifier: String, dimension: Int? = nil,
        environment: [String: String]? = nil
    ) throws -> (any Embedder)? {
        if identifier == "minilm" || identifier == MiniLMEmbedder.modelName {
            if let dimension, dimension != 384 {
                throw EngramError.invalid(
                    "dimension", "\(MiniLMEmbedder.modelName) makes 384-dimensional vectors")
            }
            let settings = environment ?? ProcessInfo.processInfo.environment
            var precision = MiniLMEmbedder.WeightPrecision.preferred
            if let value = settings["ENGRAM_MINILM_WEIGHTS"] {
                guard let chosen = MiniLMEmbedder.WeightPrecision(rawValue: value) else {
                    throw EngramError.invalid(
                        "ENGRAM_MINILM_WEIGHTS", "must be bfloat16, float16 or float32, not \(value)")
                }
                precision = chosen
            }
            var threads: Int?
            if let value = settings["ENGRAM_EMBED_THREADS"] {
                guard let n = Int(value), n >= 1 else {
                    throw EngramError.invalid(
                        "ENGRAM_EMBED_THREADS", "must be a whole number of at least 1, not \(value)")
                }
                threads = n
            }
            return try MiniLMCache.shared.embedder(
                directory: ModelFiles.miniLMDirectory(environment: environment), threads: threads,
                weights: precision)
        }
        if identifier == "hashing" {
            return try HashingEmbedder(dimension: dimension ?? HashingEmbedder.defaultDimension)
        }
        if identifier.hasPrefix("hashing-"), let d = Int(identifier.dropFirst("hashing-".count)) {
            if let dimension, dimension != d {
                throw EngramError.invalid(
                    "dimension", "\(identifier) makes \(d)-dimensional vectors, not \(dimension)")
            }
            return try HashingEmbedder(dimension: d)
        }
        return nil
    }
}

/// Keeps loaded MiniLM models so a process maps the weights once.
final class MiniLMCache: Sendable {
    static let shared = MiniLMCache()
    private let loaded = Locked<[String: MiniLMEmbedder]>([:])

    func embedder(directory: String, threads: Int?, weights: MiniLMEmbedder.WeightPrecision) throws
        -> MiniLMEmbedder
    {
        let key = "\(directory)|\(threads ?? 0)|\(weights.rawValue)"
        if let cached = loaded.withLock({ $0[key] }) { return cached }
        let model = try MiniLMEmbedder(directory: directory, threads: threads, weights: weights)
        loaded.withLock { $0[key] = model }
        return model
    }
}
