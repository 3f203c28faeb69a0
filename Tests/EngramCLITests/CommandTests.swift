import Engram
import EngramCLI
import EngramTestSupport
import Foundation
import Synchronization
import Testing

@Suite("engram commands, in-process")
struct CommandTests {
    @Test("init refuses to overwrite; usage errors exit 64; --help exits 0")
    func initAndUsage() async {
        let cli = CLI()
        #expect(await cli.run(["init"]).status == 0)
        let again = await cli.run(["init"])
        #expect(again.status == ExitStatus.alreadyExists)
        #expect(again.stderr.hasPrefix("engram: "))
        #expect(await cli.run(["recall", "--bogus"]).status == ExitStatus.usage)
        #expect(await cli.raw(["nonsense"]).status == ExitStatus.usage)
        let help = await cli.raw(["recall", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--min-score"))
        #expect(
            await cli.run(["init", "--embedder", "nope"], store: cli.dir.appending("x")).status
                == ExitStatus.invalidInput)
        #expect(await cli.run(["count"], store: cli.dir.appending("missing")).status == ExitStatus.notFound)
    }

    @Test("remember from flags and from stdin JSON, recall by text, show, update, history")
    func rememberRecall() async throws {
        let cli = CLI()
        await cli.run(["init"])
        let a = await cli.run([
            "remember", "--content", "Customer says checkout is slow", "--why", "connection pool exhausted",
            "--outcome", "raised the pool size", "--succeeded", "--tag", "checkout", "--namespace",
            "acme/support",
            "--meta", "ticket=42", "--meta", "customer=\"acme\"",
        ])
        #expect(a.status == 0)
        let id = a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(MemoryID(id) != nil)
        let b = await cli.run(
            ["remember"],
            stdin: #"{"what": "Deploy failed", "why": "flaky test", "namespace": "acme/deploy"}"#)
        #expect(b.status == 0, "\(b.stderr)")
        // The text as the argument, as `--content` would give it; not both.
        let c = await cli.run([
            "remember", "Reset the router to end the outage", "--namespace", "acme/network", "--json",
        ])
        #expect(c.status == 0, "\(c.stderr)")
        let stored = try #require((try c.json() as? [String: Any])?["id"] as? String)
        let shown = try await cli.run(["show", stored, "--json"]).json() as? [String: Any]
        #expect(shown?["content"] as? String == "Reset the router to end the outage")
        #expect(shown?["namespace"] as? String == "acme/network")
        let twice = await cli.run(["remember", "one text", "--content", "another"])
        #expect(twice.status == ExitStatus.usage && twice.stderr.contains("--content"))
        #expect(await cli.run(["count"]).stdout == "3\n")

        let hits = await cli.run(["recall", "checkout is slow", "--json", "-k", "2"])
        #expect(hits.status == 0)
        let array = try #require(try hits.json() as? [[String: Any]])
        #expect(array.first?["id"] as? String == id)
        #expect(array.first?["cause"] as? String == "connection pool exhausted")
        #expect((array.first?["score"] as? Double ?? 0) > 0.3)
        #expect((array.first?["metadata"] as? [String: Any])?["ticket"] as? Double == 42)

        let filtered = try #require(
            try await cli.run(["recall", "checkout is slow", "--json", "--namespace", "acme/deploy"]).json()
                as? [[String: Any]])
        #expect(filtered.count == 1 && filtered[0]["namespace"] as? String == "acme/deploy")
        let byMeta = try #require(
            try await cli.run(["recall", "anything", "--json", "--where", "meta.customer=acme"]).json()
                as? [[String: Any]])
        #expect(byMeta.map { $0["id"] as? String } == [id])

        let updated = await cli.run([
            "update", id, "--outcome", "raised the pool and added an alert", "--json",
        ])
        #expect(updated.status == 0, "\(updated.stderr)")
        let newID = try #require((try updated.json() as? [String: Any])?["id"] as? String)
        let history = try #require(
            try await cli.run(["history", newID, "--json"]).json() as? [[String: Any]])
        #expect(history.map { $0["id"] as? String } == [newID, id])
        #expect(await cli.run(["show", id]).status == ExitStatus.notFound)
        #expect(await cli.run(["show", "not-an-id"]).status == ExitStatus.invalidInput)
        #expect(await cli.run(["show", newID, "--json"]).status == 0)
    }

    @Test("bad input exits 65 with the field named, and stores nothing")
    func badInput() async {
        let cli = CLI()
        await cli.run(["init", "--embedder", "custom", "--dimension", "3"])
        let cases: [([String], String, String)] = [
            (["remember", "--content", "", "--vector", "[1,2,3]"], "", "invalid content"),
            (["remember", "--content", "x", "--vector", "[1,2]"], "", "invalid embedding"),
            (["remember", "--content", "x", "--vector", "[0,0,0]"], "", "zero vector"),
            (
                ["remember", "--content", "x", "--vector", "[1,2,3]", "--importance", "2"], "",
                "invalid importance"
            ),
            (
                ["remember", "--content", "x", "--vector", "[1,2,3]", "--namespace", "a//b"], "",
                "invalid namespace"
            ),
            (["remember", "--content", "x"], "", "no built-in embedder"),
            (["remember"], "{not json", "invalid stdin"),
            (["remember"], #"{"content": "x", "embedding": [1,2,3], "colour": 1}"#, "invalid colour"),
            (["recall", "--vector", "[1,2]"], "", "invalid query"),
            (["recall", "--vector", "[1,0,0]", "-k", "0"], "", "invalid k"),
            (["recall", "--vector", "[1,0,0]", "--since", "yesterday"], "", "invalid --since"),
            (["recall", "--vector", "[1,0,0]", "--where", "customer=acme"], "", "invalid --where"),
        ]
        for (args, stdin, message) in cases {
            let r = await cli.run(args, stdin: stdin)
            #expect(r.status == ExitStatus.invalidInput, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        }
        #expect(await cli.run(["count"]).stdout == "0\n")
    }

    @Test("bulk forget refuses without --yes and leaves the store unchanged")
    func bulkForget() async throws {
        let cli = CLI()
        await cli.run(["init"])
        for i in 0..<5 {
            await cli.run(["remember", "--content", "note \(i)", "--namespace", i < 3 ? "a" : "b"])
        }
        let refused = await cli.run(["forget", "--namespace", "a"])
        #expect(refused.status == ExitStatus.failure)
        #expect(refused.stdout.contains("would forget 3 memories"))
        #expect(refused.stderr.contains("--yes"))
        #expect(await cli.run(["count"]).stdout == "5\n")
        let done = await cli.run(["forget", "--namespace", "a", "--yes", "--json"])
        #expect((try done.json() as? [String: Any])?["forgotten"] as? Double == 3)
        #expect(await cli.run(["count"]).stdout == "2\n")
        #expect(await cli.run(["forget"]).status == ExitStatus.usage)
    }

    @Test("working memory commands: set, get, list, delete, promote, with exit codes")
    func working() async throws {
        let cli = CLI()
        await cli.run(["init"])
        #expect(
            await cli.run(["working", "set", "ticket", "T-1042", "--ttl", "10m", "--namespace", "acme"])
                .status == 0)
        #expect(await cli.run(["working", "get", "ticket", "--namespace", "acme"]).stdout == "T-1042\n")
        #expect(await cli.run(["working", "get", "ticket"]).status == ExitStatus.notFound)
        let list = try #require(
            try await cli.run(["working", "list", "--namespace", "acme", "--json"]).json() as? [[String: Any]]
        )
        #expect(list.first?["key"] as? String == "ticket")
        #expect(
            await cli.run(["working", "set", "k", "v", "--ttl", "soon"]).status == ExitStatus.invalidInput)
        let promoted = await cli.run([
            "working", "promote", "ticket", "--namespace", "acme", "--kind", "fact",
        ])
        #expect(promoted.status == 0, "\(promoted.stderr)")
        #expect(await cli.run(["count", "--namespace", "acme"]).stdout == "1\n")
        #expect(
            await cli.run(["working", "delete", "ticket", "--namespace", "acme"]).status
                == ExitStatus.notFound)
    }

    @Test("stats, health and compact print JSON that parses")
    func statsHealth() async throws {
        let cli = CLI()
        await cli.run(["init"])
        await cli.run(["remember", "--content", "hello world"])
        let stats = try #require(try await cli.run(["stats", "--json"]).json() as? [String: Any])
        #expect(stats["memories"] as? Double == 1)
        #expect(stats["blas_core"] is String)
        let health = try #require(try await cli.run(["health", "--json"]).json() as? [String: Any])
        #expect(health["healthy"] as? Bool == true)
        #expect(try await cli.run(["compact", "--json"]).json() is [String: Any])
    }

    @Test("reembed switches the store's embedder and text recall keeps working")
    func reembed() async throws {
        let cli = CLI()
        await cli.run(["init", "--embedder", "hashing"])
        await cli.run(["remember", "--content", "Customer says checkout is slow"])
        await cli.run(["remember", "--content", "Deploy failed on Friday"])
        let r = await cli.run(["reembed", "--embedder", "hashing", "--dimension", "64", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try r.json() as? [String: Any])?["reembedded"] as? Double == 2)
        let stats = try #require(try await cli.run(["stats", "--json"]).json() as? [String: Any])
        #expect(stats["dimension"] as? Double == 64 && stats["embedder"] as? String == "hashing-64")
        let hits = try #require(
            try await cli.run(["recall", "checkout slow", "--json", "-k", "1"]).json() as? [[String: Any]])
        #expect((hits.first?["content"] as? String)?.contains("checkout") == true)
        #expect(await cli.run(["reembed", "--embedder", "nope"]).status == ExitStatus.invalidInput)
    }
}

