import Engram
import EngramProviders
import Foundation

/// Every embedder the CLI knows by name: the built-in ones and OpenAI-compatible servers
/// (`openai-compatible:<model>`, at `$ENGRAM_EMBEDDING_URL`, default https://api.openai.com, with the
/// key from `$ENGRAM_EMBEDDING_API_KEY` or `$OPENAI_API_KEY`).
func makeEmbedder(_ name: String, dimension: Int? = nil) throws -> (any Embedder)? {
    let environment = CLIIO.current.environment
    if name.hasPrefix(OpenAICompatibleEmbedder.identifierPrefix) {
        let model = String(name.dropFirst(OpenAICompatibleEmbedder.identifierPrefix.count))
        let base = environment["ENGRAM_EMBEDDING_URL"] ?? "https://api.openai.com"
        guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https" else {
            throw EngramError.invalid("ENGRAM_EMBEDDING_URL", "must be an http or https URL")
        }
        return try OpenAICompatibleEmbedder(
            baseURL: url, model: model, apiKey: environment["ENGRAM_EMBEDDING_API_KEY"] ?? environment["OPENAI_API_KEY"],
            dimension: dimension)
    }
    return try Embedders.make(name, dimension: dimension, environment: environment)
}
