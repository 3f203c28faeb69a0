import CKernels

/// The approximate tier: an inverted-file index with scalar codes of 8 or 4 bits per dimension.
///
/// The vectors are split into `lists` by their nearest centroid (spherical k-means on a sample); each
/// list holds, per memory, its vector quantised to `bits` per dimension against per-dimension ranges.
/// A search scores the centroids, scans the codes of the nearest lists with the filter checked inside
/// the scan, and re-scores the best candidates with the exact vectors, so returned scores are exact.
/// Writes add entries as they happen (``add(slot:tag:vector:)``); forgotten memories leave entries that
/// fail the tag check until the next compaction rebuilds the lists.
struct VectorIndex: Sendable {
    let dimension: Int
    /// Bits per dimension of the codes: 8, or 4 (two dimensions per byte).
    let bits: Int
    /// `lists × dimension` unit vectors, row-major.
    let centroids: [Float]
    /// Code 0 of dimension j stands for `lower[j]`, each step adds `step[j]`.
    let lower: [Float]
    let step: [Float]
    private(set) var lists: [EntryList]

    var listCount: Int { lists.count }
    /// Entries, including those of memories since forgotten or updated.
    var entryCount: Int { lists.reduce(0) { $0 + $1.count } }
    /// Memory the index holds (centroids, ranges, codes, slots and tags).
    var bytes: Int { (centroids.count + 2 * dimension) * 4 + lists.reduce(0) { $0 + $1.bytes } }

    /// Bytes of one code.
    var codeBytes: Int { Self.codeBytes(dimension: dimension, bits: bits) }
    static func codeBytes(dimension: Int, bits: Int) -> Int { bits == 8 ? dimension : (dimension + 1) / 2 }
    /// The highest code.
    var top: Float { Float((1 << bits) - 1) }

    init(dimension: Int, bits: Int, centroids: [Float], lower: [Float], step: [Float], lists: [EntryList]) {
        precondition(centroids.count == lists.count * dimension && (bits == 8 || bits == 4))  // invariant
        self.dimension = dimension
        self.bits = bits
        self.centroids = centroids
        self.lower = lower
        self.step = step
        self.lists = lists
    }

    // MARK: Codes

    /// `vector`'s code, written to `out` (``codeBytes`` bytes).
    func encode(_ vector: UnsafePointer<Float>, into out: UnsafeMutablePointer<UInt8>) {
        func level(_ j: Int) -> UInt8 {
            guard j < dimension, step[j] > 0 else { return 0 }
            let q = ((vector[j] - lower[j]) / step[j]).rounded()
            return UInt8(max(0, min(top, q.isFinite ? q : 0)))
        }
        if bits == 8 {
            for j in 0..<dimension { out[j] = level(j) }
        } else {
            for b in 0..<codeBytes { out[b] = level(2 * b) | level(2 * b + 1) << 4 }
        }
    }

    /// The list whose centroid is nearest (highest dot product) to `vector`.
    func nearestList(_ vector: UnsafePointer<Float>) -> Int {
        var scores = [Float](repeating: 0, count: lists.count)
        centroids.withUnsafeBufferPointer { c in
            scores.withUnsafeMutableBufferPointer { s in
                BLAS.scores(
                    rows: c.baseAddress!, count: lists.count, dimension: dimension, stride: dimension,
                    query: vector, into: s.baseAddress!)
            }
        }
        var best = 0
        for i in 1..<scores.count where scores[i] > scores[best] { best = i }
        return best
    }

    /// Adds an entry for the memory now in `slot` (writer only; published with the next snapshot).
    mutating func add(slot: Int32, tag: UInt32, vector: [Float]) {
        var code = [UInt8](repeating: 0, count: codeBytes)
        let list = vector.withUnsafeBufferPointer { v in
            code.withUnsafeMutableBufferPointer { encode(v.baseAddress!, into: $0.baseAddress!) }
            return nearestList(v.baseAddress!)
        }
        code.withUnsafeBufferPointer {
            lists[list].append(code: $0.baseAddress!, slot: slot, tag: tag, codeBytes: codeBytes)
        }
    }

