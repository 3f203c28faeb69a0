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

    /// Threads the scan may use (see ``StoreOptions/searchThreads``).
    var threads = 1

    /// Below this much arithmetic (rows × queries × dimension) a scan stays on one thread: waking
    /// helpers costs more than it saves (about 5,000 rows of 384 dimensions for one query).
    static let parallelWork = 1 << 21

    /// The best `k` matching slots for each (normalised) query, best first.
    /// - Complexity: O(queries × candidates × dimension) arithmetic, one pass over the candidate rows.
    func topK(_ queries: [[Float]], k: Int) -> [[RankedSlot]] {
        let n = snapshot.slots.count
        guard n > 0, !filter.matchesNothing else { return queries.map { _ in [] } }
        var candidates: [Int32]?
        if !filter.isUnconstrained {
            var list: [Int32] = []
            snapshot.slots.forEachMatch(filter) { slot, _ in list.append(Int32(slot)) }
            if list.count * Self.gatherFraction < n { candidates = list.sorted() }
        }
        return topK(queries, k: k, among: candidates)
    }

    /// The best `k` of `candidates` (ascending slots, taken as matching) for each query, or of every live
    /// matching slot when nil: the gather path, which the index also re-scores its candidates with.
    func topK(_ queries: [[Float]], k: Int, among candidates: [Int32]?) -> [[RankedSlot]] {
        let n = snapshot.slots.count
        guard n > 0, let rows = snapshot.mapping.rows else { return queries.map { _ in [] } }
        let d = snapshot.mapping.dimension
        let rowBytes = snapshot.mapping.strideElements * snapshot.mapping.element.size
        let total = candidates?.count ?? n
        // Buffers no larger than the rows to score: a small filtered recall must not zero megabytes.
        let tileRows = min(Self.tileRows(queryCount: queries.count, rowBytes: rowBytes), total)
        guard tileRows > 0 else { return queries.map { _ in [] } }
        counter?.add(total * queries.count)
        let tiles = (total + tileRows - 1) / tileRows
        let parts = total * queries.count * d >= Self.parallelWork ? min(max(1, threads), tiles) : 1

        // Each part scans whole tiles (the same tiles as one thread would, so every row gets the same
        // score) into its own heaps; a busy pool leaves all of them to this thread.
        var partHeaps = [[TopK]](repeating: queries.map { _ in TopK(k: k) }, count: parts)
        let queryMatrix = queries.flatMap { $0 }
        queryMatrix.withUnsafeBufferPointer { q in
            guard let q = q.baseAddress else { return }
            partHeaps.withUnsafeMutableBufferPointer { heaps in
                parallelSlices(tiles, threads: parts, aloneWhenBusy: true) { part, range in
                    scan(
                        tiles: range, tileRows: tileRows, total: total, candidates: candidates, rows: rows,
                        queries: q, queryCount: queries.count, into: &heaps[part])
                }
            }
        }
        return (0..<queries.count).map { qi in
            Self.merged(partHeaps.map { $0[qi] }, k: k).map { entry in
                let info = snapshot.slots[Int(entry.slot)]
                return RankedSlot(slot: entry.slot, rowID: info.rowID, id: info.id, score: entry.score)
            }
        }
    }

    /// The best `k` of several heaps' entries, best first, in TopK's order (higher score, then lower slot).
    static func merged(_ heaps: [TopK], k: Int) -> [(slot: Int32, score: Float)] {
        guard heaps.count > 1 else { return heaps.first?.sorted() ?? [] }
        let all = heaps.flatMap { $0.sorted() }
        return Array(all.sorted { $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot }.prefix(k))
    }

    /// Scores tiles `tiles` (of `tileRows` rows or candidates each, in order) into `heaps`.
    private func scan(
        tiles: Range<Int>, tileRows: Int, total: Int, candidates: [Int32]?, rows: UnsafeRawPointer,
        queries q: UnsafePointer<Float>, queryCount: Int, into heaps: inout [TopK]
    ) {
        let d = snapshot.mapping.dimension
        let stride = snapshot.mapping.strideElements
        let element = snapshot.mapping.element
        let rowBytes = stride * element.size
        var scores = [Float](repeating: 0, count: tileRows * queryCount)
        var positions = [Int32](repeating: 0, count: tileRows)
        if let candidates {
            // Gather path: copy candidate rows into a dense tile, score it, map back to slots.
            var tile = [Float](repeating: 0, count: tileRows * stride)
            for t in tiles {
                let start = t * tileRows
                let count = min(tileRows, total - start)
                tile.withUnsafeMutableBufferPointer { t in
                    guard let t = t.baseAddress else { return }
                    for i in 0..<count {
                        snapshot.mapping.read(Int(candidates[start + i]), into: t + i * stride)
                    }
                }
                tile.withUnsafeBufferPointer { t in
                    guard let t = t.baseAddress else { return }
                    score(
                        rows: UnsafeRawPointer(t), element: .float32, count: count, d: d, stride: stride,
                        queries: q, nq: queryCount, into: &scores)
                }
                for qi in 0..<queryCount {
                    forEachAdmitted(
                        scores, from: qi * count, count: count, heap: &heaps[qi], positions: &positions
                    ) {
                        i, score, heap in heap.insert(score, slot: candidates[start + i])
                    }
                }
            }
        } else {
            // Dense path: stream every row; check liveness and the filter only for scores that would
            // enter a heap, so the filter costs almost nothing.
            for t in tiles {
                let start = t * tileRows
                let count = min(tileRows, total - start)
                score(
                    rows: rows + start * rowBytes, element: element, count: count, d: d, stride: stride,
                    queries: q, nq: queryCount, into: &scores)
                for qi in 0..<queryCount {
                    forEachAdmitted(
                        scores, from: qi * count, count: count, heap: &heaps[qi], positions: &positions
                    ) {
                        i, score, heap in
                        let info = snapshot.slots[start + i]
                        if info.isLive && filter.matches(info) { heap.insert(score, slot: Int32(start + i)) }
                    }
                }
            }
        }
    }

    /// Calls `body` with each of `count` scores from `base` that `heap` admits, in order, with its
    /// position from `base`: the scores above the heap's threshold are found sixteen at a time, then
    /// each is checked again, since every insertion may raise the threshold.
    @inline(__always)
    private func forEachAdmitted(
        _ scores: [Float], from base: Int, count: Int, heap: inout TopK, positions: inout [Int32],
        _ body: (_ position: Int, _ score: Float, _ heap: inout TopK) -> Void
    ) {
        let found = scores.withUnsafeBufferPointer { s in
            positions.withUnsafeMutableBufferPointer { p in
                BLAS.indices(
                    of: s.baseAddress! + base, count: count, above: heap.threshold, into: p.baseAddress!)
            }
        }
        for j in 0..<found {
            let i = Int(positions[j])
            let score = scores[base + i]
            if heap.admits(score) { body(i, score, &heap) }
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
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d,
                    stride: stride,
                    query: queries, into: out)
            case (.float32, 2...Self.smallBatch):
                BLAS.smallBatchScores(
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d,
                    stride: stride,
                    queries: queries, queryCount: nq, into: out)
            case (.float32, _):
                BLAS.batchScores(
                    rows: rows.assumingMemoryBound(to: Float.self), count: count, dimension: d,
                    stride: stride,
                    queries: queries, queryCount: nq, queryStride: d, into: out)
            case (.float16, 1):
                BLAS.scores(
                    halfRows: rows.assumingMemoryBound(to: UInt16.self), count: count, dimension: d,
                    stride: stride,
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
