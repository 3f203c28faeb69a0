import Engram
import EngramTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `engram serve` as a child process on a real loopback socket.
final class ServerProcess: @unchecked Sendable {  // Sendable: fields set in init, then only read.
    let process = Process()
    let output = Pipe()
    let port: Int

    init(store: String, extra: [String] = [], environment extraEnvironment: [String: String] = [:]) throws {
        process.executableURL = Fixtures.productsDirectory().appendingPathComponent("engram")
        process.arguments = ["serve", "--store", store, "--port", "0", "--workers", "2"] + extra
        var environment = ProcessInfo.processInfo.environment
        environment["ENGRAM_LOG_LEVEL"] = "error"
        environment.merge(extraEnvironment) { $1 }
        process.environment = environment
        process.standardOutput = output
        // `ENGRAM_TEST_LOGS=DIR` keeps each server's log in DIR (at the level that variable's
        // `ENGRAM_TEST_LOG_LEVEL` says, else errors only), for a failing test's post-mortem.
        if let logs = environment["ENGRAM_TEST_LOGS"] {
            environment["ENGRAM_LOG_LEVEL"] = environment["ENGRAM_TEST_LOG_LEVEL"] ?? "error"
            process.environment = environment
            let path = logs + "/serve-\(UUID().uuidString.prefix(8)).log"
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        // The first line says where it listens: "engram: serving STORE at http://127.0.0.1:PORT".
        var line = ""
        while !line.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += String(decoding: chunk, as: UTF8.self)
        }
        guard let text = line.split(separator: ":").last,
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.terminate()
            throw EngramError(.io, "the server did not report its port: \(line)")
        }
        self.port = port
    }

    /// Sends a signal and waits for the process to end; returns its exit status.
    @discardableResult
    func stop(_ signal: Int32) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// One request; nil when the connection failed (the server was killed).
    func call(_ method: String, _ path: String, _ body: String? = nil, key: String? = nil) async -> (
        status: Int, json: Any?
    )? {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 20
        request.httpBody = body.map { Data($0.utf8) }
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            let http = response as? HTTPURLResponse
        else {
            return nil
        }
        return (http.statusCode, try? JSONSerialization.jsonObject(with: data))
    }
}

