/// One query's search of a ``VectorIndex`` in a snapshot: nearest lists first, codes scored in the
/// integer kernel, the filter (and whether an entry's memory is still in its slot) checked for each code
/// that would enter the candidate heap, then the candidates re-scored exactly from the mapped vectors.
///
/// Widening: lists are probed past `probes` until `k` candidates that pass the filter are held (or every
/// list is read), so a recall is never short while `k` memories match.
struct IndexSearch {
    let snapshot: StoreSnapshot
    let index: VectorIndex
    let filter: CompiledFilter
    /// Lists to probe before stopping once `k` candidates are held.
    let probes: Int
    /// Candidates kept for exact re-scoring (at least `k`).
    let rerank: Int

    /// What searches scored, summed over the queries that share it.
    struct Work {
        var listsProbed = 0
        var codesScored = 0
        var reranked = 0
    }

    /// The best `k` matching slots for `query` (unit length), best first, with exact scores.
    func topK(_ query: [Float], k: Int, work: inout Work) -> [RankedSlot] {
        var centroidScores = [Float](repeating: 0, count: index.listCount)
        index.centroidScores(query, into: &centroidScores)
        let order = centroidScores.indices.sorted {
            centroidScores[$0] != centroidScores[$1] ? centroidScores[$0] > centroidScores[$1] : $0 < $1
        }
        let prepared = index.prepare(query)
        var heap = TopK(k: max(k, rerank))
        var scores = [Int32](repeating: 0, count: 0)
        let slots = snapshot.slots
        var probed = 0
        for list in order {
            if probed >= probes && heap.scores.count >= k { break }
            probed += 1
            let centre = centroidScores[list]
            index.lists[list].forEachRun { chunk, used in
                guard used > 0 else { return }
                if scores.count < used { scores = [Int32](repeating: 0, count: used) }
                scores.withUnsafeMutableBufferPointer { s in
                    index.integerScores(chunk.codes, count: used, prepared, into: s.baseAddress!)
                }
                work.codesScored += used
                var bar = prepared.integerThreshold(above: heap.threshold, centre: centre)
                for i in 0..<used where scores[i] > bar {
                    let slot = chunk.slots[i]
                    guard Int(slot) < slots.count else { continue }
                    let info = slots[Int(slot)]
                    guard info.isLive, info.id.indexTag == chunk.tags[i], filter.matches(info) else {
                        continue
                    }
                    let approximate = prepared.score(scores[i], centre: centre)
                    guard heap.admits(approximate) else { continue }
                    heap.insert(approximate, slot: slot)
                    bar = prepared.integerThreshold(above: heap.threshold, centre: centre)
                }
            }
        }
        work.listsProbed += probed
        return rescored(heap.sorted().map(\.slot), query: query, k: k, work: &work)
    }

    /// The best `k` of `candidates` by exact score (ties to the lower slot, as the exact scan).
    private func rescored(_ candidates: [Int32], query: [Float], k: Int, work: inout Work) -> [RankedSlot] {
        let m = snapshot.mapping
        guard let rows = m.rows else { return [] }
        let rowBytes = m.strideElements * m.element.size
        var exact = TopK(k: k)
        var seen = Set<Int32>()
        query.withUnsafeBufferPointer { q in
            // The exact scan's kernels, one row each: a memory scores the same on either path.
            var score: Float = 0
            for slot in candidates.sorted() where seen.insert(slot).inserted {
                let row = rows + Int(slot) * rowBytes
                switch m.element {
                case .float32:
                    BLAS.scores(
                        rows: row.assumingMemoryBound(to: Float.self), count: 1, dimension: m.dimension,
                        stride: m.strideElements, query: q.baseAddress!, into: &score)
                case .float16:
                    BLAS.scores(
                        halfRows: row.assumingMemoryBound(to: UInt16.self), count: 1, dimension: m.dimension,
                        stride: m.strideElements, query: q.baseAddress!, into: &score)
                }
                if exact.admits(score) { exact.insert(score, slot: slot) }
            }
        }
        work.reranked += seen.count
        return exact.sorted().map { entry in
            let info = snapshot.slots[Int(entry.slot)]
            return RankedSlot(slot: entry.slot, rowID: info.rowID, id: info.id, score: entry.score)
        }
    }
}
