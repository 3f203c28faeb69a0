/// Nearest-rank quantiles, for latency percentiles in stats and benchmarks.
package enum Quantile {
    /// The q-quantile (0...1) of `values` by nearest rank, or nil when there are none.
    /// - Complexity: O(n log n).
    package static func of(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
