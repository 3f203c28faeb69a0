import ArgumentParser
import Engram
import EngramService
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counts by namespace and kind, sizes, embedder, OpenBLAS core, recall telemetry.",
        discussion: "Recall latency and hit rate cover the recalls made by this handle since it opened.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    func run() async throws {
        let store = try location.openWhole(for: "stats", readOnly: true)
        defer { try? store.close() }
        let result = try await withService(store) { service, scope in try await service.stats(scope: scope) }
        guard case .whole(let s) = result else { return }  // a whole-store handle sees the whole store
        let io = CLIIO.current
        if output.json {
            io.print(String(decoding: try StatsJSON.data(s, pretty: true), as: UTF8.self))
            return
        }
        io.print("memories      \(s.memories)")
        for (ns, n) in s.byNamespace.sorted(by: { $0.key < $1.key }) { io.print("  namespace   \(ns): \(n)") }
        for (kind, n) in s.byKind.sorted(by: { $0.key < $1.key }) { io.print("  kind        \(kind): \(n)") }
        io.print("  never recalled \(s.neverRecalled)")
        io.print("  feedback    \(s.helpfulReports) helpful, \(s.unhelpfulReports) not helpful")
        io.print("dimension     \(s.dimension) (\(s.elementType))")
        io.print("embedder      \(s.embedder)")
        io.print("on disk       vectors \(bytes(s.vectorFileBytes)), database \(bytes(s.databaseBytes))")
        io.print(
            "mapped        \(bytes(s.mappedBytes)) (room for \(s.slotCapacity) rows, \(s.freeSlots) free)")
        io.print("resident      \(s.residentBytes.map(bytes) ?? "unknown")")
        io.print("blas core     \(s.blasCore)")
        io.print("kernels       \(s.kernels.rawValue)")
        io.print("durability    \(s.durability.rawValue)")
        let p50 = s.recallP50Milliseconds.map { String(format: "%.3f ms", $0) } ?? "-"
        let p99 = s.recallP99Milliseconds.map { String(format: "%.3f ms", $0) } ?? "-"
        let hit = s.hitRate.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
        io.print(
            "recalls       \(s.recalls) (p50 \(p50), p99 \(p99), hit rate \(hit) at score >= \(s.hitThreshold))"
        )
        let cache = s.embeddingCache
        let cacheRate = cache.hitRate.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
        io.print(
            "embed cache   \(s.cachedEmbeddings) vectors stored; this run: hit rate \(cacheRate) "
                + "(\(cache.memoryHits) memory, \(cache.persistentHits) persistent, \(cache.misses) embedded)"
        )
    }
}

func bytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 {
        v /= 1024
        u += 1
    }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the files and run a semantic probe (store, recall, remove); exit 1 when unhealthy.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    func run() async throws {
        let store = try location.openWhole(for: "health")
        defer { try? store.close() }
        let report = try await withService(store) { service, _ in try await service.health() }
        let io = CLIIO.current
        if output.json {
            io.print(
                JSONOutput.pretty(
                    .object([
                        "healthy": .bool(report.healthy),
                        "checks": .array(
                            report.checks.map {
                                .object([
                                    "name": .string($0.name), "passed": .bool($0.passed),
                                    "detail": .string($0.detail),
                                ])
                            }),
                    ])))
        } else {
            for c in report.checks { io.print("\(c.passed ? "ok  " : "FAIL") \(c.name): \(c.detail)") }
            io.print(report.healthy ? "healthy" : "UNHEALTHY")
        }
        if !report.healthy { throw CommandFailure(status: ExitStatus.failure, message: nil) }
    }
}

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite the vector file densely and return free space.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    func run() throws {
        let store = try location.openWhole(for: "compact")
        defer { try? store.close() }
        let reclaimed = try store.compact()
        CLIIO.current.print(
            output.json
                ? JSONOutput.pretty(.object(["reclaimed_bytes": .number(Double(reclaimed))]))
                : "reclaimed \(bytes(reclaimed))")
    }
}
