import Foundation

/// Ranking-quality measures of one query's hits against its relevant items, and their averages.
struct RetrievalMetrics: Sendable, Equatable {
    /// Share of the relevant items among the first n hits, for n in ``cutoffs``.
    var recall: [Int: Double]
    /// 1 when a relevant item is among the first 10 hits.
    var hitAt10: Double
    /// 1 / rank of the first relevant hit (0 when none is returned).
    var reciprocalRank: Double
    /// Binary-gain nDCG over the first 10 hits.
    var ndcgAt10: Double

    static let cutoffs = [1, 5, 10, 20]

    /// The measures for one ranked list of ids.
    init<ID: Hashable>(ranked: [ID], relevant: Set<ID>) {
        // checked when parsed
        precondition(!relevant.isEmpty, "a judged query has at least one relevant item")
        recall = Dictionary(
            uniqueKeysWithValues: Self.cutoffs.map { n in
                (n, Double(ranked.prefix(n).filter(relevant.contains).count) / Double(relevant.count))
            })
        hitAt10 = ranked.prefix(10).contains(where: relevant.contains) ? 1 : 0
        reciprocalRank = ranked.firstIndex(where: relevant.contains).map { 1 / Double($0 + 1) } ?? 0
        var dcg = 0.0
        for (i, id) in ranked.prefix(10).enumerated() where relevant.contains(id) {
            dcg += 1 / log2(Double(i + 2))
        }
        let ideal = (0..<min(relevant.count, 10)).reduce(0.0) { $0 + 1 / log2(Double($1 + 2)) }
        ndcgAt10 = dcg / ideal
    }

    private init(recall: [Int: Double], hitAt10: Double, reciprocalRank: Double, ndcgAt10: Double) {
        self.recall = recall
        self.hitAt10 = hitAt10
        self.reciprocalRank = reciprocalRank
        self.ndcgAt10 = ndcgAt10
    }

    /// The mean of each measure over several queries.
    static func mean(_ all: [RetrievalMetrics]) -> RetrievalMetrics {
        let n = Double(max(all.count, 1))
        return RetrievalMetrics(
            recall: Dictionary(
                uniqueKeysWithValues: cutoffs.map { c in (c, all.reduce(0) { $0 + ($1.recall[c] ?? 0) } / n) }
            ),
            hitAt10: all.reduce(0) { $0 + $1.hitAt10 } / n,
            reciprocalRank: all.reduce(0) { $0 + $1.reciprocalRank } / n,
            ndcgAt10: all.reduce(0) { $0 + $1.ndcgAt10 } / n)
    }
}
