import Engram
import EngramTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the built `engram` binary as a child process.
func runBinary(_ args: [String], stdin: String = "", environment: [String: String] = [:]) throws -> CLIResult
{
    let process = Process()
    process.executableURL = Fixtures.productsDirectory().appendingPathComponent("engram")
    process.arguments = args
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    process.environment = env
    let input = Pipe()
    let output = Pipe()
    let error = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = error
    try process.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(
        status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
        stderr: String(decoding: err, as: UTF8.self))
}

@Suite("The engram binary, end to end", .serialized)
struct EndToEndTests {
    @Test("init, import the fixtures, recall with and without filters, JSON that parses, exit codes")
    func fullFlow() async throws {
        let dir = TemporaryDirectory("engram-e2e")
        let store = dir.appending("store")
        #expect(try runBinary(["--store", store, "init"]).status == 0)
        #expect(try runBinary(["init", "--store", store]).status == 73)
        let imported = try runBinary(["import", fixturesPath("memories.jsonl"), "--store", store])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stderr.isEmpty, "no progress bar when stderr is not a terminal")

        // ENGRAM_STORE is the default store.
        let recall = try runBinary(
            ["recall", "what fixed the flaky deploy?", "-k", "3", "--json"],
            environment: ["ENGRAM_STORE": store])
        #expect(recall.status == 0, "\(recall.stderr)")
        let hits = try #require(
            try JSONSerialization.jsonObject(with: Data(recall.stdout.utf8)) as? [[String: Any]])
        #expect(hits.count == 3)
        for key in [
            "id", "namespace", "agent", "kind", "content", "cause", "outcome", "succeeded", "tags",
            "importance",
            "metadata", "created_at", "updated_at", "expires_at", "score",
        ] {
            #expect(hits[0].keys.contains(key), "missing \(key)")
        }
        let filtered = try runBinary([
            "recall", "flaky", "--store", store, "--namespace", "acme/platform/", "--json",
        ])
        let fhits = try #require(
            try JSONSerialization.jsonObject(with: Data(filtered.stdout.utf8)) as? [[String: Any]])
        #expect(
            !fhits.isEmpty
                && fhits.allSatisfy { ($0["namespace"] as? String)?.hasPrefix("acme/platform") == true })

        // Those recalls ran read-only: stats sees them already, the memories' columns after the next write.
        let recalledIDs = (hits + fhits).compactMap { $0["id"] as? String }
        let statsText = try runBinary(["stats", "--store", store, "--json"]).stdout
        let stats = try #require(
            try JSONSerialization.jsonObject(with: Data(statsText.utf8)) as? [String: Any])
        #expect(stats["never_recalled"] as? Int == 204 - Set(recalledIDs).count, "\(statsText)")

        // stdin in, id out; then show it.
        let remembered = try runBinary(
            ["remember", "--store", store], stdin: #"{"what": "piped", "namespace": "e2e"}"#)
        #expect(remembered.status == 0, "\(remembered.stderr)")
        let shown = try runBinary(["show", recalledIDs[0], "--store", store, "--json"]).stdout
        let recalled = try #require(
            try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])
        #expect(
            recalled["recall_count"] as? Int == recalledIDs.filter { $0 == recalledIDs[0] }.count, "\(shown)")
        let id = remembered.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try runBinary(["show", id, "--store", store]).stdout.contains("piped"))
        #expect(
            try runBinary(["show", "01890000-0000-7000-8000-000000000000", "--store", store]).status == 66)
        let bad = try runBinary(["recall", "--vector", "[1]", "--store", store])
        #expect(bad.status == 65 && bad.stderr.hasPrefix("engram: invalid query"))
        #expect(try runBinary(["health", "--store", store]).status == 0)
        #expect(try runBinary(["recall", "--store", store, "--nonsense"]).status == 64)
    }

    @Test("a command that writes while another process holds the lock exits 75; reads still work")
    func lockedExitCode() async throws {
        let dir = TemporaryDirectory("engram-e2e")
        let store = dir.appending("store")
        let writer = Process()
        writer.executableURL = Fixtures.productsDirectory().appendingPathComponent("engram-crash-writer")
        writer.arguments = [store, "384", "5"]
        let out = Pipe()
        writer.standardOutput = out
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }
        _ = out.fileHandleForReading.availableData  // first commit reported
        let r = try runBinary(["remember", "--content", "x", "--vector", "[1]", "--store", store])
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("another process"))
        let count = try runBinary(["count", "--store", store])
        #expect(
            count.status == 0 && (Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 5
        )
    }

    @Test("a damaged store exits 76")
    func corruptExitCode() async throws {
        let dir = TemporaryDirectory("engram-e2e")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store]).status == 0)
        #expect(try runBinary(["remember", "--content", "x", "--store", store]).status == 0)
        let vectors = URL(fileURLWithPath: store).appendingPathComponent("vectors.f32")
        let handle = try FileHandle(forUpdating: vectors)
        try handle.write(contentsOf: Data("garbage!".utf8))
        try handle.close()
        let r = try runBinary(["count", "--store", store])
        #expect(r.status == 76 && r.stderr.contains("magic"))
    }
}

