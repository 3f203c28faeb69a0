import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Recalls made through read-only handles, which cannot write the memories' usage columns: appended to
/// `usage.log` in the store's directory, one line per memory (`id count last`), and folded into the
/// columns by the writable handle's next write (or its open or close).
///
/// Appenders hold a shared `flock` on the log while they write, and the writer takes the log with an
/// exclusive one: it renames the file to a name of its own, so an appender that opened the old file and
/// got the lock late sees the file moved and appends to the new log instead. The claimed file's name is
/// recorded in the same transaction that adds its counts, so a writer that dies before deleting it does
/// not count it twice.
enum UsageLog {
    typealias Entry = (id: MemoryID, count: Int, last: Double)

    static let name = "usage.log"
    static let claimedPrefix = "usage.log.merging-"
    /// The meta key naming the claimed files whose counts are in the database.
    static let mergedKey = "usage_merged"
    /// Past this size appenders stop: a store only ever read (no writer to merge the log) must not fill
    /// the disk with bookkeeping. 16 MiB is about 250,000 recalled memories.
    static let maxBytes = 16 << 20

    /// The claimed files whose counts the database holds, from its meta table.
    static func merged(_ meta: [String: String]) -> Set<String> {
        Set((meta[mergedKey] ?? "").split(separator: ",").map(String.init))
    }

    /// Appends `entries` in one write. Usage is bookkeeping, so failures (a read-only directory, a full
    /// log) return false and drop the counts.
    @discardableResult
    static func append(_ entries: [Entry], directory: URL) -> Bool {
        guard !entries.isEmpty else { return true }
        let text = entries.map { "\($0.id) \($0.count) \($0.last)\n" }.joined()
        let path = directory.appendingPathComponent(name).path
        for _ in 0..<8 {
            let fd = FileIO.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { FileIO.close(fd) }
            guard flock(fd, LOCK_SH) == 0 else { return false }
            guard isCurrent(fd, path: path) else { continue }  // the writer took this file meanwhile
            var status = stat()
            guard fstat(fd, &status) == 0, Int(status.st_size) + text.utf8.count <= maxBytes else {
                return false
            }
            return Array(text.utf8).withUnsafeBytes { FileIO.append(fd, $0) }
        }
        return false
    }

    /// Moves the log to a new claimed name and returns that name, or nil when there is no log.
    static func claim(directory: URL) -> String? {
        let path = directory.appendingPathComponent(name).path
        let fd = FileIO.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { FileIO.close(fd) }
        guard flock(fd, LOCK_EX) == 0, isCurrent(fd, path: path) else { return nil }
        let claimed = claimedPrefix + UUID().uuidString
        guard FileIO.rename(path, directory.appendingPathComponent(claimed).path) else { return nil }
        return claimed
    }

    /// Claimed files left by a writer that stopped before deleting them.
    static func leftovers(directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix(claimedPrefix) }.sorted()
    }

    /// The entries of a claimed file: its complete, well-formed lines (a torn last line or damage is skipped).
    static func read(_ claimed: String, directory: URL) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(claimed).path)
        else {
            return []
        }
        var entries: [Entry] = []
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for line in lines.dropLast() {  // the last piece has no newline: empty, or torn
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count == 3, let id = MemoryID(String(decoding: fields[0], as: UTF8.self)),
                let count = Int(String(decoding: fields[1], as: UTF8.self)), count > 0,
                let last = Double(String(decoding: fields[2], as: UTF8.self)), last.isFinite
            else { continue }
            entries.append((id, count, last))
        }
        return entries
    }

    static func remove(_ claimed: [String], directory: URL) {
        for name in claimed { _ = FileIO.unlink(directory.appendingPathComponent(name).path) }
    }

    /// Whether the open file `fd` is still the one at `path` (not renamed away by a writer).
    private static func isCurrent(_ fd: Int32, path: String) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0, stat(path, &named) == 0 else { return false }
        return open.st_ino == named.st_ino && open.st_dev == named.st_dev
    }
}
