import Foundation

/// One memory a retriever returned for a text recall, with what each side said about it.
struct RecallCandidate {
    var slot: Int32
    var rowID: Int64
    var id: MemoryID
    var cosine: Float?
    var vectorRank: Int?
    var keywordScore: Double?
    var keywordRank: Int?
}

/// Fuses the two rankings and adds the ranking signals. Pure functions of their inputs, so each rule is
/// tested on its own.
enum HybridRanker {
    /// Each candidate's relevance in 0...1.
    static func fused(
        _ candidates: [RecallCandidate], mode: RecallMode, fusion: Fusion, bounds: FusionBounds? = nil
    ) -> [Double] {
        let keyword =
            bounds?.keyword.map(normalizer(over:)) ?? normalizer(candidates.compactMap(\.keywordScore))
        switch mode {
        case .vector:
            return candidates.map { Double($0.cosine ?? 0) }
        case .keyword:
            return candidates.map { $0.keywordScore.map(keyword) ?? 0 }
        case .hybrid:
            switch fusion {
            case .weightedSum(let w):
                let vector =
                    bounds?.cosine.map(normalizer(over:))
                    ?? normalizer(candidates.compactMap { $0.cosine.map(Double.init) })
                return candidates.map { c in
                    w * (c.cosine.map { vector(Double($0)) } ?? 0) + (1 - w)
                        * (c.keywordScore.map(keyword) ?? 0)
                }
            case .reciprocalRank(let k):
                let best = 2 / (k + 1)
                return candidates.map { c in
                    let v = c.vectorRank.map { 1 / (k + Double($0)) } ?? 0
                    let t = c.keywordRank.map { 1 / (k + Double($0)) } ?? 0
                    return (v + t) / best
                }
            }
        }
    }

    /// Min-max normalisation over `scores` (all equal: 1).
    static func normalizer(_ scores: [Double]) -> (Double) -> Double {
        guard let lo = scores.min(), let hi = scores.max(), hi > lo else { return { _ in 1 } }
        return { ($0 - lo) / (hi - lo) }
    }

    /// Min-max normalisation over fixed bounds, clamped to 0...1 (an empty range: 1).
    static func normalizer(over range: ClosedRange<Double>) -> (Double) -> Double {
        guard range.upperBound > range.lowerBound else { return { _ in 1 } }
        return { min(1, max(0, ($0 - range.lowerBound) / (range.upperBound - range.lowerBound))) }
    }

    /// The explanation of one hit: its fused relevance plus each signal's boost.
    static func explain(
        _ c: RecallCandidate, fused: Double, context: Double = 0, memory: Memory, signals: RankingSignals,
        now: Date,
        boosted: Bool
    ) -> HitExplanation {
        var e = HitExplanation(
            cosine: c.cosine, vectorRank: c.vectorRank, keywordScore: c.keywordScore,
            keywordRank: c.keywordRank,
            fused: fused, context: context, recency: 0, importance: 0, outcome: 0, feedback: 0,
            score: fused + context)
        guard boosted else { return e }
        let age = max(0, now.timeIntervalSince(memory.createdAt))
        e.recency = signals.recency * exp2(-age / signals.recencyHalfLife)
        e.importance = signals.importance * 2 * (memory.importance - 0.5)
        e.outcome = memory.succeeded == true ? signals.outcome : 0
        let votes = Double(memory.helpfulCount - memory.unhelpfulCount)
        e.feedback = signals.feedback * votes / Double(memory.helpfulCount + memory.unhelpfulCount + 2)
        e.score = fused + context + e.recency + e.importance + e.outcome + e.feedback
        return e
    }

    /// Best first; equal scores put the newer memory (larger id) first, so the order is deterministic.
    static func ordered(_ a: (score: Double, id: MemoryID), _ b: (score: Double, id: MemoryID)) -> Bool {
        a.score != b.score ? a.score > b.score : a.id > b.id
    }
}
