import Foundation
import Synchronization

/// How far an index build has come, for a progress bar.
public struct IndexBuildProgress: Sendable {
    /// `training` (k-means on a sample), then `assigning` (every vector to its list and code).
    public var phase: String
    /// Steps of the phase done: k-means rounds, or vectors assigned.
    public var done: Int
    /// Steps of the phase.
    public var total: Int
}

/// Builds a ``VectorIndex`` over a snapshot's live slots: spherical k-means on a sample for the lists,
/// per-dimension ranges of the sample for the codes, then every vector assigned and encoded. The heavy
/// parts (scoring tiles against the centroids) are sgemm calls split across threads.
struct IndexBuilder {
    let snapshot: StoreSnapshot
    let threads: Int

    /// k-means rounds over the sample; the lists change little after about eight.
    static let trainingRounds = 8
    /// Sample vectors per list for training.
    static let samplePerList = 48
    /// Rows scored against the centroids per sgemm call.
    static let tileRows = 1024

    /// Lists for `n` vectors: about 2√n, so a list holds about √n / 2 entries (500 at 1M), and scoring
    /// the centroids costs about as much as scanning a few lists.
    static func defaultListCount(_ n: Int) -> Int {
        max(1, min(65_536, Int((2 * Double(n).squareRoot()).rounded())))
    }

    func build(lists requested: Int?, bits: Int, progress: (IndexBuildProgress) -> Void) -> VectorIndex {
        let d = snapshot.mapping.dimension
        var live: [Int32] = []
        snapshot.slots.forEachLive { slot, _ in live.append(Int32(slot)) }
        let n = live.count
        let listCount = max(1, min(requested ?? Self.defaultListCount(n), max(1, n)))

        // Sample: evenly spaced live vectors.
        let sampleCount = min(n, listCount * Self.samplePerList)
        var sample = [Float](repeating: 0, count: sampleCount * d)
        sample.withUnsafeMutableBufferPointer { s in
            for i in 0..<sampleCount {
                snapshot.mapping.read(Int(live[i * n / max(1, sampleCount)]), into: s.baseAddress! + i * d)
            }
        }
        var centroids = [Float](repeating: 0, count: listCount * d)
        for c in 0..<listCount where sampleCount > 0 {
            let i = c * sampleCount / listCount
            for j in 0..<d { centroids[c * d + j] = sample[i * d + j] }
        }
        for round in 0..<Self.trainingRounds where sampleCount > listCount {
            progress(IndexBuildProgress(phase: "training", done: round, total: Self.trainingRounds))
            centroids = trainingRound(
                sample: sample, count: sampleCount, centroids: centroids, lists: listCount)
        }
        progress(IndexBuildProgress(phase: "training", done: Self.trainingRounds, total: Self.trainingRounds))

        // The codes' ranges: of the sample's residuals from their nearest centroids.
        var lower = [Float](repeating: sampleCount == 0 ? 0 : .infinity, count: d)
        var upper = [Float](repeating: sampleCount == 0 ? 0 : -.infinity, count: d)
        sample.withUnsafeBufferPointer { s in
            for start in stride(from: 0, to: sampleCount, by: Self.tileRows) {
                let rows = s.baseAddress! + start * d
                nearest(
                    rows, count: min(Self.tileRows, sampleCount - start), centroids: centroids,
                    lists: listCount
                ) {
                    i, list in
                    for j in 0..<d {
                        let r = rows[i * d + j] - centroids[list * d + j]
                        lower[j] = min(lower[j], r)
                        upper[j] = max(upper[j], r)
                    }
                }
            }
        }
        let step = zip(lower, upper).map { ($1 - $0) / Float((1 << bits) - 1) }

        // Every live vector to its nearest centroid.
        var assignment = [Int32](repeating: 0, count: n)
        assignment.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            forEachTile(of: live, progress: progress) { start, tile, count in
                nearest(tile, count: count, centroids: centroids, lists: listCount) { i, list in
                    out[start + i] = Int32(list)
                }
            }
        }

