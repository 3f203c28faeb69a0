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

    /// The best `k` of `candidates` by exact score: the exact scan's gather over them, so a memory scores
    /// as in a narrow exact recall and ties go to the lower slot.
    private func rescored(_ candidates: [Int32], query: [Float], k: Int, work: inout Work) -> [RankedSlot] {
        let unique = Array(Set(candidates)).sorted()
        work.reranked += unique.count
        return SearchKernel(snapshot: snapshot, filter: filter).topK([query], k: k, among: unique)[0]
    }
}
