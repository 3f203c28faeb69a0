import Engram

/// Exact top-k by inner product over plain row-major vectors: ground truth for benchmarks and checks.
///
/// Scores with sgemm in float, keeps a margin of extra candidates, then re-ranks them in Double, so the
/// result is the Double-precision top-k (ties broken by the lower id) unless more than the margin of
/// candidates fall within float rounding of the k-th score.
public enum ExactSearch {
    /// The ids (row numbers) of the `k` rows of `base` with the largest inner product with each query.
    /// - Parameters:
    ///   - base: `n × dimension` floats, row-major.
    ///   - queries: `q × dimension` floats, row-major.
    ///   - dimension: the length of every row.
    ///   - k: how many ids to return per query.
    /// - Complexity: O(q × n × dimension).
    public static func topK(base: [Float], queries: [Float], dimension: Int, k: Int) -> [[Int32]] {
        // invariant: caller's shapes
        precondition(dimension > 0 && base.count % dimension == 0 && queries.count % dimension == 0)
        return base.withUnsafeBufferPointer { b in
            guard let rows = b.baseAddress else {
                return Array(repeating: [], count: queries.count / dimension)
            }
            return topK(
                rows: rows, count: base.count / dimension, stride: dimension, queries: queries,
                dimension: dimension, k: k)
        }
    }

    /// ``topK(base:queries:dimension:k:)`` over `count` rows laid out `stride` floats apart (a mapped
    /// `.fvecs` file, whose dimension words sit between the rows, or a matrix larger than memory).
    public static func topK(
        rows base: UnsafePointer<Float>, count n: Int, stride rowStride: Int, queries: [Float],
        dimension: Int,
        k: Int
    ) -> [[Int32]] {
        // invariant: caller's shapes
        precondition(dimension > 0 && rowStride >= dimension && queries.count % dimension == 0)
        let q = queries.count / dimension
        let keep = min(n, k + 32)
        guard n > 0, q > 0, keep > 0 else { return Array(repeating: [], count: q) }
        let queryBlock = 64
        let tile = 8192
        var result: [[Int32]] = []
        result.reserveCapacity(q)
        var scores = [Float](repeating: 0, count: queryBlock * tile)
        queries.withUnsafeBufferPointer { qs in
            guard let qs = qs.baseAddress else { return }
            for q0 in stride(from: 0, to: q, by: queryBlock) {
                let nq = min(queryBlock, q - q0)
                var heaps = (0..<nq).map { _ in TopK(k: keep) }
                for r0 in stride(from: 0, to: n, by: tile) {
                    let rows = min(tile, n - r0)
                    scores.withUnsafeMutableBufferPointer { out in
                        guard let out = out.baseAddress else { return }
                        BLAS.batchScores(
                            rows: base + r0 * rowStride, count: rows, dimension: dimension,
                            stride: rowStride,
                            queries: qs + q0 * dimension, queryCount: nq, queryStride: dimension,
                            into: out)
                    }
                    for j in 0..<nq {
                        for i in 0..<rows where heaps[j].admits(scores[j * rows + i]) {
                            heaps[j].insert(scores[j * rows + i], slot: Int32(r0 + i))
                        }
                    }
                }
                for j in 0..<nq {
                    let query = (q0 + j) * dimension
                    let rescored = heaps[j].sorted().map { candidate -> (Int32, Double) in
                        let row = Int(candidate.slot) * rowStride
                        var dot = 0.0
                        for t in 0..<dimension {
                            dot += Double(base[row + t]) * Double(queries[query + t])
                        }
                        return (candidate.slot, dot)
                    }
                    result.append(
                        rescored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(k).map(\.0))
                }
            }
        }
        return result
    }
}
