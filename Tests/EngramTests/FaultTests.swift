import Engram
import EngramTestSupport
import Foundation
import Testing

/// A size-limited tmpfs mounted for one test, when the machine lets the test mount one (root with
/// CAP_SYS_ADMIN, as in this project's containers); the tests that need it are skipped otherwise.
struct SmallFilesystem {
    let path: String

    static let available: Bool = {
        let dir = TemporaryDirectory()
        guard let probe = try? SmallFilesystem(at: dir.appending("probe"), megabytes: 1) else {
            print("FaultTests: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); disk-full tests skipped")
            return false
        }
        probe.unmount()
        return true
    }()

    init(at path: String, megabytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            throw EngramError(.io, "mount failed")
        }
        self.path = path
    }

    func unmount() { _ = Self.run("/bin/umount", [path]) }

    /// Remounts read-only (or writable again).
    func remount(readOnly: Bool) throws {
        guard Self.run("/bin/mount", ["-o", readOnly ? "remount,ro" : "remount,rw", path]) == 0 else {
            throw EngramError(.io, "remount failed")
        }
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        guard (try? process.run()) != nil else { return -1 }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus != 0 { print("\(tool) \(arguments.joined(separator: " ")): \(message)") }
        return process.terminationStatus
    }
}

@Suite("Faults")
struct FaultTests {
    @Test(
        "disk full: writes fail with `io` naming the cause, nothing acknowledged is lost or half-written, writes resume once space is freed",
        .enabled(if: SmallFilesystem.available),
        // Batches of large vectors and short texts fill the disk in the vector file; single memories
        // with small vectors (a vector file page holds 64 of them) and long texts, in SQLite.
        arguments: [(64, 60, 40), (4, 900, 1)])
    func diskFull(dimension: Int, paddingWords: Int, batchSize: Int) throws {
        let dir = TemporaryDirectory()
        let disk = try SmallFilesystem(at: dir.appending("small"), megabytes: 8)
        defer { disk.unmount() }
        // Space to give back later: a filler file of 3 MB.
        let filler = disk.path + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 3 << 20)))
        let path = disk.path + "/store"
        let store = try MemoryStore.create(at: path, dimension: dimension)
        var oracle = BruteForceOracle()
        var rng = SeededGenerator(seed: 21)
        var failure: EngramError?
        func batch(_ n: Int) -> [NewMemory] {
            (0..<batchSize).map { i in
                NewMemory(
                    content: "batch \(n) memory \(i) " + String(repeating: "padding ", count: paddingWords),
                    embedding: rng.vector(dimension: dimension))
            }
        }
        for n in 0..<10_000 {
            let memories = batch(n)
            do {
                let ids = try store.remember(memories)
                for (id, m) in zip(ids, memories) { oracle.entries.append(.init(id: id, vector: m.embedding)) }
            } catch let error as EngramError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the disk never filled")
        print("disk full after \(oracle.entries.count) memories: \(error)")
        #expect(error.code == .io, "\(error)")
        #expect(error.message.contains("full") || error.message.contains("No space left"), "\(error)")
        // Every acknowledged memory is there and nothing of the failed batch is.
        #expect(try store.count() == oracle.entries.count)
        let q = rng.vector(dimension: dimension)
        #expect(oracle.mismatch(try store.recall(q, k: 10), query: q, k: 10) == nil)

        // Space freed: the same handle writes again, without reopening.
        try FileManager.default.removeItem(atPath: filler)
        let memories = batch(-1)
        let ids = try store.remember(memories)
        for (id, m) in zip(ids, memories) { oracle.entries.append(.init(id: id, vector: m.embedding)) }
        #expect(try store.count() == oracle.entries.count)
        try store.close()

        let reopened = try MemoryStore.open(at: path)
        #expect(try reopened.count() == oracle.entries.count)
        #expect(oracle.mismatch(try reopened.recall(q, k: 10), query: q, k: 10) == nil)
        #expect(try reopened.health().healthy)
        try reopened.close()
    }

    @Test("read-only media: a writable open fails with a clear error, a read-only open recalls", .enabled(if: SmallFilesystem.available))
    func readOnlyMedia() throws {
        let dir = TemporaryDirectory()
        let disk = try SmallFilesystem(at: dir.appending("media"), megabytes: 4)
        defer { disk.unmount() }
        let path = disk.path + "/store"
        var rng = SeededGenerator(seed: 5)
        var oracle = BruteForceOracle()
        // The handle stays referenced: closing it must release every file (a mapping of the vector
        // file would keep the filesystem busy and the remount would fail).
        let store = try MemoryStore.create(at: path, dimension: 8)
        let memories = (0..<30).map { Fixtures.memory(rng.vector(dimension: 8), index: $0) }
        for (id, m) in zip(try store.remember(memories), memories) { oracle.entries.append(.init(id: id, vector: m.embedding)) }
        try store.close()
        try disk.remount(readOnly: true)
        defer { try? disk.remount(readOnly: false) }
        #expect { try MemoryStore.open(at: path) } throws: { error in
            guard let e = error as? EngramError else { return false }
            print("writable open on read-only media: \(e)")
            return e.code == .io && e.message.contains("Read-only file system")
        }
        let reader = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        let q = rng.vector(dimension: 8)
        #expect(oracle.mismatch(try reader.recall(q, k: 5), query: q, k: 5) == nil)
        #expect(try reader.count() == 30)
        try reader.close()
        withExtendedLifetime(store) {}
    }
}
