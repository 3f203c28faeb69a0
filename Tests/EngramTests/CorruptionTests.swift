import EngramTestSupport
import Foundation
import Testing

@testable import Engram

@Suite("Damaged stores are refused with specific errors")
struct CorruptionTests {
    /// A closed store with 100 memories of dimension 16.
    func makeStore(_ dir: TemporaryDirectory, dimension: Int = 16, name: String = "store") throws -> String {
        let path = dir.appending(name)
        let store = try MemoryStore.create(at: path, dimension: dimension)
        var rng = SeededGenerator(seed: 1)
        try store.remember((0..<100).map { Fixtures.memory(rng.vector(dimension: dimension), index: $0) })
        try store.close()
        return path
    }

    func expectOpen(_ path: String, fails code: EngramError.Code, mentioning: String) {
        do {
            _ = try MemoryStore.open(at: path)
            Issue.record("opening must fail with \(code)")
        } catch let error as EngramError {
            #expect(error.code == code)
            #expect(error.message.contains(mentioning), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    func vectorsPath(_ store: String) -> String {
        URL(fileURLWithPath: store).appendingPathComponent("vectors.f32").path
    }

    /// FNV-1a 64 written independently of the library's, to forge valid checksums.
    func rewriteHeader(_ path: String, _ edit: (inout [UInt8]) -> Void) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        var header = [UInt8](try handle.read(upToCount: 4096) ?? Data())
        edit(&header)
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in header[0..<4088] { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        for i in 0..<8 { header[4088 + i] = UInt8(truncatingIfNeeded: h >> (8 * UInt64(i))) }
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: Data(header))
        try handle.close()
    }

    @Test("a truncated vector file is corruption, not a SIGBUS")
    func truncated() throws {
        let dir = TemporaryDirectory()
        let path = try makeStore(dir)
        truncate(vectorsPath(path), off_t(4096 + 50 * 64))
        expectOpen(path, fails: .storageCorrupted, mentioning: "truncated")
        truncate(vectorsPath(path), 100)
        expectOpen(path, fails: .storageCorrupted, mentioning: "shorter than its 4 KiB header")
    }

    @Test("a bad magic number or damaged header is corruption")
    func badMagic() throws {
        let dir = TemporaryDirectory()
        let path = try makeStore(dir)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: vectorsPath(path)))
        try handle.write(contentsOf: Data("NOTMAGIC".utf8))
        try handle.close()
        expectOpen(path, fails: .storageCorrupted, mentioning: "magic")

        let other = try makeStore(dir, name: "other")
        let h2 = try FileHandle(forUpdating: URL(fileURLWithPath: vectorsPath(other)))
        try h2.seek(toOffset: 30)
        try h2.write(contentsOf: Data([0xFF]))
        try h2.close()
        expectOpen(other, fails: .storageCorrupted, mentioning: "checksum")
    }

    @Test("a vector file of another dimension is corruption")
    func wrongDimension() throws {
        let dir = TemporaryDirectory()
        let path = try makeStore(dir)
        let other = try makeStore(dir, dimension: 8, name: "other")
        try FileManager.default.removeItem(atPath: vectorsPath(path))
        try FileManager.default.copyItem(atPath: vectorsPath(other), toPath: vectorsPath(path))
        expectOpen(path, fails: .storageCorrupted, mentioning: "dimension")
    }

    @Test("a store from a newer format is refused as schemaTooNew")
    func newerFormat() throws {
        let dir = TemporaryDirectory()
        let path = try makeStore(dir)
        try rewriteHeader(vectorsPath(path)) { $0[8] = 9 }
        expectOpen(path, fails: .schemaTooNew, mentioning: "format version 9")

        let second = try makeStore(dir, name: "second")
        let records = try RecordStore(
            path: URL(fileURLWithPath: second).appendingPathComponent("memories.sqlite").path,
            readOnly: false,
            synchronousFull: false)
        try records.setMeta(["format_version": "7"])
        try records.close()
        expectOpen(second, fails: .schemaTooNew, mentioning: "format version 7")
    }

    @Test("a deleted vector file or a garbage database is corruption")
    func missingFiles() throws {
        let dir = TemporaryDirectory()
        let path = try makeStore(dir)
        try FileManager.default.removeItem(atPath: vectorsPath(path))
        expectOpen(path, fails: .storageCorrupted, mentioning: "missing")

        let other = try makeStore(dir, name: "other")
        let db = URL(fileURLWithPath: other).appendingPathComponent("memories.sqlite").path
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: db))
        expectOpen(other, fails: .storageCorrupted, mentioning: "damaged")
    }

    @Test("opening where there is no store is notFound; creating over one is alreadyExists")
    func missingAndExisting() throws {
        let dir = TemporaryDirectory()
        expectOpen(dir.appending("nothing"), fails: .notFound, mentioning: "no store")
        let path = try makeStore(dir)
        #expect(throws: EngramError.self) { try MemoryStore.create(at: path, dimension: 16) }
        #expect(try MemoryStore.open(at: path).count() == 100)
    }
}
