import Dispatch
import EngramBenchSupport
import Foundation
import Synchronization
import Testing

@testable import Engram

/// The parallel loop under the encoder: every index exactly once, whatever the threads, the region
/// sizes, nesting, or other threads running regions at the same time.
@Suite("Parallel slices")
struct ParallelTests {
    /// Runs one region and returns how often each index was visited, and the parts seen.
    static func visits(_ count: Int, threads: Int, slicesPerThread: Int = 4) -> (
        counts: [Int], parts: Set<Int>
    ) {
        var counts = [Int](repeating: 0, count: count)
        var partsPerSlice = [Int](repeating: -1, count: count)
        counts.withUnsafeMutableBufferPointer { c in
            partsPerSlice.withUnsafeMutableBufferPointer { p in
                parallelSlices(count, threads: threads, slicesPerThread: slicesPerThread) { part, range in
                    for i in range {
                        c[i] += 1
                        p[i] = part
                    }
                }
            }
        }
        return (counts, Set(partsPerSlice))
    }

    @Test("every index exactly once, parts below the thread count, over many regions in a row")
    func coverage() {
        var g = SeededGenerator(seed: 3)
        for _ in 0..<400 {
            let count = Int.random(in: 0...300, using: &g)
            let threads = Int.random(in: 1...4, using: &g)
            let (counts, parts) = Self.visits(
                count, threads: threads, slicesPerThread: Int.random(in: 1...4, using: &g))
            #expect(counts.allSatisfy { $0 == 1 }, "count \(count), threads \(threads)")
            #expect(parts.allSatisfy { $0 >= 0 && $0 < max(1, threads) })
        }
    }

    @Test("regions from several threads at once, and regions inside regions")
    func concurrentAndNested() {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 6) { caller in
            for round in 0..<60 {
                let (counts, _) = Self.visits(50 + caller * 7 + round, threads: 2 + caller % 2)
                if !counts.allSatisfy({ $0 == 1 }) { failures.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)

        var inner = [Int](repeating: 0, count: 8 * 40)
        inner.withUnsafeMutableBufferPointer { cells in
            parallelSlices(8, threads: 2) { _, outer in
                for row in outer {
                    parallelSlices(40, threads: 2) { _, columns in
                        for column in columns { cells[row * 40 + column] += 1 }
                    }
                }
            }
        }
        #expect(inner.allSatisfy { $0 == 1 })
    }
}
