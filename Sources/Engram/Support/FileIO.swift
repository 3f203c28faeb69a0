import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Every system call by which Engram changes a store's files (and maps them), in one place.
///
/// In production each function is the plain call. Tests install a ``FileInterposer`` that may fail a
/// chosen call with an `errno` (I/O-error injection) and hears of every call that succeeded (the
/// power-cut recorder rebuilds from them what a machine that lost power would have kept). SQLite's
/// own writes reach the same interposer through a VFS shim in the test support.
package enum FileIO {
    /// The calls an interposer can fail. Raw values are shared with the SQLite shim's C header.
    package enum Call: Int32, Sendable, CaseIterable {
        case create = 0, write, truncate, sync, rename, unlink, syncDirectory, map
    }

    /// A call that succeeded. A file is named by its handle: its descriptor, or a negative number for
    /// a file SQLite opened.
    package enum Event {
        case opened(path: String, handle: Int64, created: Bool)
        case wrote(handle: Int64, offset: Int, bytes: UnsafeRawBufferPointer)
        case truncated(handle: Int64, length: Int)
        case synced(handle: Int64)
        case renamed(from: String, to: String)
        case unlinked(path: String)
        case syncedDirectory(path: String)
        case closed(handle: Int64)
    }

    private static let current = Locked<(any FileInterposer)?>(nil)

    /// Installs (or with nil removes) the process's interposer. Tests only.
    package static func install(_ interposer: (any FileInterposer)?) {
        current.withLock { $0 = interposer }
    }

    package static var interposer: (any FileInterposer)? { current.withLock { $0 } }

    /// Runs `body` unless the interposer fails the call, in which case `errno` is set and `failed` returned.
    @inline(__always)
    private static func guarded<T>(
        _ call: Call, path: String? = nil, handle: Int64? = nil, failed: T, _ body: () -> T,
        then event: (T, any FileInterposer) -> Void = { _, _ in }
    ) -> T {
        guard let interposer else { return body() }
        if let err = interposer.shouldFail(call, path: path, handle: handle) {
            errno = err
            return failed
        }
        let result = body()
        event(result, interposer)
        return result
    }

    /// `open(2)`; new files get mode 0644. Creating a file is a call an interposer can fail.
    static func open(_ path: String, _ flags: Int32) -> Int32 {
        guard let interposer else { return systemOpen(path, flags) }
        let creates = flags & O_CREAT != 0 && access(path, F_OK) != 0
        if creates, let err = interposer.shouldFail(.create, path: path, handle: nil) {
            errno = err
            return -1
        }
        let fd = systemOpen(path, flags)
        if fd >= 0 { interposer.record(.opened(path: path, handle: Int64(fd), created: creates)) }
        return fd
    }

    static func close(_ fd: Int32) {
        interposer?.record(.closed(handle: Int64(fd)))
        systemClose(fd)
    }

    /// `pwrite(2)` of the whole buffer, retried on EINTR and short writes; false with `errno` set on failure.
    static func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var done = 0
        while done < bytes.count {
            let chunk = UnsafeRawBufferPointer(start: base + done, count: bytes.count - done)
            let n = guarded(.write, handle: Int64(fd), failed: -1) {
                pwrite(fd, chunk.baseAddress, chunk.count, off_t(offset + done))
            } then: { n, interposer in
                if n > 0 {
                    interposer.record(
                        .wrote(
                            handle: Int64(fd), offset: offset + done,
                            bytes: UnsafeRawBufferPointer(start: chunk.baseAddress, count: n)))
                }
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }

    /// One `write(2)` to a file opened with `O_APPEND`; true when all of `bytes` went in.
    static func append(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = guarded(.write, handle: Int64(fd), failed: -1) {
            write(fd, bytes.baseAddress, bytes.count)
        } then: {
            n, interposer in
            let end = Int(lseek(fd, 0, SEEK_CUR))  // O_APPEND leaves the offset after what it wrote
            if n > 0, end >= n {
                interposer.record(
                    .wrote(
                        handle: Int64(fd), offset: end - n,
                        bytes: UnsafeRawBufferPointer(start: bytes.baseAddress, count: n)))
            }
        }
        return n == bytes.count
    }

    static func truncate(_ fd: Int32, length: Int) -> Bool {
        guarded(.truncate, handle: Int64(fd), failed: false) {
            ftruncate(fd, off_t(length)) == 0
        } then: {
            if $0 { $1.record(.truncated(handle: Int64(fd), length: length)) }
        }
    }

    /// `fdatasync(2)`, or `fsync(2)` with `metadata` (a file's size after growth is data to fdatasync).
    static func sync(_ fd: Int32, metadata: Bool = false) -> Bool {
        guarded(.sync, handle: Int64(fd), failed: false) {
            (metadata ? fsync(fd) : fdatasync(fd)) == 0
        } then: {
            if $0 { $1.record(.synced(handle: Int64(fd))) }
        }
    }

    static func rename(_ from: String, _ to: String) -> Bool {
        guarded(.rename, path: from, failed: false) {
            systemRename(from, to) == 0
        } then: {
            if $0 { $1.record(.renamed(from: from, to: to)) }
        }
    }

    static func unlink(_ path: String) -> Bool {
        guarded(.unlink, path: path, failed: false) {
            systemUnlink(path) == 0
        } then: {
            if $0 { $1.record(.unlinked(path: path)) }
        }
    }

    /// Makes a directory's entries (files created, renamed or removed in it) durable.
    static func syncDirectory(_ path: String) -> Bool {
        guarded(.syncDirectory, path: path, failed: false) {
            let fd = systemOpen(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { systemClose(fd) }
            return fsync(fd) == 0
        } then: {
            if $0 { $1.record(.syncedDirectory(path: path)) }
        }
    }

    /// A read-only shared mapping of `length` bytes of `fd`, or nil with `errno` set.
    static func mapShared(_ fd: Int32, length: Int) -> UnsafeMutableRawPointer? {
        guarded(.map, handle: Int64(fd), failed: nil) {
            let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
            return p == MAP_FAILED ? nil : p
        }
    }
}

// The system calls under names that FileIO's own do not shadow.
private func systemOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags, 0o644) }
private func systemClose(_ fd: Int32) { _ = close(fd) }
private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
private func systemUnlink(_ path: String) -> Int32 { unlink(path) }

/// A file's device and inode: which file a path names now.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    /// Nil when nothing is at `path`.
    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        (device, inode) = (UInt64(status.st_dev), UInt64(status.st_ino))
    }
}

/// What a test installs with ``FileIO/install(_:)``. Called from any thread, for every store in the
/// process: an interposer picks out the files it watches by path and handle.
package protocol FileInterposer: AnyObject, Sendable {
    /// Before a call: an `errno` fails it with that error, nil lets it run. `path` is set for create,
    /// rename (the source), unlink and directory syncs, `handle` for calls on an open file.
    func shouldFail(_ call: FileIO.Call, path: String?, handle: Int64?) -> Int32?
    /// After a call succeeded.
    func record(_ event: FileIO.Event)
}
