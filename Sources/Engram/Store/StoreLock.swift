import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cross-process single-writer lock: an exclusive `flock` on the store's `LOCK` file, held for as
/// long as the store is open. The kernel drops it when the process dies, so a crash never leaves a
/// stale lock behind.
final class StoreLock: Sendable {
    private let fd: Int32

    init(path: String, timeout: Duration?) throws {
        fd = FileIO.open(path, O_RDWR | O_CREAT | O_CLOEXEC)
        guard fd >= 0 else { throw VectorFile.ioError("open lock file", path) }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                FileIO.close(fd)
                throw VectorFile.ioError("lock", path)
            }
            guard let deadline, ContinuousClock.now < deadline else {
                FileIO.close(fd)
                throw EngramError(.locked, "another process is writing to this store (lock held on \(path))")
            }
            usleep(10_000)
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        FileIO.close(fd)
    }
}
