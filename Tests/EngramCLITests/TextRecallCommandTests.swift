import Engram
import EngramTestSupport
import Foundation
import Testing

@testable import EngramCLI

@Suite("Text recall, feedback, duplicates and eval from the command line")
struct TextRecallCommandTests {
    @Test("recall --mode and --explain; JSON hits carry explain; feedback shows in show and stats")
    func recallModesAndFeedback() async throws {
        let cli = CLI()
        await cli.run(["init"])
        #expect(await cli.run(["import", fixturesPath("memories.jsonl")]).status == 0)
        for mode in ["hybrid", "vector", "keyword"] {
            let result = await cli.run(["recall", "checkout is slow", "--mode", mode, "--json", "-k", "3"])
            #expect(result.status == 0, "\(result.stderr)")
            let hits = try #require(try result.json() as? [[String: Any]])
            #expect(hits.count == 3)
            let explain = try #require(hits[0]["explain"] as? [String: Any])
            #expect(explain["fused"] is Double && explain["score"] is Double)
            #expect((explain["cosine"] is NSNull) == (mode == "keyword"))
        }
        #expect(await cli.run(["recall", "x", "--mode", "fuzzy"]).status == ExitStatus.invalidInput)
        #expect(await cli.run(["recall", "x", "--fusion", "max:1"]).status == ExitStatus.invalidInput)
        // Ranking knobs: bad values are refused with the option named; good ones change the explain.
        for (args, field) in [
            (["--columns", "body=2"], "--columns"), (["--columns", "content=-1"], "--columns"),
            (["--neighbours", "2"], "options.neighbours"),
            (["--neighbour-window=-5"], "options.neighbourWindow"),
        ] {
            let refused = await cli.run(["recall", "x"] + args)
            #expect(
                refused.status == ExitStatus.invalidInput && refused.stderr.contains(field),
                "\(args): \(refused.stderr)")
        }
        let weighted = try #require(
            try await cli.run(
                [
                    "recall", "checkout is slow", "--mode", "keyword", "--columns",
                    "content=0,cause=0,outcome=0,tags=0", "--json",
                ]
            ).json() as? [[String: Any]])
        // Every column weighted 0: every BM25 is 0.
        #expect(weighted.allSatisfy { (($0["explain"] as? [String: Any])?["keyword_score"] as? Double) == 0 })
        let plain = try #require(
            try await cli.run(["recall", "checkout is slow", "--neighbours", "0", "--json"]).json()
                as? [[String: Any]])
        #expect(plain.allSatisfy { (($0["explain"] as? [String: Any])?["context"] as? Double) == 0 })
        let explained = await cli.run(["recall", "checkout is slow", "--explain", "-k", "2"])
        #expect(
            explained.stdout.contains("cosine ") && explained.stdout.contains("bm25 ")
                && explained.stdout.contains("= "))

        let top = try #require(
            try await cli.run(["recall", "checkout is slow", "--json", "-k", "1"]).json() as? [[String: Any]])
        let id = try #require(top.first?["id"] as? String)
        #expect(await cli.run(["feedback", id, "--helpful"]).stdout.contains("1 helpful"))
        let counted = try #require(
            try await cli.run(["feedback", id, "--not-helpful", "--json"]).json() as? [String: Any])
        #expect(counted["helpful_count"] as? Int == 1 && counted["unhelpful_count"] as? Int == 1)
        let shown = try #require(try await cli.run(["show", id, "--json"]).json() as? [String: Any])
        #expect(shown["helpful_count"] as? Int == 1)
        #expect(await cli.run(["feedback", id]).status == ExitStatus.usage)
        #expect(await cli.run(["feedback", id, "--helpful", "--not-helpful"]).status == ExitStatus.usage)
        #expect(
            await cli.run(["feedback", "0190a000-0000-7000-8000-000000000000", "--helpful"]).status
                == ExitStatus.notFound)
        let stats = try #require(try await cli.run(["stats", "--json"]).json() as? [String: Any])
        #expect(stats["helpful_reports"] as? Int == 1 && stats["unhelpful_reports"] as? Int == 1)
        // Under a read-only scope, feedback (a write) is refused.
        let scoped = await cli.run(["feedback", id, "--helpful"], environment: ["ENGRAM_SCOPE": "acme"])
        #expect(scoped.status == ExitStatus.permissionDenied)
    }

    @Test("remember says when a memory is a duplicate; importing a file twice stores nothing new")
    func duplicates() async throws {
        let cli = CLI()
        await cli.run(["init"])
        let first = try #require(
            try await cli.run(["remember", "--content", "VPN drops hourly", "--json"]).json()
                as? [String: Any])
        #expect(first["status"] as? String == "stored")
        let again = await cli.run(["remember", "--content", "  vpn DROPS hourly", "--json"])
        let second = try #require(try again.json() as? [String: Any])
        #expect(
            second["status"] as? String == "duplicate" && second["id"] as? String == first["id"] as? String)
        let near = try #require(
            try await cli.run([
                "remember", "--content", "VPN drops hourly!", "--near-duplicate", "0.5", "--json",
            ]).json() as? [String: Any])
        #expect((near["near_duplicate"] as? [String: Any])?["id"] as? String == first["id"] as? String)
        #expect(
            await cli.run(["remember", "--content", "x", "--near-duplicate", "2"]).status
                == ExitStatus.invalidInput)

        #expect(await cli.run(["import", fixturesPath("memories.jsonl")]).status == 0)
        let before = await cli.run(["count"]).stdout
        let twice = try #require(
            try await cli.run(["import", fixturesPath("memories.jsonl"), "--json"]).json() as? [String: Any])
        #expect(twice["imported"] as? Int == 0 && twice["duplicates"] as? Int == 204)
        #expect(await cli.run(["count"]).stdout == before)
    }

    @Test("eval prints every measure for every mode and group; bad query lines name the line and field")
    func eval() async throws {
        let cli = CLI()
        await cli.run(["init"])
        await cli.run(["import", fixturesPath("memories.jsonl")])
        let result = await cli.run([
            "eval", "--queries", fixturesPath("queries.jsonl"), "--by-group", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try result.json() as? [String: Any])
        let modes = try #require(report["modes"] as? [String: [String: Any]])
        #expect(Set(modes.keys) == ["vector", "keyword", "hybrid"])
        for (_, m) in modes {
            for key in [
                "recall_at_1", "recall_at_5", "recall_at_10", "recall_at_20", "hit_at_10", "mrr",
                "ndcg_at_10",
            ] {
                let value = try #require(m[key] as? Double)
                #expect((0...1).contains(value))
            }
            #expect(m["queries"] as? Int == 25)
            #expect((m["groups"] as? [String: Any])?.count == 5)
        }
        let table = await cli.run(["eval", "--queries", fixturesPath("queries.jsonl"), "--modes", "keyword"])
        #expect(table.stdout.contains("keyword") && table.stdout.contains("nDCG@10"))
        let bad = await cli.run(["eval", "--queries", "-"], stdin: "{\"query\": \"x\", \"relevant\": []}\n")
        #expect(
            bad.status == ExitStatus.invalidInput && bad.stderr.contains("line 1")
                && bad.stderr.contains("relevant"))
        // eval leaves usage alone.
        let stats = try #require(try await cli.run(["stats", "--json"]).json() as? [String: Any])
        #expect(stats["never_recalled"] as? Int == 204)
    }

    @Test("retrieval measures on hand-computed rankings")
    func metrics() async {
        let m = RetrievalMetrics(ranked: ["a", "x", "b", "y"], relevant: ["a", "b", "c"])
        #expect(m.recall[1] == 1.0 / 3 && m.recall[5] == 2.0 / 3)
        #expect(m.hitAt10 == 1 && m.reciprocalRank == 1)
        let ideal = 1 + 1 / log2(3.0) + 1 / log2(4.0)
        #expect(abs(m.ndcgAt10 - (1 + 1 / log2(4.0)) / ideal) < 1e-12)
        let miss = RetrievalMetrics(ranked: ["x", "y"], relevant: ["a"])
        #expect(miss.reciprocalRank == 0 && miss.hitAt10 == 0 && miss.ndcgAt10 == 0)
        let late = RetrievalMetrics(ranked: ["x", "a"], relevant: ["a"])
        #expect(late.reciprocalRank == 0.5)
        #expect(RetrievalMetrics.mean([m, miss]).reciprocalRank == 0.5)
    }

    @Test(
        "on the judged fixture queries with MiniLM, hybrid recall is not worse than either mode alone",
        .enabled(if: ModelFiles.isMiniLMInstalled() || ProcessInfo.processInfo.environment["CI"] == "true"))
    func hybridNotWorse() throws {
        let result = try runBinary([
            "eval", "--memories", fixturesPath("memories.jsonl"), "--queries", fixturesPath("queries.jsonl"),
            "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let modes = try #require(report["modes"] as? [String: [String: Double]])
        for key in ["recall_at_1", "recall_at_5", "recall_at_10", "hit_at_10"] {
            let hybrid = try #require(modes["hybrid"]?[key])
            #expect(
                hybrid >= max(modes["vector"]?[key] ?? 1, modes["keyword"]?[key] ?? 1), "\(key): \(modes)")
        }
    }
}
