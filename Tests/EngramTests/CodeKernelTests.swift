import EngramBenchSupport
import Foundation
import Testing

@testable import Engram

/// The index's code scans (hand-vectorised on AVX2) against integer sums written plainly from the
/// decoded levels, and the approximate scores against the exact dot products in Double.
@Suite("Index code kernels")
struct CodeKernelTests {
    /// An index of one list holding `vectors`, with ranges from the vectors themselves.
    static func index(_ vectors: [[Float]], bits: Int) -> VectorIndex {
        let d = vectors[0].count
        let lower = (0..<d).map { j in vectors.map { $0[j] }.min()! }
        let upper = (0..<d).map { j in vectors.map { $0[j] }.max()! }
        let step = zip(lower, upper).map { ($1 - $0) / Float((1 << bits) - 1) }
        let chunk = EntryChunk(
            capacity: vectors.count, codeBytes: VectorIndex.codeBytes(dimension: d, bits: bits))
        let index = VectorIndex(
            dimension: d, bits: bits, centroids: [Float](repeating: 0, count: d), lower: lower, step: step,
            lists: [EntryList(filled: chunk)])
        for (i, v) in vectors.enumerated() {
            index.encode(v, list: 0, into: chunk.codes + i * index.codeBytes)
        }
        return index
    }

    @Test(arguments: [(8, 384), (8, 37), (4, 384), (4, 100), (4, 7), (8, 1)])
    func kernelsEqualThePlainSums(bits: Int, dimension: Int) throws {
        var rng = SeededGenerator(seed: UInt64(bits * 1000 + dimension))
        func unit(_ v: [Float]) -> [Float] {
            let norm = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            return v.map { Float(Double($0) / norm) }
        }
        let vectors = (0..<300).map { _ in unit(rng.vector(dimension: dimension)) }
        let index = Self.index(vectors, bits: bits)
        let chunk = try #require(index.lists[0].chunks.first)
        #expect(index.lists[0].count == 300 && chunk.capacity == 300)
        for level in KernelLevel.runnable {  // the AVX2 loops and the plain ones
            KernelLevel.on(level) { _ in
                for _ in 0..<5 {
                    let query = unit(rng.vector(dimension: dimension))
                    let prepared = index.prepare(query)
                    var out = [Int32](repeating: 0, count: 300)
                    out.withUnsafeMutableBufferPointer {
                        index.integerScores(chunk.codes, count: 300, prepared, into: $0.baseAddress!)
                    }
                    var worst = 0.0
                    for r in 0..<300 {
                        let code = chunk.codes + r * index.codeBytes
                        var sum = 0
                        var exact = 0.0
                        for j in 0..<dimension {
                            let weight = bits == 8 ? Int(prepared.wide[j]) : Int(prepared.narrow[j])
                            sum += weight * index.level(code, j)
                            exact += Double(query[j]) * Double(vectors[r][j])
                        }
                        #expect(Int(out[r]) == sum, "row \(r), \(level)")
                        let approximate = Double(prepared.score(out[r], centre: 0))
                        worst = max(worst, abs(approximate - exact))
                    }
                    // Unit vectors: codes are within half a step of each value (4-bit steps are 17x coarser), and
                    // 8-bit weights round the query more coarsely than 16-bit ones.
                    #expect(worst < (bits == 8 ? 0.01 : 0.15), "worst error \(worst)")
                }
            }
        }
    }
}
