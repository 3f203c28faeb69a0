import EngramBenchSupport
import Foundation
import Testing

@testable import Engram

/// Every variant of the scan kernels the CPU runs (AVX-512, AVX2, baseline: see `KernelLevel`) against
/// dot products in Double; the code and encoder kernels' tests run each level the same way.
@Suite("Kernel levels")
struct KernelLevelTests {
    /// Dimensions around the vector widths (remainders of every size) and a real one; row counts past
    /// the sixteen-score groups of `indices(of:)`.
    @Test(
        "each level's single, four-query and half-precision scans equal Double sums",
        arguments: [1, 7, 16, 37, 384])
    func scansEqualDoubleSums(dimension: Int) {
        var rng = SeededGenerator(seed: UInt64(dimension))
        let count = 53
        let stride = dimension + 3  // rows not packed: the stride is honoured
        let rows = (0..<(count * stride)).map { _ in Float.random(in: -1...1, using: &rng) }
        let queries = (0..<(5 * dimension)).map { _ in Float.random(in: -1...1, using: &rng) }
        let halves = BLAS.halves(fromFloats: rows)
        let widened = halves.withUnsafeBufferPointer {
            BLAS.floats(fromHalf: $0.baseAddress!, count: rows.count)
        }
        func exact(_ source: [Float], _ r: Int, _ q: Int) -> Double {
            (0..<dimension).reduce(0.0) {
                $0 + Double(source[r * stride + $1]) * Double(queries[q * dimension + $1])
            }
        }
        for level in KernelLevel.runnable {
            KernelLevel.on(level) { used in
                #expect(used == level && KernelLevel.current == level)
                #expect(BLAS.halves(fromFloats: rows) == halves, "\(level)")
                #expect(
                    rows.map { Float(Float16($0)) } == widened, "\(level): half precision rounds to nearest")
                var single = [Float](repeating: .nan, count: count)
                var multi = [Float](repeating: .nan, count: 5 * count)
                var half = [Float](repeating: .nan, count: count)
                rows.withUnsafeBufferPointer { r in
                    queries.withUnsafeBufferPointer { q in
                        BLAS.scores(
                            rows: r.baseAddress!, count: count, dimension: dimension, stride: stride,
                            query: q.baseAddress!, into: &single)
                        BLAS.smallBatchScores(
                            rows: r.baseAddress!, count: count, dimension: dimension, stride: stride,
                            queries: q.baseAddress!, queryCount: 5, into: &multi)
                        halves.withUnsafeBufferPointer { h in
                            BLAS.scores(
                                halfRows: h.baseAddress!, count: count, dimension: dimension, stride: stride,
                                query: q.baseAddress!, into: &half)
                        }
                    }
                }
                let tolerance = 1e-5 * Double(dimension)
                for r in 0..<count {
                    #expect(abs(Double(single[r]) - exact(rows, r, 0)) < tolerance, "\(level) row \(r)")
                    #expect(abs(Double(half[r]) - exact(widened, r, 0)) < tolerance, "\(level) half row \(r)")
                    for q in 0..<5 {
                        #expect(
                            abs(Double(multi[q * count + r]) - exact(rows, r, q)) < tolerance,
                            "\(level) query \(q) row \(r)")
                    }
                }
                var above = [Int32](repeating: -1, count: count)
                let found = BLAS.indices(of: single, count: count, above: 0.1, into: &above)
                #expect(
                    Array(above.prefix(found)) == single.indices.filter { single[$0] > 0.1 }.map(Int32.init),
                    "\(level)")
            }
        }
    }

    @Test("a level above the CPU's is lowered to it, and $ENGRAM_KERNELS names are understood or refused")
    func levelsAndNames() {
        #expect(KernelLevel.runnable.last == KernelLevel.supported)
        #expect(KernelLevel.runnable.first == .baseline)
        KernelLevel.on(.avx512) { used in #expect(used == KernelLevel.supported) }
        for name in ["avx512", "avx2", "baseline", "auto", ""] { #expect(KernelLevel.understands(name)) }
        for name in ["AVX2", "sse", "avx-512", "avx2 "] { #expect(!KernelLevel.understands(name), "\(name)") }
    }
}
