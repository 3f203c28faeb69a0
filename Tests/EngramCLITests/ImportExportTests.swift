import Engram
import EngramCLI
import EngramTestSupport
import Foundation
import Testing

@Suite("import, export and recall through the CLI")
struct ImportExportTests {
    @Test("the fixture memories import, and text recall finds the checkout incident")
    func fixtures() async throws {
        let cli = CLI()
        await cli.run(["init"])
        let r = await cli.run(["import", fixturesPath("memories.jsonl"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let count = try #require((try r.json() as? [String: Any])?["imported"] as? Double)
        #expect(count >= 200)
        let hits = try #require(
            try await cli.run(["recall", "checkout is slow", "--json", "-k", "1"]).json() as? [[String: Any]])
        #expect((hits.first?["content"] as? String)?.contains("checkout") == true)
    }

    @Test("recall by vector through the CLI equals the brute-force oracle, with filters")
    func recallMatchesOracle() async throws {
        let cli = CLI()
        await cli.run(["init", "--embedder", "custom", "--dimension", "16"])
        let (jsonl, vectors) = vectorJSONL(count: 600, dimension: 16, seed: 5)
        #expect(await cli.run(["import", "-"], stdin: jsonl).status == 0)
        var rng = SeededGenerator(seed: 6)
        let cases: [([String], (Int) -> Bool)] = [
            ([], { _ in true }),
            (["--namespace", "team/"], { $0 % 4 < 3 }),
            (["--namespace", "team/a"], { $0 % 4 == 0 }),
            (["--tag", "red"], { $0 % 3 == 0 }),
            (["--where", "meta.n>=7", "--where", "meta.team=x"], { $0 % 10 >= 7 && $0 % 2 == 0 }),
            (["--since", "2026-05-01", "--until", "2026-07-01"], { (1 + $0 % 9) == 5 || (1 + $0 % 9) == 6 }),
        ]
        for (flags, admit) in cases {
            let q = rng.vector(dimension: 16)
            let qText = "[" + q.map { "\($0)" }.joined(separator: ",") + "]"
            let r = await cli.run(["recall", "--vector", qText, "-k", "10", "--json"] + flags)
            #expect(r.status == 0, "\(r.stderr)")
            let hits = try #require(try r.json() as? [[String: Any]])
            let expected = vectors.indices.filter(admit)
                .map { (i: $0, s: BruteForceOracle.cosine(q, vectors[$0])) }.sorted { $0.s > $1.s }.prefix(10)
            #expect(hits.count == expected.count, "\(flags)")
            for (hit, truth) in zip(hits, expected) {
                #expect(abs((hit["score"] as? Double ?? 9) - truth.s) < 1e-4, "\(flags)")
            }
            let returned = Set(hits.compactMap { $0["content"] as? String })
            let kth = expected.last?.s ?? 0
            for e in expected where e.s > kth + 1e-4 {
                #expect(returned.contains("memory \(e.i)"), "\(flags)")
            }
        }
    }

    @Test("export then import into a new store gives identical records and embeddings")
    func roundTrip() async throws {
        let cli = CLI()
        await cli.run(["init", "--embedder", "custom", "--dimension", "12"])
        let (jsonl, _) = vectorJSONL(count: 150, dimension: 12, seed: 9)
        #expect(await cli.run(["import", "-"], stdin: jsonl).status == 0)
        let id = try #require(
            await cli.run(["list", "--json", "--limit", "1"]).stdout.split(separator: "\"id\" : \"")
                .dropFirst().first?.prefix(36))
        let v2 = await cli.run(["update", String(id), "--outcome", "changed", "--ttl", "30d"])
        #expect(v2.status == 0, "\(v2.stderr)")
        let exported = await cli.run(["export", "--with-embeddings"])
        #expect(exported.status == 0)
        #expect(exported.stdout.split(separator: "\n").count == 150)

        let other = cli.dir.appending("copy")
        await cli.run(["init", "--embedder", "custom", "--dimension", "12"], store: other)
        let imported = await cli.run(["import", "-"], stdin: exported.stdout, store: other)
        #expect(imported.status == 0, "\(imported.stderr)")
        let again = await cli.run(["export", "--with-embeddings"], store: other)
        let a = exported.stdout.split(separator: "\n").map { try? JSONValue(parsing: String($0)) }
        let b = again.stdout.split(separator: "\n").map { try? JSONValue(parsing: String($0)) }
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            guard case .object(var ox)? = x, case .object(var oy)? = y else {
                Issue.record("not objects")
                continue
            }
            let ex = ox.removeValue(forKey: "embedding")
            let ey = oy.removeValue(forKey: "embedding")
            #expect(ox == oy)
            guard case .array(let vx)? = ex, case .array(let vy)? = ey else {
                Issue.record("missing embedding")
                continue
            }
            for (p, q) in zip(vx, vy) { #expect(abs((p.numberValue ?? 9) - (q.numberValue ?? -9)) < 1e-6) }
        }
        // Importing the same export again is refused: the ids exist.
        let dup = await cli.run(["import", "-"], stdin: exported.stdout, store: other)
        #expect(dup.status == ExitStatus.invalidInput)
        #expect(dup.stderr.contains("line 1: invalid id"))
    }

    @Test("bad JSONL lines are all reported with line numbers; abort stores nothing, skip stores the rest")
    func badLines() async throws {
        let cli = CLI()
        await cli.run(["init", "--embedder", "custom", "--dimension", "3"])
        let input = [
            #"{"content": "good one", "embedding": [1, 0, 0]}"#,
            #"{"content": "broken", "embedding": [1, 0"#,
            #"{"content": "wrong dimension", "embedding": [1, 0]}"#,
            #"{"why": "no content", "embedding": [1, 0, 0]}"#,
            #"{"content": "not a number", "embedding": [1, NaN, 0]}"#,
            #"{"content": "too big", "embedding": [1e39, 0, 0]}"#,
            "",
            #"{"content": "good two", "embedding": [0, 1, 0], "tags": ["a"]}"#,
            #"[1, 2, 3]"#,
        ].joined(separator: "\n")
        let abort = await cli.run(["import", "-"], stdin: input)
        #expect(abort.status == ExitStatus.invalidInput)
        for (line, text) in [
            (2, "invalid line"), (3, "invalid embedding"), (4, "invalid content"), (5, "invalid line"),
            (6, "invalid embedding"), (9, "invalid line"),
        ] {
            #expect(abort.stderr.contains("line \(line): \(text)"), "line \(line): \(abort.stderr)")
        }
        #expect(!abort.stderr.contains("line 1:") && !abort.stderr.contains("line 8:"))
        #expect(await cli.run(["count"]).stdout == "0\n")

        let skip = await cli.run(["import", "-", "--on-error", "skip", "--json"], stdin: input)
        #expect(skip.status == 0)
        let summary = try #require(try skip.json() as? [String: Any])
        #expect(summary["imported"] as? Double == 2 && summary["skipped"] as? Double == 6)
        #expect(await cli.run(["count"]).stdout == "2\n")
    }

    @Test("list pages with a cursor and --jsonl streams every memory")
    func listPages() async throws {
        let cli = CLI()
        await cli.run(["init", "--embedder", "custom", "--dimension", "4"])
        let (jsonl, _) = vectorJSONL(count: 45, dimension: 4, seed: 2)
        await cli.run(["import", "-"], stdin: jsonl)
        let first = try #require(
            try await cli.run(["list", "--json", "--limit", "20"]).json() as? [String: Any])
        let next = try #require(first["next"] as? String)
        let second = try #require(
            try await cli.run(["list", "--json", "--limit", "20", "--after", next]).json() as? [String: Any])
        #expect((second["memories"] as? [Any])?.count == 20)
        #expect(
            await cli.run(["list", "--jsonl", "--all", "--limit", "7"]).stdout.split(separator: "\n").count
                == 45)
    }
}
