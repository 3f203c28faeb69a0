import Engram
import EngramCLI
import EngramTestSupport
import Foundation
import Testing

/// `$ENGRAM_SCOPE`: an operator confines an agent's `engram` tool process to namespaces and actions.
@Suite("engram under $ENGRAM_SCOPE")
struct ScopeCommandTests {
    @Test("data commands see and touch only the scope; whole-store commands and other actions exit 77")
    func scopedProcess() async throws {
        let cli = CLI()
        #expect(await cli.run(["init", "--embedder", "custom", "--dimension", "12"]).status == 0)
        // namespaces team/a, team/b, team/a/sub, other
        let (jsonl, _) = vectorJSONL(count: 40, dimension: 12, seed: 4)
        #expect(await cli.run(["import", "-"], stdin: jsonl).status == 0)
        let reader = ["ENGRAM_SCOPE": "team/a"]
        let writer = ["ENGRAM_SCOPE": "team/a", "ENGRAM_SCOPE_ACTIONS": "read,write"]

        #expect(
            await cli.run(["count"], environment: reader).stdout.trimmingCharacters(
                in: .whitespacesAndNewlines) == "20")
        let page = try #require(
            try await cli.run(["list", "--all", "--json"], environment: reader).json() as? [String: Any])
        let listed = try #require(page["memories"] as? [[String: Any]])
        #expect(
            listed.count == 20
                && listed.allSatisfy { ($0["namespace"] as? String)?.hasPrefix("team/a") == true })
        let hits = try #require(
            try await cli.run(
                ["recall", "--vector", "[1,0,0,0,0,0,0,0,0,0,0,0]", "-k", "100", "--json"],
                environment: reader
            ).json()
                as? [[String: Any]])
        #expect(hits.count == 20)
        let exported = await cli.run(["export"], environment: reader).stdout.split(separator: "\n")
        #expect(exported.count == 20)

        // Another namespace: refused by name, not silently empty; an outside id looks unknown.
        let other = await cli.run(["count", "--namespace", "team/b"], environment: reader)
        #expect(other.status == ExitStatus.permissionDenied && other.stderr.contains("filter.namespace"))
        let otherPage = try #require(
            try await cli.run(["list", "--namespace", "other", "--json"]).json() as? [String: Any])
        let outsideID = try #require((otherPage["memories"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(await cli.run(["show", outsideID], environment: reader).status == ExitStatus.notFound)

        // Actions: a reader cannot write; a writer cannot forget, nor write outside.
        let vector = "[0,1,0,0,0,0,0,0,0,0,0,0]"
        #expect(
            await cli.run(
                ["remember", "--content", "x", "--namespace", "team/a", "--vector", vector],
                environment: reader
            ).status
                == ExitStatus.permissionDenied)
        // The scope is checked before any embedding: this store cannot even embed text (65 otherwise).
        #expect(
            await cli.run(["remember", "--content", "x", "--namespace", "team/a"], environment: reader).status
                == ExitStatus.permissionDenied)
        #expect(
            await cli.run(
                ["remember", "--content", "x", "--namespace", "team/a/new", "--vector", vector],
                environment: writer
            ).status
                == 0)
        let outside = await cli.run(
            ["remember", "--content", "x", "--namespace", "team/b", "--vector", vector], environment: writer)
        #expect(outside.status == ExitStatus.permissionDenied && outside.stderr.contains("namespace"))
        #expect(
            await cli.run(["forget", outsideID], environment: writer).status == ExitStatus.permissionDenied)
        #expect(
            await cli.run(["working", "set", "k", "v", "--namespace", "team/b"], environment: writer).status
                == ExitStatus.permissionDenied)

        // Commands that need the whole store are refused under any scope.
        for command in [["stats"], ["health"], ["compact"], ["init"], ["reembed", "--embedder", "hashing"]] {
            let result = await cli.run(command, environment: writer)
            #expect(result.status == ExitStatus.permissionDenied, "\(command): \(result.stderr)")
        }
        // A malformed scope is a configuration error naming the variable.
        let bad = await cli.run(
            ["count"], environment: ["ENGRAM_SCOPE": "team/a", "ENGRAM_SCOPE_ACTIONS": "read,admin"])
        #expect(bad.status == ExitStatus.invalidInput && bad.stderr.contains("ENGRAM_SCOPE_ACTIONS"))
        // unscoped: all
        #expect(await cli.run(["count"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "41")
    }
}