@Suite("engram with an OpenAI-compatible embedding server")
struct HTTPEmbedderCommandTests {
    @Test("init probes the server's dimension; remember and recall embed through it, with the cache")
    func endToEnd() async throws {
        let fake = try FakeEmbeddingServer(requireKey: "sk-local")
        let dir = TemporaryDirectory()
        let env = [
            "ENGRAM_EMBEDDING_URL": fake.server.url.absoluteString, "ENGRAM_EMBEDDING_API_KEY": "sk-local",
            "ENGRAM_MODELS": "/nonexistent",
        ]
        func run(_ args: [String]) async -> CLIResult {
            let io = CapturedIO(environment: env)
            let status = await EngramCLI.run(args + ["--store", dir.appending("s")], io: io.io)
            return CLIResult(status: status, stdout: io.stdout, stderr: io.stderr)
        }
        let initialised = await run(["init", "--embedder", "openai-compatible:nomic-embed-text"])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        #expect(initialised.stdout.contains("dimension 16"))
        #expect(await run(["remember", "--content", "Customer says checkout is slow"]).status == 0)
        #expect(await run(["remember", "--content", "Deploy failed on Friday"]).status == 0)
        let hits = try #require(
            try await run(["recall", "Customer says checkout is slow", "--json", "-k", "1"]).json()
                as? [[String: Any]])
        #expect(hits.first?["content"] as? String == "Customer says checkout is slow")
        // The query text was embedded before (by remember): served from the store's cache, not the server.
        #expect(fake.state.requests.withLock { $0.count } == 3)  // probe + two remembers
    }
}