        // One exactly sized chunk per list, filled in parallel at precomputed positions.
        var sizes = [Int](repeating: 0, count: listCount)
        for a in assignment { sizes[Int(a)] += 1 }
        let codeBytes = VectorIndex.codeBytes(dimension: d, bits: bits)
        let chunks = sizes.map { EntryChunk(capacity: $0, codeBytes: codeBytes) }
        var fill = [Int](repeating: 0, count: listCount)
        var position = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let list = Int(assignment[i])
            position[i] = Int32(fill[list])
            fill[list] += 1
            let chunk = chunks[list]
            chunk.slots[Int(position[i])] = live[i]
            chunk.tags[Int(position[i])] = snapshot.slots[Int(live[i])].id.indexTag
        }
        var index = VectorIndex(
            dimension: d, bits: bits, centroids: centroids, lower: lower, step: step,
            lists: chunks.map { EntryList(filled: $0) })
        parallelSlices(n, threads: threads) { _, range in
            var vector = [Float](repeating: 0, count: d)
            vector.withUnsafeMutableBufferPointer { v in
                for i in range {
                    snapshot.mapping.read(Int(live[i]), into: v.baseAddress!)
                    let chunk = chunks[Int(assignment[i])]
                    index.encode(
                        v.baseAddress!, list: Int(assignment[i]),
                        into: chunk.codes + Int(position[i]) * codeBytes)
                }
            }
        }
        progress(IndexBuildProgress(phase: "tuning", done: 0, total: 1))
        index.probes = tunedProbes(index, live: live)
        progress(IndexBuildProgress(phase: "tuning", done: 1, total: 1))
        return index
    }

    /// The recall@10 a query's default probes aim at, and how many of the store's vectors it is measured on.
    static let tuningRecall = 0.99
    static let tuningQueries = 256

    /// The fewest lists whose search gives recall@10 ≥ ``tuningRecall`` against the exact scan, on evenly
    /// spaced vectors of the store used as queries (doubling, then bisection). Queries unlike the stored
    /// vectors may need more: ``ApproximateSearch/probes`` sets them.
    private func tunedProbes(_ index: VectorIndex, live: [Int32]) -> Int {
        let n = live.count
        guard n > 10 else { return index.listCount }
        let m = min(Self.tuningQueries, n)
        let queries = (0..<m).map { i in snapshot.mapping.vector(Int(live[(i * n + n / 2) / m % n])) }
        let filter = CompiledFilter(.all, names: snapshot.names, now: Date(), metadataRowIDs: nil)
        let exact = SearchKernel(snapshot: snapshot, filter: filter, threads: threads).topK(queries, k: 10)
        func recall(_ probes: Int) -> Double {
            let search = IndexSearch(
                snapshot: snapshot, index: index, filter: filter, probes: probes, rerank: 64)
            var found = 0
            var wanted = 0
            var work = IndexSearch.Work()
            for (q, truth) in zip(queries, exact) {
                let ids = Set(truth.map(\.slot))
                wanted += ids.count
                found += search.topK(q, k: 10, work: &work).filter { ids.contains($0.slot) }.count
            }
            return Double(found) / Double(max(1, wanted))
        }
        return ApproximateSearch.fewestProbes(
            reaching: Self.tuningRecall, lists: index.listCount, recall: recall)
    }

    /// Calls `body(start, tile, count)` for tiles of `slots` read into dense float rows, on `threads`.
    private func forEachTile(
        of slots: [Int32], progress: (IndexBuildProgress) -> Void,
        _ body: (_ start: Int, _ tile: UnsafePointer<Float>, _ count: Int) -> Void
    ) {
        let d = snapshot.mapping.dimension
        let tiles = (slots.count + Self.tileRows - 1) / Self.tileRows
        let done = Atomic<Int>(0)
        parallelSlices(tiles, threads: threads, slicesPerThread: 16) { part, range in
            var tile = [Float](repeating: 0, count: Self.tileRows * d)
            tile.withUnsafeMutableBufferPointer { t in
                for index in range {
                    let start = index * Self.tileRows
                    let count = min(Self.tileRows, slots.count - start)
                    for i in 0..<count {
                        snapshot.mapping.read(Int(slots[start + i]), into: t.baseAddress! + i * d)
                    }
                    body(start, t.baseAddress!, count)
                    let finished = done.add(count, ordering: .relaxed).newValue
                    if part == 0 {
                        progress(IndexBuildProgress(phase: "assigning", done: finished, total: slots.count))
                    }
                }
            }
        }
        progress(IndexBuildProgress(phase: "assigning", done: slots.count, total: slots.count))
    }

    /// Calls `body(row, list)` with the nearest centroid of each of `count` rows.
    private func nearest(
        _ rows: UnsafePointer<Float>, count: Int, centroids: [Float], lists: Int, _ body: (Int, Int) -> Void
    ) {
        let d = snapshot.mapping.dimension
        var scores = [Float](repeating: 0, count: count * lists)
        centroids.withUnsafeBufferPointer { c in
            scores.withUnsafeMutableBufferPointer { s in
                BLAS.batchScores(
                    rows: c.baseAddress!, count: lists, dimension: d, stride: d, queries: rows,
                    queryCount: count, queryStride: d, into: s.baseAddress!)
            }
        }
        for i in 0..<count {
            var best = 0
            var bestScore = -Float.infinity
            for c in 0..<lists where scores[i * lists + c] > bestScore {
                (best, bestScore) = (c, scores[i * lists + c])
            }
            body(i, best)
        }
    }

    /// One k-means round: assign the sample, then move each centroid to its members' normalised mean
    /// (an empty list takes a sample vector, spread over the sample by list number).
    private func trainingRound(sample: [Float], count: Int, centroids: [Float], lists: Int) -> [Float] {
        let d = snapshot.mapping.dimension
        let tiles = (count + Self.tileRows - 1) / Self.tileRows
        let parts = max(1, min(threads, tiles))
        var sums = [[Double]](repeating: [Double](repeating: 0, count: lists * d), count: parts)
        var members = [[Int]](repeating: [Int](repeating: 0, count: lists), count: parts)
        sample.withUnsafeBufferPointer { s in
            sums.withUnsafeMutableBufferPointer { sums in
                members.withUnsafeMutableBufferPointer { members in
                    parallelSlices(tiles, threads: parts) { part, range in
                        for t in range {
                            let start = t * Self.tileRows
                            let rows = s.baseAddress! + start * d
                            nearest(
                                rows, count: min(Self.tileRows, count - start), centroids: centroids,
                                lists: lists
                            ) { i, list in
                                members[part][list] += 1
                                for j in 0..<d { sums[part][list * d + j] += Double(rows[i * d + j]) }
                            }
                        }
                    }
                }
            }
        }
        var next = [Float](repeating: 0, count: lists * d)
        for c in 0..<lists {
            var total = [Double](repeating: 0, count: d)
            var n = 0
            for p in 0..<parts {
                n += members[p][c]
                for j in 0..<d { total[j] += sums[p][c * d + j] }
            }
            if n == 0 {
                let i = (c * 7919 + 13) % count
                for j in 0..<d { next[c * d + j] = sample[i * d + j] }
                continue
            }
            let norm = total.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { next[c * d + j] = norm > 0 ? Float(total[j] / norm) : 0 }
        }
        return next
    }
}
