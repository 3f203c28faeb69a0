import Engram
import EngramService
import EngramTestSupport
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

@Suite("HTTP API: keys and least privilege")
struct ServerAuthTests {
    @Test("no key, an unknown key and a revoked key get 401; Bearer and X-API-Key both work")
    func authentication() async throws {
        let h = try ServerHarness()
        let (key, id) = try h.createKey("ops", namespaces: nil, actions: .all)
        let (old, oldID) = try h.createKey("old", namespaces: nil, actions: .read)
        var file = try KeyFile(path: h.configuration.keysPath)
        _ = try file.revoke(id: oldID)
        let stored = try String(contentsOfFile: h.configuration.keysPath, encoding: .utf8)
        #expect(!stored.contains(key), "the key file holds hashes only")
        #expect(id.hasPrefix("k_"))
        try await h.run { client in
            let none = try await client.call(.get, "/v1/count")
            #expect(none.status == 401)
            #expect(none.errorCode == "unauthenticated")
            #expect(none.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.call(.get, "/v1/count", key: "egk_guess").status == 401)
            #expect(try await client.call(.get, "/v1/count", key: old).status == 401)
            #expect(try await client.call(.get, "/v1/count", key: key).status == 200)
            #expect(try await client.call(.get, "/v1/count", key: key, header: "x-api-key").status == 200)
            // Operations routes stay open for probes and scrapers; they carry no memory.
            #expect(try await client.call(.get, "/healthz").status == 200)
            #expect(try await client.call(.get, "/metrics").status == 200)
        }
    }

    @Test(
        "a key reaches only its scope: other namespaces look unknown, writes outside are 403, actions are enforced"
    )
    func leastPrivilege() async throws {
        let h = try ServerHarness()
        let (owner, _) = try h.createKey("owner", namespaces: nil, actions: .all)
        let (agent, _) = try h.createKey("support-bot", namespaces: ["acme/support"], actions: .readWrite)
        let (reader, _) = try h.createKey("reader", namespaces: ["acme/support"], actions: .read)
        try await h.run { client in
            let secret = "globex merger plans, confidential"
            let other = try await client.call(
                .post, "/v1/memories", "{\"content\":\"\(secret)\",\"namespace\":\"globex\"}", key: owner)
            let otherID = try #require(other["ids", 0]?.stringValue)
            let mine = try await client.call(
                .post, "/v1/memories", #"{"content":"refund for user 1","namespace":"acme/support/user-1"}"#,
                key: agent)
            #expect(mine.status == 201)
            let mineID = try #require(mine["ids", 0]?.stringValue)

            var replies: [ServerHarness.Reply] = []
            func check(_ reply: ServerHarness.Reply) { replies.append(reply) }
            let get = try await client.call(.get, "/v1/memories/\(otherID)", key: agent)
            #expect(get.status == 404)
            #expect(get.errorCode == "notFound")
            check(get)
            check(try await client.call(.get, "/v1/memories/\(otherID)/history", key: agent))
            let recall = try await client.call(
                .post, "/v1/recall", #"{"query":"globex merger plans","k":10}"#, key: agent)
            #expect(recall["hits"]?.arrayValue?.count == 1)
            check(recall)
            check(try await client.call(.post, "/v1/search", #"{"query":"merger"}"#, key: agent))
            let list = try await client.call(.get, "/v1/memories", key: agent)
            #expect(list["memories"]?.arrayValue?.count == 1)
            check(list)
            #expect(try await client.call(.get, "/v1/count", key: agent)["count"] == 1)
            let stats = try await client.call(.get, "/v1/stats", key: agent)
            #expect(stats["memories"] == 1)
            #expect(stats["by_namespace", "globex"] == nil)
            check(stats)
            let foreignFilter = try await client.call(
                .post, "/v1/recall", #"{"query":"x","filter":{"namespace":"globex"}}"#, key: agent)
            #expect(foreignFilter.status == 403)
            check(foreignFilter)
            let writeOutside = try await client.call(
                .post, "/v1/memories", #"{"content":"x","namespace":"globex"}"#, key: agent)
            #expect(writeOutside.status == 403)
            #expect(writeOutside.errorField == "namespace")
            #expect(
                try await client.call(
                    .patch, "/v1/memories/\(otherID)", #"{"content":"overwritten"}"#, key: agent
                ).status == 404)
            #expect(
                try await client.call(.delete, "/v1/memories/\(mineID)", key: agent).status == 403,
                "no forget action")
            #expect(try await client.call(.delete, "/v1/memories/\(otherID)", key: owner).status == 204)
            let readOnly = try await client.call(
                .post, "/v1/memories", #"{"content":"x","namespace":"acme/support"}"#, key: reader)
            #expect(readOnly.status == 403)
            #expect(
                try await client.call(
                    .put, "/v1/working/globex/k", #"{"value":1,"ttl_seconds":9}"#, key: agent
                ).status == 403)
            for reply in replies {
                #expect(!reply.text.contains("globex merger"), "no response leaks another scope's memory")
                #expect(!reply.text.contains(otherID), "no response names another scope's memory")
            }
        }
    }

    @Test("keys created and revoked while the server runs take effect within a second")
    func keysReload() async throws {
        let h = try ServerHarness()
        let (first, _) = try h.createKey("first", namespaces: nil, actions: .read)
        try await h.run { client in
            #expect(try await client.call(.get, "/v1/count", key: first).status == 200)
            let (second, secondID) = try h.createKey("second", namespaces: nil, actions: .read)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await client.call(.get, "/v1/count", key: second).status == 200)
            var file = try KeyFile(path: h.configuration.keysPath)
            _ = try file.revoke(id: secondID)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await client.call(.get, "/v1/count", key: second).status == 401)
            try FileManager.default.removeItem(atPath: h.configuration.keysPath)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(
                try await client.call(.get, "/v1/count").status == 401,
                "a deleted key file never opens the server")
        }
    }

    @Test("without keys the server refuses a non-loopback address unless --insecure")
    func bindingRules() throws {
        var configuration = ServerConfiguration(keysPath: "/nonexistent/keys.json")
        configuration.host = "0.0.0.0"
        #expect(throws: EngramError.self) { try configuration.validate(keysExist: false) }
        try configuration.validate(keysExist: true)
        configuration.insecure = true
        try configuration.validate(keysExist: false)
        configuration.host = "127.0.0.1"
        configuration.insecure = false
        try configuration.validate(keysExist: false)
    }
}