    /// The index over other slot numbers: each entry whose memory `slots` holds at `renumber(oldSlot)` is
    /// kept there (one per slot); other entries are dropped. Also says which slots it covers.
    func renumbered(_ renumber: (Int32) -> Int32?, holding slots: SlotTable) -> (VectorIndex, covered: [Bool])
    {
        var covered = [Bool](repeating: false, count: slots.count)
        let lists = self.lists.map { list -> EntryList in
            var kept: [(chunk: EntryChunk, entry: Int, slot: Int32)] = []
            list.forEachRun { chunk, used in
                for i in 0..<used {
                    guard let slot = renumber(chunk.slots[i]), slot >= 0, Int(slot) < slots.count,
                        !covered[Int(slot)]
                    else { continue }
                    let info = slots[Int(slot)]
                    guard info.isLive, info.id.indexTag == chunk.tags[i] else { continue }
                    covered[Int(slot)] = true
                    kept.append((chunk, i, slot))
                }
            }
            // One contiguous chunk per list again.
            let chunk = EntryChunk(capacity: kept.count, codeBytes: codeBytes)
            for (n, k) in kept.enumerated() {
                (chunk.codes + n * codeBytes).update(
                    from: k.chunk.codes + k.entry * codeBytes, count: codeBytes)
                chunk.slots[n] = k.slot
                chunk.tags[n] = k.chunk.tags[k.entry]
            }
            return EntryList(filled: chunk)
        }
        let index = VectorIndex(
            dimension: dimension, bits: bits, centroids: centroids, lower: lower, step: step, lists: lists)
        return (index, covered)
    }

    /// This index made exact about `slots`: entries of memories no longer there dropped, and every live
    /// memory it lacks added (its vector read from `mapping`).
    func reconciled(with slots: SlotTable, mapping: VectorMapping) -> VectorIndex {
        var (index, covered) = renumbered({ $0 }, holding: slots)
        slots.forEachLive { slot, info in
            if !covered[slot] {
                index.add(slot: Int32(slot), tag: info.id.indexTag, vector: mapping.vector(slot))
            }
        }
        return index
    }

    // MARK: Queries

    /// A query prepared for the integer code scan: `approximate score = bias + scale × Σ weights[j] × code[j]`.
    struct PreparedQuery {
        var weights: [Int16]
        var bias: Float
        var scale: Float

        /// The smallest integer sum whose approximate score exceeds `score`.
        @inline(__always)
        func integerThreshold(above score: Float) -> Int32 {
            guard score > -.infinity else { return .min }
            let t = ((score - bias) / scale).rounded(.down)
            if t >= Float(Int32.max) { return .max }
            if t <= Float(Int32.min) { return .min }
            return Int32(t)
        }
    }

    /// Prepares `query` (unit length): its weights are quantised to at most `limit` in magnitude, so that a
    /// sum over `dimension` codes of the highest level stays within 32 bits. (An even count of weights:
    /// a 4-bit row's last high half is a zero weight past an odd dimension.)
    func prepare(_ query: [Float]) -> PreparedQuery {
        let limit = Float(min(Int(Int16.max), Int(Int32.max) / (Int(top) * max(1, dimension))))
        var bias: Float = 0
        var largest: Float = 0
        var w = [Float](repeating: 0, count: dimension + dimension % 2)
        for j in 0..<dimension {
            bias += query[j] * lower[j]
            w[j] = query[j] * step[j]
            largest = max(largest, abs(w[j]))
        }
        let scale = largest > 0 ? largest / limit : 1
        return PreparedQuery(
            weights: w.map { Int16(($0 / scale).rounded()) }, bias: bias, scale: scale)
    }

    /// Scores the centroids against `query`: `out[list]`.
    func centroidScores(_ query: [Float], into out: inout [Float]) {
        centroids.withUnsafeBufferPointer { c in
            query.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { s in
                    BLAS.scores(
                        rows: c.baseAddress!, count: lists.count, dimension: dimension, stride: dimension,
                        query: q.baseAddress!, into: s.baseAddress!)
                }
            }
        }
    }
}
