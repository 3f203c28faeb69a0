import Synchronization

/// One scored slot.
struct RankedSlot {
    var slot: Int32
    var rowID: Int64
    /// The memory the slot held in the snapshot: a rowid alone can be reused after a forget.
    var id: MemoryID
    var score: Float
}

/// Exact top-k over one snapshot: BLAS scores in row tiles, then bounded heaps.
struct SearchKernel {
    let snapshot: StoreSnapshot
    let filter: CompiledFilter
    /// Where the rows scored are counted (the store's monitoring), if anywhere.
    var counter: ScanCounter? = nil

    /// Use the gather path when at most this fraction of the slots are candidates: copying a few rows
    /// is cheaper than streaming all of them.
    static let gatherFraction = 4

    /// The best `k` matching slots for each (normalised) query, best first.
    /// - Complexity: O(queries × candidates × dimension) arithmetic, one pass over the candidate rows.
    func topK(_ queries: [[Float]], k: Int) -> [[RankedSlot]] {
        let n = snapshot.slots.count
        guard n > 0, !filter.matchesNothing, let rows = snapshot.mapping.rows else {
            return queries.map { _ in [] }
        }
        let d = snapshot.mapping.dimension
        let stride = snapshot.mapping.strideElements
        let element = snapshot.mapping.element
        let rowBytes = stride * element.size
        var heaps = queries.map { _ in TopK(k: k) }
        let queryMatrix = queries.flatMap { $0 }
        var candidates: [Int32]?
        if !filter.isUnconstrained {
            var list: [Int32] = []
            snapshot.slots.forEachMatch(filter) { slot, _ in list.append(Int32(slot)) }
            if list.count * Self.gatherFraction < n { candidates = list.sorted() }
        }
        // Buffers no larger than the rows to score: a small filtered recall must not zero megabytes.
        let tileRows = min(Self.tileRows(queryCount: queries.count, rowBytes: rowBytes), candidates?.count ?? n)
        guard tileRows > 0 else { return queries.map { _ in [] } }
        counter?.add((candidates?.count ?? n) * queries.count)
        var scores = [Float](repeating: 0, count: tileRows * queries.count)

        queryMatrix.withUnsafeBufferPointer { q in
            guard let q = q.baseAddress else { return }
            if let candidates {
                // Gather path: copy candidate rows into a dense tile, score it, map back to slots.
                var tile = [Float](repeating: 0, count: tileRows * stride)
                for start in Swift.stride(from: 0, to: candidates.count, by: tileRows) {
                    let count = min(tileRows, candidates.count - start)
                    tile.withUnsafeMutableBufferPointer { t in
                        guard let t = t.baseAddress else { return }
                        for i in 0..<count {
                            let source = rows + Int(candidates[start + i]) * rowBytes
                            switch element {
                            case .float32:
                                (t + i * stride).update(from: source.assumingMemoryBound(to: Float.self), count: d)
                            case .float16:
                                BLAS.widen(source.assumingMemoryBound(to: UInt16.self), into: t + i * stride, count: d)
                            }
                        }
                    }
                    tile.withUnsafeBufferPointer { t in
                        guard let t = t.baseAddress else { return }
                        score(rows: UnsafeRawPointer(t), element: .float32, count: count, d: d, stride: stride,
                              queries: q, nq: queries.count, into: &scores)
                    }
                    for qi in 0..<queries.count {
                        let base = qi * count
                        for i in 0..<count where heaps[qi].admits(scores[base + i]) {
                            heaps[qi].insert(scores[base + i], slot: candidates[start + i])
                        }
                    }
                }
            } else {
                // Dense path: stream every row; check liveness and the filter only for scores that
                // would enter a heap, so the filter costs almost nothing.
                for start in Swift.stride(from: 0, to: n, by: tileRows) {
                    let count = min(tileRows, n - start)
                    score(
                        rows: rows + start * rowBytes, element: element, count: count, d: d, stride: stride,
                        queries: q, nq: queries.count, into: &scores)
                    for qi in 0..<queries.count {
                        let base = qi * count
                        for i in 0..<count where heaps[qi].admits(scores[base + i]) {
                            let info = snapshot.slots[start + i]
                            if info.isLive && filter.matches(info) {
                                heaps[qi].insert(scores[base + i], slot: Int32(start + i))
                            }
                        }
                    }
                }
            }
        }
        return heaps.map { heap in
            heap.sorted().map { entry in
                let info = snapshot.slots[Int(entry.slot)]
                return RankedSlot(slot: entry.slot, rowID: info.rowID, id: info.id, score: entry.score)
            }
        }
    }

    /// Batches up to this size are scored four queries per pass over a tile that stays in L2, instead
    /// of by sgemm: OpenBLAS packs the whole row block for every call, which costs a server's
    /// coalesced batches more than the arithmetic. 32 measured best for served recall at 100k × 384
    /// (Benchmarks/README.md: 8, 32 and 128 compared).
    static let smallBatch = 32

    /// Rows per tile: for a small batch, about 512 KiB of rows (read from memory once, then from L2 for
    /// the other groups of four queries); otherwise the score block stays within about 4 MiB.
    static func tileRows(queryCount: Int, rowBytes: Int) -> Int {
        if (2...smallBatch).contains(queryCount) { return max(64, (512 << 10) / max(1, rowBytes)) }
        return max(256, min(8192, (1 << 20) / max(1, queryCount)))
    }

    /// Scores `count` rows (of `element` type, `stride` elements apart) against every query.
    private func score(
        rows: UnsafeRawPointer, element: VectorElement, count: Int, d: Int, stride: Int,
        queries: UnsafePointer<Float>, nq: Int, into scores: inout [Float]
    ) {
        scores.withUnsafeMutableBufferPointer { out in
            guard let out = out.baseAddress else { return }
            switch (element, nq) {
            case (.float32, 1):
                BLAS.scores(
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d, stride: stride,
                    query: queries, into: out)
            case (.float32, 2...Self.smallBatch):
                BLAS.smallBatchScores(
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d, stride: stride,
                    queries: queries, queryCount: nq, into: out)
            case (.float32, _):
                BLAS.batchScores(
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d, stride: stride,
                    queries: queries, queryCount: nq, queryStride: d, into: out)
            case (.float16, 1):
                BLAS.scores(
                    halfRows: rows.assumingMemoryBound(to: UInt16.self), count: count, dimension: d, stride: stride,
                    query: queries, into: out)
            case (.float16, _):
                // Many queries: widen the tile once, then one sgemm.
                var wide = [Float](repeating: 0, count: count * stride)
                wide.withUnsafeMutableBufferPointer { w in
                    guard let w = w.baseAddress else { return }
                    BLAS.widen(rows.assumingMemoryBound(to: UInt16.self), into: w, count: count * stride)
                    BLAS.batchScores(
                        rows: w, count: count, dimension: d, stride: stride, queries: queries, queryCount: nq,
                        queryStride: d, into: out)
                }
            }
        }
    }
}

/// Rows scored by a store's scans since it opened, for monitoring (`vectors scanned`).
final class ScanCounter: Sendable {
    private let total = Atomic<Int>(0)
    func add(_ rows: Int) { total.add(rows, ordering: .relaxed) }
    var value: Int { total.load(ordering: .relaxed) }
}
