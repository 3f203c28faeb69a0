import Engram
import EngramTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the crash-writer executable against a store.
struct CrashWriter {
    static let dimension = 32
    static let batchSize = 25
    let process = Process()
    let output = Pipe()

    init(store: String, start: Int) throws {
        process.executableURL = Fixtures.productsDirectory().appendingPathComponent("engram-crash-writer")
        process.arguments = [store, String(Self.dimension), String(Self.batchSize), String(start)]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Blocks until the writer has reported its first commit (or exited).
    func waitForFirstReport() -> String {
        String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
    }

    /// SIGKILLs the writer and returns every line it reported.
    func kill(alreadyRead: String = "") -> [String] {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (alreadyRead + rest).split(separator: "\n").map(String.init)
    }
}

/// What the store must hold after a crash: batch numbers by their memories.
func batches(in store: MemoryStore) throws -> [Int: [Memory]] {
    var result: [Int: [Memory]] = [:]
    var cursor: MemoryID?
    repeat {
        let page = try store.list(filter: MemoryFilter(includeExpired: true), after: cursor, limit: 1000)
        for m in page.memories {
            guard let b = m.metadata["batch"]?.numberValue else { continue }
            result[Int(b), default: []].append(m)
        }
        cursor = page.nextCursor
    } while cursor != nil
    return result
}

@Suite("Crash safety and cross-process locking", .serialized)
struct CrashSafetyTests {
    @Test("a writer SIGKILLed at random moments loses no reported batch and leaves no partial one")
    func sigkillWriter() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("store")
        var rng = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970))
        var reportedCommitted = Set<Int>()
        var reportedForgotten = Set<Int>()
        var kills = 0
        var next = 0
        for _ in 0..<24 {
            let writer = try CrashWriter(store: path, start: next)
            usleep(UInt32.random(in: 60_000...450_000, using: &rng))
            let lines = writer.kill()
            kills += 1
            var ambiguous: Int?  // a forget that may have committed without being reported
            for line in lines {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let n = Int(parts[1]) else { continue }
                if parts[0] == "committed" {
                    reportedCommitted.insert(n)
                    ambiguous = n % 5 == 4 && n >= 3 ? n - 3 : nil
                } else if parts[0] == "forgot" {
                    reportedForgotten.insert(n)
                    ambiguous = nil
                }
            }

            let store = try MemoryStore.open(at: path)
            let present = try batches(in: store)
            for (b, memories) in present {
                #expect(memories.count == CrashWriter.batchSize, "batch \(b) is partial: \(memories.count)")
            }
            // The ambiguous forget either committed or not; no later writer touches that batch again,
            // so settle it now from what the store holds.
            if let ambiguous, present[ambiguous] == nil { reportedForgotten.insert(ambiguous) }
            for b in reportedCommitted.subtracting(reportedForgotten) {
                #expect(present[b] != nil, "reported batch \(b) is missing")
            }
            for b in reportedForgotten { #expect(present[b] == nil, "forgotten batch \(b) is back") }
            #expect(try store.count() == present.count * CrashWriter.batchSize)

            // Recall matches the oracle rebuilt from the deterministic batch vectors.
            var oracle = BruteForceOracle()
            for (b, memories) in present {
                let vectors = Fixtures.crashBatchVectors(
                    batch: b, size: CrashWriter.batchSize, dimension: CrashWriter.dimension)
                for m in memories {
                    guard let i = Int(m.content.split(separator: " ").last ?? "") else { continue }
                    oracle.entries.append(.init(id: m.id, vector: vectors[i]))
                }
            }
            let q = rng.vector(dimension: CrashWriter.dimension)
            let hits = try store.recall(q, k: 10)
            #expect(oracle.mismatch(hits, query: q, k: 10) == nil)
            next = (present.keys.max() ?? -1) + 1
            try store.close()
        }
        print(
            "crash test: \(kills) SIGKILLs, \(reportedCommitted.count) batches reported committed, \(reportedForgotten.count) forgotten"
        )
        #expect(kills >= 20)
        #expect(reportedCommitted.count > 10, "the writer barely ran; timing too tight to test anything")
    }

    @Test("an interrupted create leaves no store: exists is false, open says notFound, create starts over")
    func interruptedCreate() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("store")
        // What a create killed after its first files leaves: the marker, a vector file, a database
        // without store metadata.
        _ = try MemoryStore.create(at: path, dimension: 4)
        try Data().write(to: URL(fileURLWithPath: path).appendingPathComponent("CREATING"))
        #expect(!MemoryStore.exists(at: path))
        #expect { try MemoryStore.open(at: path) } throws: { ($0 as? EngramError)?.code == .notFound }
        let store = try MemoryStore.create(at: path, dimension: 8)
        #expect(try store.count() == 0 && store.dimension == 8)
        try store.close()
        #expect(MemoryStore.exists(at: path))
        #expect { try MemoryStore.create(at: path, dimension: 8) } throws: {
            ($0 as? EngramError)?.code == .alreadyExists
        }
    }

    @Test(
        "a short kill storm: mixed remember / update / forget / compact / reembed / working-memory promotion, SIGKILLed 15 times"
    )
    func shortStorm() throws {
        let (status, text) = try Fixtures.runProcess(
            Fixtures.productsDirectory().appendingPathComponent("engram-storm").path,
            ["run", "--kills", "15"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("15 SIGKILLs") && text.contains("0 lost"), "\(text)")
    }

    @Test("a second writer gets `locked`, or waits for the lock when asked, and the store stays intact")
    func secondWriterIsLocked() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("store")
        let writer = try CrashWriter(store: path, start: 0)
        let first = writer.waitForFirstReport()
        #expect(first.hasPrefix("committed"))
        do {
            _ = try MemoryStore.open(at: path)
            Issue.record("a second writer must not open the store")
        } catch EngramError.locked {}

        // A read-only handle needs no lock.
        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(try reader.count() >= CrashWriter.batchSize)
        #expect(throws: EngramError.self) {
            try reader.remember(NewMemory(content: "x", embedding: [Float](repeating: 1, count: 32)))
        }

        // A waiting writer gets the lock once the first one dies.
        let killer = Thread {
            usleep(300_000)
            _ = writer.kill(alreadyRead: first)
        }
        killer.start()
        let started = Date()
        let store = try MemoryStore.open(at: path, options: StoreOptions(lockTimeout: .seconds(20)))
        #expect(Date().timeIntervalSince(started) > 0.2)
        let present = try batches(in: store)
        #expect(!present.isEmpty)
        for (_, memories) in present { #expect(memories.count == CrashWriter.batchSize) }
    }
}
