public import Foundation

/// Which retrievers a text recall runs.
public enum RecallMode: String, Sendable, Hashable, CaseIterable {
    /// Exact cosine top-k of the embedded text, ranked by cosine alone (the vector recall's results).
    case vector
    /// Full-text BM25 alone (SQLite FTS5, porter stemming, English stop words dropped from the query).
    case keyword
    /// Both, fused, then adjusted by the ranking signals. The default.
    case hybrid
}

/// How hybrid recall combines the vector and the keyword ranking.
public enum Fusion: Sendable, Hashable {
    /// `vectorWeight × cosine′ + (1 − vectorWeight) × bm25′`, each score min-max normalised over the
    /// candidates (a memory the keyword side did not return counts 0 there). Uses the scores, so a
    /// clear winner on one side stays a clear winner.
    case weightedSum(vectorWeight: Double)
    /// Reciprocal-rank fusion: `Σ 1 / (k + rank)` over the two lists, scaled to 0...1. Uses ranks only.
    case reciprocalRank(k: Double)

    /// The default, chosen on the LoCoMo dev split (see the README's recall-quality section).
    public static let `default` = Fusion.weightedSum(vectorWeight: 0.5)

    /// Whether this is ``weightedSum(vectorWeight:)`` (whose scores ``FusionBounds`` normalise).
    package var isWeightedSum: Bool {
        if case .weightedSum = self { return true }
        return false
    }
}

/// BM25 weights of the indexed text columns (FTS5's `bm25()` weights).
public struct ColumnWeights: Sendable, Hashable {
    /// What happened.
    public var content: Double
    /// Why it happened.
    public var cause: Double
    /// What worked.
    public var outcome: Double
    /// The tags.
    public var tags: Double

    /// Weights; each must be finite and at least 0.
    public init(content: Double = 1, cause: Double = 1, outcome: Double = 1, tags: Double = 1) {
        self.content = content
        self.cause = cause
        self.outcome = outcome
        self.tags = tags
    }

    func validate() throws {
        try Limits.validateWeights(
            [("content", content), ("cause", cause), ("outcome", outcome), ("tags", tags)],
            field: "options.columns")
    }
}

/// Signals beyond relevance that hybrid and keyword recall add to the fused score (which lies in 0...1),
/// so that among memories of similar relevance the recent, important, successful and helpful ones come
/// first. Each boost is small next to relevance: it reorders near-ties, it does not bury a better match.
public struct RankingSignals: Sendable, Hashable {
    /// Added in full for a memory created now, halving every ``recencyHalfLife``.
    public var recency: Double
    /// The age at which the recency boost has halved.
    public var recencyHalfLife: TimeInterval
    /// Scales `2 × (importance − 0.5)`: +weight at importance 1, −weight at 0, nothing at the default 0.5.
    public var importance: Double
    /// Added for a memory whose approach worked (`succeeded == true`). Failures are not pushed down, only
    /// not lifted: what did not work is still worth recalling.
    public var outcome: Double
    /// Scales `(helpful − unhelpful) / (helpful + unhelpful + 2)` from agents' feedback.
    public var feedback: Double

    /// Signals; every weight must be finite and at least 0, the half-life positive.
    public init(
        recency: Double = 0.05, recencyHalfLife: TimeInterval = 30 * 86_400, importance: Double = 0.05,
        outcome: Double = 0.05, feedback: Double = 0.1
    ) {
        self.recency = recency
        self.recencyHalfLife = recencyHalfLife
        self.importance = importance
        self.outcome = outcome
        self.feedback = feedback
    }

    /// Relevance alone.
    public static let none = RankingSignals(recency: 0, importance: 0, outcome: 0, feedback: 0)

    func validate() throws {
        try Limits.validateWeights(
            [("recency", recency), ("importance", importance), ("outcome", outcome), ("feedback", feedback)],
            field: "options.signals")
        guard recencyHalfLife.isFinite, recencyHalfLife > 0 else {
            throw EngramError.invalid(
                "options.signals.recencyHalfLife", "must be a positive number of seconds")
        }
    }
}

