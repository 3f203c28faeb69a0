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
            print(
                "FaultTests: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN); disk-full tests skipped"
            )
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
                for (id, m) in zip(ids, memories) {
                    oracle.entries.append(.init(id: id, vector: m.embedding))
                }
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

    @Test(
        "read-only media: a writable open fails with a clear error, a read-only open recalls",
        .enabled(if: SmallFilesystem.available))
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
        for (id, m) in zip(try store.remember(memories), memories) {
            oracle.entries.append(.init(id: id, vector: m.embedding))
        }
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

    @Test(
        "a store directory moved away and replaced while open: the old handle stops writing, writes nothing into the new one, and both stores stay sound"
    )
    func directoryReplacedWhileOpen() throws {
        let dir = TemporaryDirectory()
        let path = dir.appending("store")
        var rng = SeededGenerator(seed: 9)
        let old = try MemoryStore.create(at: path, dimension: 8)
        let kept = try old.remember((0..<20).map { Fixtures.memory(rng.vector(dimension: 8), index: $0) })
        try FileManager.default.moveItem(atPath: path, toPath: dir.appending("moved"))
        let fresh = try MemoryStore.create(at: path, dimension: 8)
        let freshID = try fresh.remember(Fixtures.memory(rng.vector(dimension: 8), index: 100))

        #expect { try old.remember(Fixtures.memory(rng.vector(dimension: 8), index: 21)) } throws: { error in
            (error as? EngramError)?.code == .io && "\(error)".contains("was moved, removed or replaced")
        }
        #expect(throws: EngramError.self) { try old.compact() }  // would otherwise rename into the new store
        #expect(try old.recall(rng.vector(dimension: 8), k: 3).count == 3)  // reads go on, from its own files
        try old.close()
        try fresh.close()

        let reopened = try MemoryStore.open(at: path)
        #expect(try reopened.list().memories.map(\.id) == [freshID])
        #expect(try reopened.health().healthy)
        try reopened.close()
        let moved = try MemoryStore.open(at: dir.appending("moved"))
        #expect(Set(try moved.list(limit: 100).memories.map(\.id)) == Set(kept))
        #expect(try moved.health().healthy)
        try moved.close()
    }

    @Test(
        "permission denied: creating in, or writing to, a directory of another user fails with io naming the cause"
    )
    func permissionDenied() throws {
        // As root (this project's containers) the test runs the CLI as `nobody`; otherwise as itself.
        let asNobody = getuid() == 0
        guard !asNobody || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            print("FaultTests: running as root without setpriv; permission test skipped")
            return
        }
        let dir = TemporaryDirectory()
        let path = dir.appending("store")
        let store = try MemoryStore.create(at: path, dimension: 8)
        _ = try store.remember(Fixtures.memory([1, 0, 0, 0, 0, 0, 0, 0], index: 0))
        try store.close()
        // Owner-writable for root, who runs the CLI as someone else; read-only for a user running it as itself.
        for file in try FileManager.default.contentsOfDirectory(atPath: path) {
            try FileManager.default.setAttributes(
                [.posixPermissions: asNobody ? 0o644 : 0o444], ofItemAtPath: path + "/" + file)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        if !asNobody { try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: path) }
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path) }

        func engram(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
            let process = Process()
            let binary = Fixtures.productsDirectory().appendingPathComponent("engram").path
            if asNobody {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", binary] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: binary)
                process.arguments = arguments
            }
            process.environment = ["ENGRAM_MODELS": "/nonexistent", "PATH": "/usr/bin:/bin"]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, message)
        }
        let write = try engram([
            "remember", "--vector", "[0,1,0,0,0,0,0,0]", "--content", "a note", "--store", path,
        ])
        #expect(write.status == 74 && write.stderr.lowercased().contains("permission"), "\(write)")
        let create = try engram([
            "init", "--dimension", "8", "--embedder", "custom", "--store", path + "/inner",
        ])
        #expect(create.status == 74 && create.stderr.lowercased().contains("permission"), "\(create)")

        let reopened = try MemoryStore.open(at: path, options: StoreOptions(readOnly: true))
        #expect(try reopened.count() == 1)
        try reopened.close()
    }
}
