import Engram
import EngramTestSupport
import Foundation
import Testing

@testable import EngramCLI

@Suite("Benchmark files, ground truth and runs")
struct BenchTests {
    @Test("fvecs and ivecs round-trip; truncated or mixed files are rejected")
    func texmexFiles() async throws {
        let dir = TemporaryDirectory()
        let f = dir.appending("a.fvecs")
        let values: [Float] = [1, 2, 3, -4.5, 0, .leastNonzeroMagnitude]
        try TexmexFile.writeFloats(f, rows: values, dimension: 3)
        let read = try TexmexFile.readFloats(f)
        #expect(read.dimension == 3 && read.values == values)
        // Each record is int32 dimension + values, little-endian: 2 records x (1 + 3) x 4 bytes.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: f))
        #expect(bytes.count == 32 && bytes[0] == 3 && bytes[1] == 0)

        let i = dir.appending("a.ivecs")
        try TexmexFile.writeInts(i, rows: [7, -1, 100_000, 3], dimension: 2)
        #expect(try TexmexFile.readInts(i).values == [7, -1, 100_000, 3])

        // Mapped in place (how bench reads a base), the same rows; appending writes the same bytes.
        let mapped = try MappedVectors(path: f)
        #expect(mapped.count == 2 && mapped.dimension == 3 && mapped.stride == 4)
        #expect(mapped.row(0) + mapped.row(1) == values && mapped[1, 0] == -4.5)
        let appended = dir.appending("b.fvecs")
        #expect(FileManager.default.createFile(atPath: appended, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: appended))
        try TexmexFile.appendFloats(handle, rows: Array(values.prefix(3)), dimension: 3)
        try TexmexFile.appendFloats(handle, rows: Array(values.suffix(3)), dimension: 3)
        try handle.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: appended)) == bytes)

        try bytes.prefix(30).write(to: URL(fileURLWithPath: f))
        #expect(throws: EngramError.self) { try TexmexFile.readFloats(f) }
        #expect(throws: EngramError.self) { try MappedVectors(path: f) }
        var mixed = bytes
        mixed[16] = 2  // second record claims dimension 2
        try mixed.write(to: URL(fileURLWithPath: f))
        #expect(throws: EngramError.self) { try TexmexFile.readFloats(f) }
        #expect(throws: EngramError.invalid("file", "\(f) record 1 has another dimension")) {
            try MappedVectors(path: f)
        }
        try Data().write(to: URL(fileURLWithPath: f))
        #expect(throws: EngramError.self) { try MappedVectors(path: f) }
        #expect(throws: EngramError.self) { try TexmexFile.readFloats(dir.appending("missing.fvecs")) }
        #expect(throws: EngramError.self) { try MappedVectors(path: dir.appending("missing.fvecs")) }
    }

    @Test("ExactSearch equals a brute-force Double ranking, ties by lower id")
    func exactSearch() async throws {
        var rng = SeededGenerator(seed: 3)
        let d = 24
        var base = (0..<3000).flatMap { _ in rng.vector(dimension: d) }
        // an exact tie: rows 10 and 20
        base.replaceSubrange((10 * d)..<(11 * d), with: base[(20 * d)..<(21 * d)])
        let queries = (0..<7).flatMap { _ in rng.vector(dimension: d) } + Array(base[(20 * d)..<(21 * d)])
        let result = ExactSearch.topK(base: base, queries: queries, dimension: d, k: 25)
        for q in 0..<8 {
            let query = Array(queries[(q * d)..<((q + 1) * d)])
            let truth = (0..<3000).map { r -> (Int32, Double) in
                var dot = 0.0
                for t in 0..<d { dot += Double(base[r * d + t]) * Double(query[t]) }
                return (Int32(r), dot)
            }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            #expect(result[q] == truth.prefix(25).map(\.0))
        }
        #expect(result[7].prefix(2) == [10, 20])
        // The same search over rows laid out with a gap between them (a mapped .fvecs file's layout).
        let strided = (0..<3000).flatMap { [Float(-1)] + base[($0 * d)..<(($0 + 1) * d)] }
        let stridedResult = strided.withUnsafeBufferPointer {
            ExactSearch.topK(
                rows: $0.baseAddress! + 1, count: 3000, stride: d + 1, queries: queries, dimension: d, k: 25)
        }
        #expect(stridedResult == result)
    }

    @Test("bench generate then bench run reports every field, exact recall and a filtered run")
    func generateAndRun() async throws {
        let dir = TemporaryDirectory()
        let cli = CLI()
        let gen = await cli.raw([
            "bench", "generate", "--n", "3000", "--d", "16", "--nq", "20", "--clusters", "8", "--out",
            dir.path,
        ])
        #expect(gen.status == 0, "\(gen.stderr)")
        let truth = try TexmexFile.readInts(dir.appending("groundtruth.ivecs"))
        #expect(truth.dimension == 100 && truth.values.count == 2000)
        let run = await cli.raw([
            "bench", "run", "--base", dir.appending("base.fvecs"), "--query", dir.appending("query.fvecs"),
            "--groundtruth", dir.appending("groundtruth.ivecs"), "--namespaces", "10", "--store",
            dir.appending("store"),
            "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try run.json() as? [String: Any])
        for key in [
            "n", "d", "nq", "k", "threads", "element", "ingest_per_s", "open_ms", "first_recall_ms",
            "single_p50_ms", "single_p99_ms",
            "batch_qps", "recall_at_k", "rss_mb", "blas_core", "filtered_p50_ms",
        ] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["recall_at_k"] as? Double == 1)
        #expect(object["batch_recall_at_k"] as? Double == 1)
        // Filling the full-text index takes some of the ingest's time, never all of it.
        let share = try #require(object["ingest_full_text_share"] as? Double)
        #expect(share > 0 && share < 1)
        let with = try #require(object["ingest_per_s"] as? Double)
        #expect((object["ingest_without_full_text_per_s"] as? Double ?? 0) >= with)
        #expect(object["filtered_recall_at_k"] as? Double == 1)
        #expect(
            await cli.raw(["bench", "run", "--base", "x", "--query", "y", "--element", "f8"]).status
                == ExitStatus.usage)
        // The store bench run left: opened again, read-only, for the open figures.
        let open = await cli.raw([
            "bench", "open", "--store", dir.appending("store"), "--rounds", "2", "--json",
        ])
        #expect(open.status == 0, "\(open.stderr)")
        let opened = try #require(try open.json() as? [String: Any])
        #expect(opened["memories"] as? Double == 3000 && opened["rounds"] as? Double == 2)
        for key in ["open_ms", "first_open_ms", "first_recall_ms", "warm_recall_ms", "rss_open_mb"] {
            #expect((opened[key] as? Double ?? -1) >= 0, "missing \(key)")
        }
        #expect(
            await cli.raw(["bench", "open", "--store", dir.appending("none")]).status == ExitStatus.notFound)
        #expect(
            await cli.raw(["bench", "open", "--store", dir.appending("store"), "--rounds", "0"]).status
                == ExitStatus.usage)
        let half = await cli.raw([
            "bench", "run", "--base", dir.appending("base.fvecs"), "--query", dir.appending("query.fvecs"),
            "--groundtruth", dir.appending("groundtruth.ivecs"), "--element", "f16", "--json",
        ])
        let halfObject = try #require(try half.json() as? [String: Any])
        #expect(halfObject["element"] as? String == "f16")
        #expect((halfObject["recall_at_k"] as? Double ?? 0) >= 0.99)
    }
}
