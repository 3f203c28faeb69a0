import ArgumentParser
import Engram
import EngramService
import Foundation

struct Recall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Recall the memories that best answer a text (hybrid: meaning and keywords) or a vector (exact cosine).",
        discussion: """
            A text is recalled in hybrid mode by default: exact cosine top-k of its embedding and full-text BM25, \
            fused, plus small boosts for recent, important, successful and helpful memories. --mode vector ranks by \
            cosine alone (exact), --mode keyword by BM25 alone. A --vector query is always exact cosine. \
            --explain shows each hit's scores; --json always includes them as "explain".
            """)

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    @Argument(help: "What to look for (embedded with the store's embedder).")
    var text: String?

    @Option(name: .long, help: "The query vector as a JSON array.")
    var vector: String?

    @Option(
        name: .customLong("vector-file"),
        help: "A file holding the query vector as a JSON array ('-' reads stdin).")
    var vectorFile: String?

    @Option(name: .short, help: "How many memories to return.")
    var k = 5

    @Option(name: .customLong("min-score"), help: "Leave out hits with a lower cosine similarity.")
    var minScore: Float?

    @Option(help: "For a text: hybrid (default), vector or keyword.")
    var mode = "hybrid"

    @OptionGroup var ranking: RankingOptions

    @Flag(
        help:
            "Show why each hit ranked where it did (cosine, keyword score and ranks, fused score, context, boosts) and how the vectors were searched (exact scan or index, vectors scored)."
    )
    var explain = false

    @Flag(help: "Scan every matching vector even when the store's approximate index would serve the recall.")
    var exact = false

    @Option(help: "Threads for the vector scan (default: every core; results are the same for any count).")
    var threads: Int?

    @Option(
        help:
            "text (default), json, or prompt: the hits quoted as data for a model, inside markers the content cannot forge."
    )
    var format: String?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let format, !["text", "json", "prompt"].contains(format) {
            throw ValidationError("--format must be text, json or prompt")
        }
    }

    func run() async throws {
        let store = try location.open(readOnly: true, searchThreads: threads)
        defer { try? store.close() }
        var request: RecallRequest
        if let v = try readVector(json: vector, file: vectorFile) {
            guard text == nil else { throw EngramError.invalid("text", "give a text or a vector, not both") }
            var vectorRequest = RecallRequest(
                query: .vector(v), k: k, filter: try filters.filter(), minScore: minScore)
            vectorRequest.vectorField = "query"
            request = vectorRequest
        } else {
            guard let text else { throw ValidationError("give a text to recall, --vector or --vector-file") }
            try requireText(text)
            guard let mode = RecallMode(rawValue: mode) else {
                throw EngramError.invalid("--mode", "must be hybrid, vector or keyword")
            }
            request = RecallRequest(
                query: .text(text, try ranking.options(mode: mode)), k: k, filter: try filters.filter(),
                minScore: minScore)
        }
        request.exact = exact
        request.explainsPlan = explain
        let (hits, plan) = try await withService(store) { service, scope in
            try await service.recallExplained(request, scope: scope)
        }
        printHits(hits, plan: plan)
    }

    /// The hits; with --explain also the plan (after the hits as text, or as `{"hits", "plan"}` in JSON).
    func printHits(_ hits: [RecallHit], plan: RecallPlan? = nil) {
        if format == "prompt" {
            CLIIO.current.print(RecalledContext.render(hits))
        } else if output.json || format == "json" {
            let array = JSONValue.array(hits.map(MemoryJSON.object))
            CLIIO.current.print(
                JSONOutput.pretty(
                    plan.map { .object(["hits": array, "plan": ResultJSON.plan($0)]) } ?? array))
        } else {
            if hits.isEmpty { CLIIO.current.print("no matching memories") }
            for hit in hits {
                printMemory(hit.memory, score: hit.score)
                if explain, let e = hit.explanation { CLIIO.current.print("          " + Self.describe(e)) }
            }
            if let plan { CLIIO.current.print(Self.describe(plan)) }
        }
    }

    static func describe(_ plan: RecallPlan) -> String {
        var text = "plan: \(plan.path.rawValue) search, \(plan.vectorsScored) vectors scored"
        if plan.path == .index {
            text += " (\(plan.listsProbed) lists probed, \(plan.reranked) re-scored exactly)"
        }
        return text + "; " + plan.reason
    }

    static func describe(_ e: HitExplanation) -> String {
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        var parts: [String] = []
        parts.append(
            "cosine " + (e.cosine.map { f(Double($0)) } ?? "-") + (e.vectorRank.map { " (#\($0))" } ?? ""))
        parts.append("bm25 " + (e.keywordScore.map(f) ?? "-") + (e.keywordRank.map { " (#\($0))" } ?? ""))
        parts.append("fused " + f(e.fused))
        let boosts = [
            ("context", e.context), ("recency", e.recency), ("importance", e.importance),
            ("outcome", e.outcome),
            ("feedback", e.feedback),
        ]
        for (name, boost) in boosts where boost != 0 {
            parts.append("\(name) \(boost > 0 ? "+" : "")\(f(boost))")
        }
        return parts.joined(separator: "  ") + "  = " + f(e.score)
    }

}

/// Rejects an empty query text with a clear error.
func requireText(_ text: String) throws {
    if text.allSatisfy(\.isWhitespace) { throw EngramError.invalid("text", "must not be empty") }
}
