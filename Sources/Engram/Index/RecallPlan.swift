/// How one recall found its vectors: the exact scan or the approximate index, and how much it scored.
public struct RecallPlan: Sendable, Hashable {
    /// Which search ran.
    public enum Path: String, Sendable, Hashable {
        /// Every matching vector scored: the exact result.
        case exact
        /// The approximate index: nearest lists' codes scored, the best candidates re-scored exactly.
        case index
    }

    /// Which search ran.
    public var path: Path
    /// Why the planner chose the path.
    public var reason: String
    /// Memories the filter admits, estimated from a sample of the slots when the filter is wide.
    public var estimatedMatches: Int
    /// Vectors scored: full vectors on the exact path; codes plus re-scored vectors on the index path.
    public var vectorsScored: Int
    /// Lists of the index read (0 on the exact path).
    public var listsProbed: Int
    /// Candidates re-scored with their exact vectors (0 on the exact path).
    public var reranked: Int
}

/// Settings of the approximate tier: when the planner uses it, and how hard a search works.
public struct ApproximateSearch: Sendable, Hashable {
    /// A recall whose filter admits at most this many memories scans them exactly.
    public var exactBelow: Int
    /// ... or at most this fraction of the store.
    public var exactFraction: Double
    /// Lists to read per query before stopping (more when a filter admits a smaller part of the store;
    /// past it while fewer than `k` candidates pass the filter). Nil: the index's own, tuned when it was
    /// built to reach recall@10 0.99 on a sample of the store's vectors.
    public var probes: Int?
    /// Candidates re-scored with their exact vectors (at least `k`).
    public var rerank: Int

    /// Settings; the defaults were chosen on 1M × 384 (see Benchmarks/README.md).
    public init(exactBelow: Int = 20_000, exactFraction: Double = 0.02, probes: Int? = nil, rerank: Int = 64)
    {
        self.exactBelow = exactBelow
        self.exactFraction = exactFraction
        self.probes = probes
        self.rerank = rerank
    }

    /// The fewest probes (at most `lists`) whose `recall` reaches `target`, assuming recall grows with the
    /// probes: doubling from 1, then bisection. When doubling the probes no longer raises recall (by at
    /// least `plateau`) within 0.05 of the target, the target is out of reach (the re-scored candidates
    /// bound it; on a 10M float16 store recall stopped at 0.98), and this settles for the fewest probes
    /// with the recall already reached instead of reading every list. The index's build tunes its
    /// default with it; benchmarks tune on their own queries.
    package static func fewestProbes(
        reaching target: Double, lists: Int, plateau: Double = 0.001, recall: (Int) throws -> Double
    ) rethrows -> Int {
        var target = target
        var low = 0
        var high = 1
        var reached = -Double.infinity  // recall at `low`
        while high < lists {
            let r = try recall(high)
            if r >= target { break }
            // Only near the target: low on the curve, a doubling that gains little is noise, not a ceiling.
            if low > 0 && r < reached + plateau && r >= target - 0.05 {
                (target, high, low) = (reached, low, low / 2)
                break
            }
            (reached, low, high) = (r, high, min(lists, high * 2))
        }
        while high - low > 1 {
            let mid = (low + high) / 2
            if try recall(mid) >= target { high = mid } else { low = mid }
        }
        return high
    }

    /// Lists to probe in `index` when the filter admits `matches` of `total` memories.
    func probes(in index: VectorIndex, matches: Int, total: Int) -> Int {
        let lists = index.listCount
        let base = probes ?? (index.probes > 0 ? index.probes : max(1, lists / 16))
        let widened = Double(base) * Double(max(1, total)) / Double(max(1, matches))
        return max(1, min(lists, Int(widened.rounded(.up))))
    }
}

/// What a store's index holds (``MemoryStore/indexStatus()``).
public struct IndexStatus: Sendable, Hashable {
    /// Inverted lists.
    public var lists: Int
    /// Bits per dimension of the codes.
    public var bits: Int
    /// Lists a recall reads by default (tuned at the build; ``ApproximateSearch/probes`` overrides it).
    public var probes: Int
    /// Entries, including those left by forgotten or updated memories until the next compaction.
    public var entries: Int
    /// Live memories (each has exactly one current entry).
    public var memories: Int
    /// Memory the index takes (centroids, codes, slots and tags).
    public var bytes: Int
    /// Bytes of the vectors it indexes, for comparison.
    public var vectorBytes: Int
}
