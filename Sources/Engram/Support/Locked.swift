import Synchronization

#if ENGRAM_TSAN
    #if canImport(Glibc)
        import Glibc
    #endif
#endif

/// A value behind a lock: `Synchronization.Mutex`, except in ThreadSanitizer builds (`make tsan` defines
/// `ENGRAM_TSAN`), where a pthread mutex stands in. TSan cannot see the futex under `Mutex` on Linux, so
/// it reported every access a `Mutex` guards as a race; it does see pthread mutexes.
package final class Locked<Value>: @unchecked Sendable {
    #if ENGRAM_TSAN
        private let lock: UnsafeMutablePointer<pthread_mutex_t>
        private let value: UnsafeMutablePointer<Value>

        package init(_ initial: sending Value) {
            lock = .allocate(capacity: 1)
            pthread_mutex_init(lock, nil)
            value = .allocate(capacity: 1)
            value.initialize(to: initial)
        }

        deinit {
            value.deinitialize(count: 1)
            value.deallocate()
            pthread_mutex_destroy(lock)
            lock.deallocate()
        }

        package func withLock<Result: ~Copyable, E: Error>(
            _ body: (inout sending Value) throws(E) -> sending Result
        ) throws(E) -> sending Result {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            return try body(&value.pointee)
        }

        package func withLockIfAvailable<Result: ~Copyable, E: Error>(
            _ body: (inout sending Value) throws(E) -> sending Result
        ) throws(E) -> sending Result? {
            guard pthread_mutex_trylock(lock) == 0 else { return nil }
            defer { pthread_mutex_unlock(lock) }
            return try body(&value.pointee)
        }
    #else
        private let mutex: Mutex<Value>

        package init(_ initial: sending Value) { mutex = Mutex(initial) }

        package func withLock<Result: ~Copyable, E: Error>(
            _ body: (inout sending Value) throws(E) -> sending Result
        ) throws(E) -> sending Result {
            try mutex.withLock(body)
        }

        package func withLockIfAvailable<Result: ~Copyable, E: Error>(
            _ body: (inout sending Value) throws(E) -> sending Result
        ) throws(E) -> sending Result? {
            try mutex.withLockIfAvailable(body)
        }
    #endif
}
