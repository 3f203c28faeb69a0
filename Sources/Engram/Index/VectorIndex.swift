import CKernels

/// The approximate tier: an inverted-file index with scalar codes of 8 or 4 bits per dimension.
///
/// The vectors are split into `lists` by their nearest centroid (spherical k-means on a sample); each
/// list holds, per memory, its residual (the vector minus the list's centroid, a much narrower range than
/// the vector's) quantised to `bits` per dimension against per-dimension ranges.
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
    /// Code 0 of dimension j stands for a residual of `lower[j]`, each step adds `step[j]`.
    let lower: [Float]
    let step: [Float]
    private(set) var lists: [EntryList]
    /// Lists a query reads by default: the fewest that gave recall@10 ≥ 0.99 on a sample of the store's
    /// own vectors when the index was built (0: not tuned, a sixteenth of the lists).
    var probes = 0

    var listCount: Int { lists.count }
    /// Entries, including those of memories since forgotten or updated.
    var entryCount: Int { lists.reduce(0) { $0 + $1.count } }
    /// Memory the index holds (centroids, ranges, codes, slots and tags).
    var bytes: Int { (centroids.count + 2 * dimension) * 4 + lists.reduce(0) { $0 + $1.bytes } }

    /// Bytes of one code.
    var codeBytes: Int { Self.codeBytes(dimension: dimension, bits: bits) }
    static func codeBytes(dimension: Int, bits: Int) -> Int {
        bits == 8 ? dimension : (dimension + 63) / 64 * 32
    }
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

    /// The code of `vector` in `list` (of its residual from the list's centroid), written to `out`
    /// (``codeBytes`` bytes).
    func encode(_ vector: UnsafePointer<Float>, list: Int, into out: UnsafeMutablePointer<UInt8>) {
        let centre = list * dimension
        func level(_ j: Int) -> UInt8 {
            guard j < dimension, step[j] > 0 else { return 0 }
            let q = ((vector[j] - centroids[centre + j] - lower[j]) / step[j]).rounded()
            return UInt8(max(0, min(top, q.isFinite ? q : 0)))
        }
        if bits == 8 {
            for j in 0..<dimension { out[j] = level(j) }
        } else {
            // Groups of 64 dimensions in 32 bytes (see engram_scores_u4).
            for byte in 0..<codeBytes {
                let first = byte / 32 * 64 + byte % 32
                out[byte] = level(first) | level(first + 32) << 4
            }
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
            let list = nearestList(v.baseAddress!)
            code.withUnsafeMutableBufferPointer { encode(v.baseAddress!, list: list, into: $0.baseAddress!) }
            return list
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
        var index = VectorIndex(
            dimension: dimension, bits: bits, centroids: centroids, lower: lower, step: step, lists: lists)
        index.probes = probes
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

    /// A query prepared for the integer code scan: `approximate score = (query · centroid) + bias + scale ×
    /// Σ weight[j] × code[j]` for an entry of a list with that centroid,
    /// with 16-bit weights for 8-bit codes and 8-bit weights for 4-bit codes (whose kernel multiplies bytes).
    struct PreparedQuery {
        var wide: [Int16]
        var narrow: [Int8]
        var bias: Float
        var scale: Float

        /// The approximate score of an integer sum in a list whose centroid scores `centre`.
        @inline(__always)
        func score(_ sum: Int32, centre: Float) -> Float { centre + bias + scale * Float(sum) }

        /// The smallest integer sum whose approximate score in a list whose centroid scores `centre`
        /// exceeds `score`.
        @inline(__always)
        func integerThreshold(above score: Float, centre: Float) -> Int32 {
            guard score > -.infinity else { return .min }
            let t = ((score - centre - bias) / scale).rounded(.down)
            if t >= Float(Int32.max) { return .max }
            if t <= Float(Int32.min) { return .min }
            return Int32(t)
        }
    }

    /// Prepares `query` (unit length). 8-bit codes: weights of at most `limit` in magnitude, so that a sum
    /// over `dimension` codes of 255 stays within 32 bits. 4-bit codes: weights of at most 127, padded with
    /// zeros to whole groups of 64 (see engram_scores_u4).
    func prepare(_ query: [Float]) -> PreparedQuery {
        let limit = bits == 8 ? Float(min(Int(Int16.max), Int(Int32.max) / (255 * max(1, dimension)))) : 127
        var bias: Float = 0
        var largest: Float = 0
        var w = [Float](repeating: 0, count: bits == 8 ? dimension : codeBytes * 2)
        for j in 0..<dimension {
            bias += query[j] * lower[j]
            w[j] = query[j] * step[j]
            largest = max(largest, abs(w[j]))
        }
        let scale = largest > 0 ? largest / limit : 1
        let levels = w.map { ($0 / scale).rounded() }
        return PreparedQuery(
            wide: bits == 8 ? levels.map { Int16($0) } : [], narrow: bits == 8 ? [] : levels.map { Int8($0) },
            bias: bias, scale: scale)
    }

    /// The integer sums of `count` codes from `codes` against a prepared query (the kernel for the width).
    func integerScores(
        _ codes: UnsafePointer<UInt8>, count: Int, _ query: PreparedQuery,
        into out: UnsafeMutablePointer<Int32>
    ) {
        if bits == 8 {
            query.wide.withUnsafeBufferPointer {
                engram_scores_u8(codes, count, dimension, $0.baseAddress!, out)
            }
        } else {
            query.narrow.withUnsafeBufferPointer {
                engram_scores_u4(codes, count, dimension, $0.baseAddress!, out)
            }
        }
    }

    /// The level dimension `j` has in `code` (the inverse of ``encode(_:list:into:)``'s packing).
    func level(_ code: UnsafePointer<UInt8>, _ j: Int) -> Int {
        if bits == 8 { return Int(code[j]) }
        let byte = code[j / 64 * 32 + j % 32]
        return Int(j % 64 < 32 ? byte & 15 : byte >> 4)
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
