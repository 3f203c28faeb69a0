// Wall-clock, throughput and malloc metrics only: the ARC metrics crash on Linux with Swift 6.3.
import Benchmark
import Engram
import EngramBenchSupport
import Foundation

/// A store of `count` seeded 384-dimensional memories in 100 namespaces, built outside the measured region.
final class Fixture: @unchecked Sendable {  // Sendable: built once in setup, then only read.
    let directory: String
    let store: MemoryStore
    let queries: [[Float]]

    init(count: Int) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("engram-bench-\(UUID())").path
        store = try MemoryStore.create(at: directory, dimension: 384)
        var rng = SeededGenerator(seed: 42)
        for start in stride(from: 0, to: count, by: 10_000) {
            try store.remember(
                (start..<min(start + 10_000, count)).map { i in
                    NewMemory(
                        content: "memory \(i)", namespace: "ns\(i % 100)",
                        embedding: rng.vector(dimension: 384))
                })
        }
        queries = (0..<64).map { _ in rng.vector(dimension: 384) }
    }

    deinit {
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

nonisolated(unsafe) var fixtures: [Int: Fixture] = [:]

func fixture(_ count: Int) throws -> Fixture {
    if let f = fixtures[count] { return f }
    let f = try Fixture(count: count)
    fixtures[count] = f
    return f
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3), maxIterations: 1000)

    for count in [10_000, 100_000] {
        Benchmark("single-query recall k=10 @\(count)") { benchmark in
            let f = try fixture(count)
            for i in benchmark.scaledIterations {
                blackHole(try f.store.recall(f.queries[i % f.queries.count], k: 10))
            }
        }
        Benchmark("filtered recall 1% k=10 @\(count)") { benchmark in
            let f = try fixture(count)
            let filter = MemoryFilter(namespace: .exact("ns7"))
            for i in benchmark.scaledIterations {
                blackHole(try f.store.recall(f.queries[i % f.queries.count], k: 10, filter: filter))
            }
        }
    }
    Benchmark("batched recall (sgemm tiles) 64 queries @100000") { benchmark in
        let f = try fixture(100_000)
        for _ in benchmark.scaledIterations { blackHole(try f.store.recall(batch: f.queries, k: 10)) }
    }
    Benchmark("top-100 selection with exact re-rank, 64 queries x 10000 rows") { benchmark in
        var rng = SeededGenerator(seed: 7)
        let base = (0..<10_000).flatMap { _ in rng.vector(dimension: 64) }
        let queries = (0..<64).flatMap { _ in rng.vector(dimension: 64) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(ExactSearch.topK(base: base, queries: queries, dimension: 64, k: 100))
        }
    }
    Benchmark("remember batch of 1000", configuration: .init(maxIterations: 50)) { benchmark in
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "engram-bench-\(UUID())"
        ).path
        let store = try MemoryStore.create(at: directory, dimension: 384)
        defer {
            try? store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        var rng = SeededGenerator(seed: 1)
        let batch = (0..<1000).map { i in
            NewMemory(content: "memory \(i)", embedding: rng.vector(dimension: 384))
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try store.remember(batch)) }
    }
}
