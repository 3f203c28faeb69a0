import Engram
import EngramTestSupport
import Foundation
import Testing

@testable import EngramCLI

@Suite("engram index, recall --exact/--explain and bench run --approximate")
struct IndexCommandTests {
    @Test("index build, status and drop; recall says which path ran")
    func indexCommands() async throws {
        let cli = CLI()
        #expect(await cli.run(["init", "--embedder", "custom", "--dimension", "16"]).status == 0)
        let (jsonl, vectors) = vectorJSONL(count: 600, dimension: 16, seed: 4)
        #expect(await cli.run(["import", "-"], stdin: jsonl).status == 0)
        let none = await cli.run(["index", "status", "--json"])
        #expect(none.status == 0 && none.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "null")
        let built = await cli.run(["index", "build", "--lists", "12", "--json"])
        #expect(built.status == 0, "\(built.stderr)")
        let status = try #require(try built.json() as? [String: Any])
        #expect(status["lists"] as? Double == 12 && status["memories"] as? Double == 600)
        #expect((status["index_bytes"] as? Double ?? 0) > 0 && (status["build_s"] as? Double ?? -1) >= 0)
        #expect(await cli.run(["index", "build", "--lists", "0"]).status != 0)

        let query = "[" + vectors[5].map { String($0) }.joined(separator: ",") + "]"
        // 600 memories are below the planner's exact limit: the scan runs, and says so.
        let small = await cli.run(["recall", "--vector", query, "--explain", "--json"])
        let smallObject = try #require(try small.json() as? [String: Any])
        let smallPlan = try #require(smallObject["plan"] as? [String: Any])
        #expect(smallPlan["path"] as? String == "exact" && smallPlan["vectors_scored"] as? Double == 600)
        let text = await cli.run(["recall", "--vector", query, "--explain"])
        #expect(text.stdout.contains("plan: exact search, 600 vectors scored"))
        // Without --explain the JSON stays an array of hits.
        #expect(try await cli.run(["recall", "--vector", query, "--json"]).json() is [Any])
        // With $ENGRAM_EXACT_BELOW=0 every recall may use the index; --exact still scans.
        let wide = ["ENGRAM_EXACT_BELOW": "0"]
        let indexed = await cli.run(["recall", "--vector", query, "--explain", "--json"], environment: wide)
        let indexedObject = try #require(try indexed.json() as? [String: Any])
        let plan = try #require(indexedObject["plan"] as? [String: Any])
        #expect(plan["path"] as? String == "index", "\(indexed.stderr)")
        #expect((plan["lists_probed"] as? Double ?? 0) >= 1 && (plan["reranked"] as? Double ?? 0) >= 1)
        let hits = try #require(indexedObject["hits"] as? [[String: Any]])
        #expect(hits.count == 5)
        let forced = await cli.run(["recall", "--vector", query, "--explain", "--exact"], environment: wide)
        #expect(forced.stdout.contains("plan: exact search, 600 vectors scored; exact search was asked for"))
        let bad = await cli.run(["recall", "--vector", query], environment: ["ENGRAM_EXACT_BELOW": "-1"])
        #expect(bad.status != 0 && bad.stderr.contains("ENGRAM_EXACT_BELOW"))

        let dropped = await cli.run(["index", "drop"])
        #expect(dropped.status == 0)
        #expect(await cli.run(["index", "status"]).stdout.contains("no index"))
    }

    @Test("bench run --approximate and --target-recall add the approx_* fields")
    func benchApproximate() async throws {
        let dir = TemporaryDirectory()
        let cli = CLI()
        let gen = await cli.raw([
            "bench", "generate", "--n", "4000", "--d", "16", "--nq", "30", "--clusters", "16", "--out",
            dir.path,
        ])
        #expect(gen.status == 0, "\(gen.stderr)")
        let files = [
            "--base", dir.appending("base.fvecs"), "--query", dir.appending("query.fvecs"), "--groundtruth",
            dir.appending("groundtruth.ivecs"),
        ]
        let run = await cli.raw(
            ["bench", "run"] + files + ["--approximate", "--sweep", "1,4,126", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try run.json() as? [String: Any])
        for key in ["approx_recall_at_k", "approx_p50_ms", "approx_qps", "index_build_s", "index_bytes"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["recall_at_k"] as? Double == 1)  // the exact figures stay exact
        let curve = try #require(object["approx_curve"] as? [[String: Any]])
        #expect(curve.count == 3)
        // Every list read: the exact answer.
        #expect(curve.last?["recall_at_k"] as? Double == 1)
        let recalls = curve.compactMap { $0["recall_at_k"] as? Double }
        #expect(recalls == recalls.sorted())

        let tuned = await cli.raw(["bench", "run"] + files + ["--target-recall", "0.97", "--json"])
        #expect(tuned.status == 0, "\(tuned.stderr)")
        let t = try #require(try tuned.json() as? [String: Any])
        #expect((t["approx_recall_at_k"] as? Double ?? 0) >= 0.97)
        #expect((t["approx_probes"] as? Double ?? 0) >= 1 && t["target_recall"] as? Double == 0.97)
        #expect(
            await cli.raw(["bench", "run"] + files + ["--target-recall", "1.5"]).status == ExitStatus.usage)
    }
}
