package import Engram
import EngramProviders
import Foundation

/// Finds the embedder for a name or a store, from the built-in ones and OpenAI-compatible servers
/// (`openai-compatible:<model>`, at `$ENGRAM_EMBEDDING_URL`, default https://api.openai.com, with the
/// key from `$ENGRAM_EMBEDDING_API_KEY` or `$OPENAI_API_KEY`).
package struct EmbedderResolver: Sendable {
    /// Where model paths, URLs and keys come from (the process environment, or a test's).
    package let environment: [String: String]

    package init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The embedder with this identifier, or nil for an identifier that names no embedder Engram can
    /// run (vectors the caller brings).
    package func embedder(named name: String, dimension: Int? = nil) throws -> (any Embedder)? {
        if name.hasPrefix(OpenAICompatibleEmbedder.identifierPrefix) {
            let model = String(name.dropFirst(OpenAICompatibleEmbedder.identifierPrefix.count))
            let base = environment["ENGRAM_EMBEDDING_URL"] ?? "https://api.openai.com"
            guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https" else {
                throw EngramError.invalid("ENGRAM_EMBEDDING_URL", "must be an http or https URL")
            }
            return try OpenAICompatibleEmbedder(
                baseURL: url, model: model,
                apiKey: environment["ENGRAM_EMBEDDING_API_KEY"] ?? environment["OPENAI_API_KEY"],
                dimension: dimension)
        }
        return try Embedders.make(name, dimension: dimension, environment: environment)
    }

    /// The store's own embedder behind the store's embedding cache, or a clear error when the store
    /// holds vectors no built-in embedder makes. Load it once per process: models are large.
    package func textEmbedder(for store: MemoryStore) throws -> any Embedder {
        guard let embedder = try embedder(named: store.embedderID, dimension: store.dimension) else {
            throw EngramError.invalid(
                "embedder",
                "this store holds '\(store.embedderID)' vectors and has no built-in embedder; pass a vector or an \"embedding\""
            )
        }
        guard embedder.dimension == store.dimension else {
            throw EngramError(.storageCorrupted, "the store's embedder makes vectors of another dimension")
        }
        return store.cachingEmbedder(embedder)
    }
}
