/// Keeps the `k` best (score, slot) pairs seen so far in a bounded min-heap.
///
/// The heap's root is the k-th best score: once the heap is full, a candidate costs one comparison
/// against that cached threshold, and only better ones pay the O(log k) sift.
///
/// "Best" is a total order: higher score, then lower slot. Candidates come in increasing slot order, so
/// one that ties the threshold never beats the root and `admits` stays one comparison; and a heap keeps
/// exactly the first k of all it saw in that order, so the top k of a scan split into parts is the top
/// k of the parts' heaps merged: identical whatever the thread count.
package struct TopK {
    let k: Int
    private(set) var scores: [Float] = []
    private(set) var slots: [Int32] = []
    /// The score a candidate must beat to enter. `-infinity` until the heap is full.
    private(set) var threshold: Float = -.infinity

    package init(k: Int) {
        self.k = k
        scores.reserveCapacity(min(k, 1 << 16))
        slots.reserveCapacity(min(k, 1 << 16))
    }

    /// Offers a candidate. Call only when `score > threshold` to keep the fast path one comparison.
    /// - Complexity: O(log k).
    package mutating func insert(_ score: Float, slot: Int32) {
        if scores.count < k {
            scores.append(score)
            slots.append(slot)
            siftUp(scores.count - 1)
            if scores.count == k { threshold = scores[0] }
            return
        }
        guard score > scores[0] else { return }
        scores[0] = score
        slots[0] = slot
        siftDown(0)
        threshold = scores[0]
    }

    /// Whether a score would enter the heap.
    @inline(__always) package func admits(_ score: Float) -> Bool { score > threshold }

    /// The kept pairs, best first (ties by lower slot first, for a stable order).
    package func sorted() -> [(slot: Int32, score: Float)] {
        zip(slots, scores).map { (slot: $0, score: $1) }.sorted {
            $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot
        }
    }

    /// Whether entry `a` ranks below entry `b` (the root is the lowest).
    @inline(__always) private func below(_ a: Int, _ b: Int) -> Bool {
        scores[a] != scores[b] ? scores[a] < scores[b] : slots[a] > slots[b]
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard below(child, parent) else { return }
            scores.swapAt(child, parent)
            slots.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        let n = scores.count
        while true {
            let left = 2 * parent + 1
            guard left < n else { return }
            let right = left + 1
            let smaller = right < n && below(right, left) ? right : left
            guard below(smaller, parent) else { return }
            scores.swapAt(smaller, parent)
            slots.swapAt(smaller, parent)
            parent = smaller
        }
    }
}
