import Engram
import EngramService
import Foundation
import HTTPTypes
import Testing

@testable import EngramServer

/// Keys carry a trust ceiling and a rate; recall can require trust and answer as quoted data.
@Suite("Server: trust per key, rate limits, quarantine and purge over HTTP")
struct ServerTrustTests {
    @Test(
        "a key refuses writes above its trust, records its name as the writer, and min_trust filters recall")
    func trustCeiling() async throws {
        let h = try ServerHarness()
        let (agent, _) = try h.createKey("bot", namespaces: ["team"], actions: .readWrite)
        let (user, _) = try h.createKey("app", namespaces: ["team"], actions: .readWrite, maxTrust: .user)
        try await h.run { client in
            let refused = try await client.call(
                .post, "/v1/memories", #"{"content": "likes tea", "namespace": "team", "trust": "user"}"#,
                key: agent)
            #expect(refused.status == 403 && refused["error", "field"]?.stringValue == "trust")
            let stored = try await client.call(
                .post, "/v1/memories",
                #"{"content": "likes tea", "namespace": "team", "source": "user", "trust": "user"}"#,
                key: user)
            #expect(stored.status == 201 || stored.status == 200)
            let id = try #require(stored["ids", 0]?.stringValue)
            let memory = try await client.call(.get, "/v1/memories/\(id)", key: agent)
            #expect(memory["trust"]?.stringValue == "user" && memory["written_by"]?.stringValue == "app")
            _ = try await client.call(
                .post, "/v1/memories",
                #"{"content": "likes coffee", "namespace": "team", "source": "external"}"#,
                key: agent)
            let trusted = try await client.call(
                .post, "/v1/recall",
                #"{"query": "likes", "filter": {"minTrust": "user"}, "format": "prompt"}"#,
                key: agent)
            #expect(trusted["hits"]?.arrayValue?.count == 1)
            #expect(trusted["prompt"]?.stringValue?.contains("source=user trust=user") == true)
            // A quarantine needs the action; the reader-writer key lacks it.
            #expect(try await client.call(.post, "/v1/memories/\(id)/quarantine", key: agent).status == 403)
        }
    }

    @Test("past its rate a key gets 429 with Retry-After, and other keys are not slowed")
    func rateLimit() async throws {
        let h = try ServerHarness()
        // One request per 50 s (a burst of one): the test does not depend on how fast the machine is.
        let (slow, _) = try h.createKey("slow", namespaces: nil, actions: .read, rate: 0.02)
        let (free, _) = try h.createKey("free", namespaces: nil, actions: .read)
        try await h.run { client in
            #expect(try await client.call(.get, "/v1/count", key: slow).status == 200)
            let limited = try await client.call(.get, "/v1/count", key: slow)
            #expect(limited.status == 429 && Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(limited["error", "code"]?.stringValue == "rateLimited")
            for _ in 0..<6 { #expect(try await client.call(.get, "/v1/count", key: free).status == 200) }
        }
    }

    @Test("key use reaches the audit log, counted per key, at the latest when the server stops")
    func keyUse() async throws {
        let h = try ServerHarness()
        let (bot, _) = try h.createKey("bot", namespaces: nil, actions: .read)
        try await h.run { client in
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await client.call(.get, "/v1/count", key: bot).status) }
            #expect(statuses == [200, 200, 200])
        }
        let entries = try h.store.auditEntries().filter { $0.action == "key-use" }
        // One entry, or more when a minute passed between requests (a slow machine, a sanitizer).
        #expect(!entries.isEmpty && entries.allSatisfy { $0.actor == "bot" })
        let counted = entries.compactMap { entry in
            entry.detail.split(separator: ";").first.flatMap { Int($0.dropFirst("requests=".count)) }
        }
        #expect(counted.reduce(0, +) == 3 && counted.count == entries.count)
    }

    @Test("past its daily write quota a key gets 429 until the next UTC day; reads go on")
    func quota() async throws {
        let h = try ServerHarness()
        let (writer, _) = try h.createKey("writer", namespaces: nil, actions: .readWrite, dailyWrites: 2)
        try await h.run { client in
            var statuses: [Int] = []
            for i in 0..<3 {
                statuses.append(
                    try await client.call(.post, "/v1/memories", #"{"content": "note \#(i)"}"#, key: writer)
                        .status)
            }
            #expect(statuses.prefix(2).allSatisfy { $0 == 200 || $0 == 201 } && statuses[2] == 429)
            let over = try await client.call(.post, "/v1/memories", #"{"content": "more"}"#, key: writer)
            #expect(over["error", "code"]?.stringValue == "quotaExceeded")
            let wait = Int(over.headers[.retryAfter] ?? "") ?? 0
            #expect(wait >= 1 && wait <= 86_400)
            #expect(try await client.call(.get, "/v1/count", key: writer).status == 200)
        }
        let limits = KeyLimits()
        let lateInDay = Date(timeIntervalSince1970: 86_400 * 20_000 + 86_390)
        #expect(limits.admitWrite(key: "k", quota: 1, now: lateInDay) == nil)
        #expect(limits.admitWrite(key: "k", quota: 1, now: lateInDay) == 10)
        #expect(limits.admitWrite(key: "k", quota: 1, now: lateInDay.addingTimeInterval(10)) == nil)
    }

    @Test("the token bucket admits its rate with a burst of one second's worth, and says how long to wait")
    func bucket() {
        let limits = KeyLimits()
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }
        let admitted = (0..<5).map { _ in limits.admit(key: "k", rate: 4, now: at(0)) }
        #expect(admitted == [nil, nil, nil, nil, 1])
        #expect(limits.admit(key: "k", rate: 4, now: at(0.25)) == nil)
        #expect(limits.admit(key: "k", rate: 4, now: at(0.25)) == 1)
        #expect(limits.admit(key: "other", rate: 4, now: at(0.25)) == nil)
        #expect(limits.admit(key: "k", rate: nil, now: at(0.25)) == nil)
        #expect(limits.admit(key: "slow", rate: 0.1, now: at(0)) == nil)
        #expect(limits.admit(key: "slow", rate: 0.1, now: at(1)) == 9)
    }
}