@Suite("engram serve over a loopback socket", .serialized)
struct ServeEndToEndTests {
    @Test("the built binary serves the API with keys, and SIGTERM drains and closes the store cleanly")
    func servesAndStops() async throws {
        let dir = TemporaryDirectory("engram-serve")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let created = try runBinary([
            "keys", "create", "--store", store, "--namespace", "acme", "--actions", "read,write", "--name",
            "bot", "--json",
        ])
        #expect(created.status == 0, "\(created.stderr)")
        let key = try #require(
            (try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["key"]
                as? String)
        let listed = try runBinary(["keys", "list", "--store", store])
        #expect(listed.stdout.contains("bot") && !listed.stdout.contains(key))

        let server = try ServerProcess(store: store)
        #expect(await server.call("GET", "/healthz")?.status == 200)
        #expect(await server.call("GET", "/v1/count")?.status == 401)
        let stored = await server.call(
            "POST", "/v1/memories",
            #"{"content":"deploy failed: missing env var","outcome":"added it to the manifest","succeeded":true,"namespace":"acme/ops"}"#,
            key: key)
        #expect(stored?.status == 201)
        let recall = await server.call(
            "POST", "/v1/recall", #"{"query":"why did the deploy fail","k":1}"#, key: key)
        let hits = (recall?.json as? [String: Any])?["hits"] as? [[String: Any]]
        #expect(hits?.first?["outcome"] as? String == "added it to the manifest")
        #expect(
            await server.call("POST", "/v1/memories", #"{"content":"x","namespace":"globex"}"#, key: key)?
                .status == 403)
        #expect(await server.call("GET", "/readyz")?.status == 200)
        #expect(server.stop(SIGTERM) == 0)

        let reopened = try MemoryStore.open(at: store)
        #expect(try reopened.count() == 1)
        #expect(try reopened.health().healthy)
        try reopened.close()
    }

    @Test(
        "SIGTERM under a write load: requests in flight are answered (never 5xx), every 2xx write is kept, exit 0"
    )
    func drainsOnSIGTERM() async throws {
        let dir = TemporaryDirectory("engram-serve-drain")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let acknowledged = Acknowledged()
        let failures = Acknowledged()
        let server = try ServerProcess(store: store)
        let writers = server.writeLoad(writers: 8, acknowledged: acknowledged, failures: failures) {
            writer, i in
            #"{"content":"drain writer \#(writer) item \#(i)","namespace":"drain"}"#
        }
        // The load runs at least 400 ms and until writes are being acknowledged (a busy machine may take
        // longer to answer the first ones; a fixed wait once sent SIGTERM before any had been answered).
        try await Task.sleep(for: .milliseconds(400))
        let deadline = ContinuousClock.now + .seconds(20)
        while acknowledged.ids.count < 8, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let status = server.stop(SIGTERM)
        for writer in writers { await writer.value }
        #expect(status == 0)
        #expect(failures.ids.isEmpty, "answers other than 201 while draining: \(Set(failures.ids))")
        let reopened = try MemoryStore.open(at: store)
        defer { try? reopened.close() }
        let ids = acknowledged.ids
        #expect(!ids.isEmpty)
        // Every acknowledged write is kept; at most one request per writer can have been stored with its
        // answer lost as the connection closed.
        let count = try reopened.count()
        #expect(count >= ids.count && count <= ids.count + 8, "\(count) stored, \(ids.count) acknowledged")
        #expect(try reopened.health().healthy)
    }

    @Test("without keys the binary refuses to serve a non-loopback address unless --insecure")
    func refusesOpenNetwork() async throws {
        let dir = TemporaryDirectory("engram-serve")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let refused = try runBinary(["serve", "--store", store, "--host", "0.0.0.0", "--port", "0"])
        #expect(refused.status == 77)
        #expect(refused.stderr.contains("--insecure"))
    }

    @Test("kill -9 the server 20 times under a write load: every write answered 2xx survives, health passes")
    func killStorm() async throws {
        let dir = TemporaryDirectory("engram-serve-kill")
        let store = dir.appending("store")
        #expect(try runBinary(["init", "--store", store, "--embedder", "hashing-256"]).status == 0)
        let acknowledged = Acknowledged()
        var rng = SeededGenerator(seed: 20)
        for round in 0..<20 {
            let server = try ServerProcess(store: store)
            let writers = server.writeLoad(writers: 4, acknowledged: acknowledged) { writer, i in
                #"{"memories":[{"content":"round \#(round) writer \#(writer) item \#(i) a","namespace":"load/\#(writer)"},{"content":"round \#(round) writer \#(writer) item \#(i) b","namespace":"load/\#(writer)"}]}"#
            }
            try await Task.sleep(for: .milliseconds(100 + Int(rng.next() % 300)))
            server.stop(SIGKILL)
            for writer in writers { await writer.value }
        }
        let reopened = try MemoryStore.open(at: store)
        defer { try? reopened.close() }
        let ids = acknowledged.ids
        #expect(ids.count > 100, "the load wrote something: \(ids.count)")
        var missing = 0
        for id in ids where (try? reopened.memory(try #require(MemoryID(id)))) == nil { missing += 1 }
        #expect(missing == 0, "\(missing) of \(ids.count) acknowledged writes lost")
        #expect(try reopened.count() >= ids.count)
        #expect(try reopened.health().healthy)
    }
}

extension ServerProcess {
    /// Writer tasks that post `body(writer, i)` to `/v1/memories` in a loop until the server goes away,
    /// collecting the acknowledged ids and the status of every other answer. They end on their own:
    /// cancelling URLSession tasks can deadlock on Linux.
    func writeLoad(
        writers: Int, acknowledged: Acknowledged, failures: Acknowledged = Acknowledged(),
        body: @escaping @Sendable (Int, Int) -> String
    ) -> [Task<Void, Never>] {
        (0..<writers).map { writer in
            Task {
                var i = 0
                while true {
                    i += 1
                    guard let reply = await call("POST", "/v1/memories", body(writer, i)) else { return }
                    if reply.status == 201, let ids = (reply.json as? [String: Any])?["ids"] as? [String] {
                        acknowledged.add(ids)
                    } else {
                        failures.add(["\(reply.status)"])
                    }
                }
            }
        }
    }
}

/// Ids the server acknowledged, collected from several writer tasks.
final class Acknowledged: Sendable {
    private let list = Locked<[String]>([])  // Locked, not Mutex: ThreadSanitizer sees its lock
    func add(_ ids: [String]) { list.withLock { $0 += ids } }
    var ids: [String] { list.withLock { $0 } }
}