/// How ``MemoryStore/recall(text:embedder:k:filter:minScore:options:)`` retrieves and ranks.
public struct TextRecallOptions: Sendable, Hashable {
    /// Vector, keyword or hybrid (the default).
    public var mode: RecallMode
    /// How hybrid mode combines the two rankings.
    public var fusion: Fusion
    /// How many candidates each retriever contributes before fusion (at least `k` are always taken).
    public var candidates: Int
    /// BM25 weights of the text columns.
    public var columns: ColumnWeights
    /// Recency, importance, outcome and feedback boosts (keyword and hybrid modes).
    public var signals: RankingSignals
    /// Time-neighbour context (hybrid mode): each candidate gains this share of the best
    /// relevance among the memories just before and after it in its namespace (passing the filter and
    /// created within ``neighbourWindow`` of it), and those neighbours become candidates too. 0 turns it
    /// off. The default was chosen on the LoCoMo dev split (`Benchmarks/README.md`).
    public var neighbours: Double
    /// Seconds between two memories' creation within which they count as neighbours (default one hour:
    /// the same conversation or episode, not the previous day's record).
    public var neighbourWindow: Double
    /// Score every matching vector even when the store's approximate index would serve the vector side.
    public var exact = false
    /// Fixed bounds for the min-max normalisation of the weighted-sum fusion and keyword mode, instead of
    /// the candidates' own: a cluster's gathering node sets the bounds of all shards' candidates, so that
    /// every shard's scores are on one scale.
    package var bounds: FusionBounds?
    /// Candidates each retriever contributes whatever `k` is (nil: `max(k, candidates)`): a gathering
    /// node's probe asks a shard for exactly its candidates with a `k` that returns them all.
    package var perSide: Int?

    /// The default share of a time neighbour's relevance (``neighbours``).
    public static let defaultNeighbours = 0.3

    /// Options; the defaults are what `engram recall TEXT` uses.
    public init(
        mode: RecallMode = .hybrid, fusion: Fusion = .default, candidates: Int = 30,
        columns: ColumnWeights = ColumnWeights(), signals: RankingSignals = RankingSignals(),
        neighbours: Double = TextRecallOptions.defaultNeighbours, neighbourWindow: Double = 3600
    ) {
        self.mode = mode
        self.fusion = fusion
        self.candidates = candidates
        self.columns = columns
        self.signals = signals
        self.neighbours = neighbours
        self.neighbourWindow = neighbourWindow
    }

    func validate() throws {
        guard (1...10_000).contains(candidates) else {
            throw EngramError.invalid("options.candidates", "must be from 1 to 10000")
        }
        switch fusion {
        case .weightedSum(let w):
            guard w.isFinite, (0...1).contains(w) else {
                throw EngramError.invalid("options.fusion", "the vector weight must be from 0 to 1")
            }
        case .reciprocalRank(let k):
            guard k.isFinite, k >= 0 else { throw EngramError.invalid("options.fusion", "k must be >= 0") }
        }
        try columns.validate()
        try signals.validate()
        guard neighbours.isFinite, (0...1).contains(neighbours) else {
            throw EngramError.invalid("options.neighbours", "must be from 0 to 1")
        }
        guard neighbourWindow.isFinite, neighbourWindow >= 0 else {
            throw EngramError.invalid("options.neighbourWindow", "must be a number of seconds, at least 0")
        }
    }
}

/// The ranges the fusion normalises cosines and BM25 scores over (nil: the candidates' own). A score
/// outside its range is clamped, so a memory beyond the lower bound counts as the weakest candidate does.
package struct FusionBounds: Sendable, Hashable {
    package var cosine: ClosedRange<Double>?
    package var keyword: ClosedRange<Double>?

    package init(cosine: ClosedRange<Double>?, keyword: ClosedRange<Double>?) {
        (self.cosine, self.keyword) = (cosine, keyword)
    }
}

/// Every score that went into a text-recall hit's rank, so a person can see why it ranked there.
public struct HitExplanation: Sendable, Hashable {
    /// Cosine similarity of the query and the memory (nil in keyword mode, which embeds nothing).
    public var cosine: Float?
    /// 1-based rank among the vector candidates, nil when the vector side did not return it.
    public var vectorRank: Int?
    /// BM25 (larger is better), nil when the keyword side did not return it.
    public var keywordScore: Double?
    /// 1-based rank among the keyword candidates.
    public var keywordRank: Int?
    /// The fused relevance in 0...1 (vector mode: the cosine).
    public var fused: Double
    /// The time-neighbour context added: the option's share of the best neighbour's fused relevance.
    public var context: Double = 0
    /// The recency boost added.
    public var recency: Double
    /// The importance boost added (negative below importance 0.5).
    public var importance: Double
    /// The outcome boost added.
    public var outcome: Double
    /// The feedback boost added (negative when agents found it unhelpful).
    public var feedback: Double
    /// The final score: fused plus context plus every boost.
    public var score: Double

    package init(
        cosine: Float?, vectorRank: Int?, keywordScore: Double?, keywordRank: Int?, fused: Double,
        context: Double = 0, recency: Double, importance: Double, outcome: Double, feedback: Double,
        score: Double
    ) {
        (self.cosine, self.vectorRank, self.keywordScore, self.keywordRank) =
            (cosine, vectorRank, keywordScore, keywordRank)
        (self.fused, self.context, self.recency, self.importance) = (fused, context, recency, importance)
        (self.outcome, self.feedback, self.score) = (outcome, feedback, score)
    }
}