@Suite("OpenBLAS kernel choice")
struct KernelChoiceTests {
    @Test("kernels below what the CPU supports are corrected; a good choice or an old CPU is left alone")
    func recommendation() async {
        let avx512 = "flags : fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl"
        let avx2 = "flags : sse2 avx avx2 fma"
        // Recent Intel CPUs: OpenBLAS 0.3.21 falls back to Prescott.
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx512, activeCore: "Prescott") == "SkylakeX")
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx2, activeCore: "Prescott") == "Haswell")
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx2, activeCore: "Sandybridge") == "Haswell")
        // AMD Zen 4 and 5: it picks its AVX2 kernels.
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx512, activeCore: "Zen") == "SkylakeX")
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx512, activeCore: "Haswell") == "SkylakeX")
        // Right already.
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids"] {
            #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx512, activeCore: core) == nil)
        }
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx2, activeCore: "Zen") == nil)
        #expect(OpenBLASKernels.recommendedCoreType(cpuFlags: avx2, activeCore: "Haswell") == nil)
        // AVX-512 without the subsets the kernels use is treated as AVX2; a CPU without AVX2 is left alone.
        #expect(
            OpenBLASKernels.recommendedCoreType(cpuFlags: avx2 + " avx512f", activeCore: "Prescott")
                == "Haswell")
        #expect(
            OpenBLASKernels.recommendedCoreType(cpuFlags: "flags : sse2 sse3", activeCore: "Prescott") == nil)
        #expect(!OpenBLASKernels.activeCore.isEmpty)
    }

    @Test(
        "recall is exact under every kernel set this CPU can run (forced with OPENBLAS_CORETYPE or ENGRAM_KERNELS)"
    )
    func exactUnderEachKernelSet() async throws {
        let flags =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map {
                Set($0.split(separator: " ").map(String.init))
            } ?? []
        var cores = ["Prescott"]
        if flags.contains("avx2") && flags.contains("fma") { cores.append("Haswell") }
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) {
            cores.append("SkylakeX")
        }
        let dir = TemporaryDirectory("engram-kernels")
        // 40 queries: a batch past 32 goes through sgemm, one query through Engram's own kernel.
        let generate = try runBinary([
            "bench", "generate", "--n", "5000", "--d", "96", "--nq", "40", "--clusters", "16", "--out",
            dir.path,
        ])
        #expect(generate.status == 0, "\(generate.stderr)")
        for core in cores {
            let run = try runBinary(
                [
                    "bench", "run", "--base", dir.appending("base.fvecs"), "--query",
                    dir.appending("query.fvecs"),
                    "--groundtruth", dir.appending("groundtruth.ivecs"), "--json",
                ],
                environment: ["OPENBLAS_CORETYPE": core])
            #expect(run.status == 0, "\(core): \(run.stderr)")
            let object =
                try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(object["blas_core"] as? String == core)
            #expect(object["recall_at_k"] as? Double == 1, "\(core)")
            #expect(object["batch_recall_at_k"] as? Double == 1, "\(core)")
            #expect((object["max_score_error"] as? Double ?? 1) <= 1e-5, "\(core)")
        }
        // $ENGRAM_KERNELS picks Engram's kernels and, through a re-exec, OpenBLAS's of the same level.
        for level in KernelLevel.runnable {
            let run = try runBinary(
                [
                    "bench", "run", "--base", dir.appending("base.fvecs"), "--query",
                    dir.appending("query.fvecs"),
                    "--groundtruth", dir.appending("groundtruth.ivecs"), "--json",
                ],
                environment: ["ENGRAM_KERNELS": level.rawValue])
            #expect(run.status == 0, "\(level): \(run.stderr)")
            let object =
                try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
            #expect(object["kernels"] as? String == level.rawValue)
            let core = object["blas_core"] as? String ?? ""
            #expect(OpenBLASKernels.level(ofCore: core) == level, "\(level): OpenBLAS ran \(core)")
            #expect(object["recall_at_k"] as? Double == 1, "\(level)")
            #expect(object["batch_recall_at_k"] as? Double == 1, "\(level)")
            #expect((object["max_score_error"] as? Double ?? 1) <= 1e-5, "\(level)")
        }
        let refused = try runBinary(["stats"], environment: ["ENGRAM_KERNELS": "avx3"])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("ENGRAM_KERNELS"), "\(refused.stderr)")
    }
}
