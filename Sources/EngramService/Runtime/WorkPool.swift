import Engram
import NIOPosix
import Synchronization

/// A request refused because the server's queue is full (503 with `Retry-After`).
struct Overloaded: Error {}

/// Where blocking work runs: embedding, scanning and SQLite never run on the event loops.
///
/// Admission is bounded: at most `depth` requests wait for or hold a worker, and the next one is
/// refused at once with ``Overloaded`` rather than queued, so memory never grows with the load.
final class WorkPool: Sendable {
    private let threads: NIOThreadPool
    private let depth: Int
    private let admitted = Atomic<Int>(0)
    private let metrics: any ServiceMetrics

    init(workers: Int, depth: Int, metrics: any ServiceMetrics) {
        threads = NIOThreadPool(numberOfThreads: workers)
        threads.start()
        self.depth = depth
        self.metrics = metrics
    }

    /// Requests admitted and not yet answered.
    var queued: Int { admitted.load(ordering: .relaxed) }

    /// Takes a place in the queue, or throws ``Overloaded``. Pair with ``release()``.
    func admit() throws {
        while true {
            let current = admitted.load(ordering: .relaxed)
            guard current < depth else {
                metrics.rejected(reason: "queue_full")
                throw Overloaded()
            }
            if admitted.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing
            ).exchanged {
                metrics.queueDepth(current + 1)
                return
            }
        }
    }

    /// Gives back a place taken by ``admit()``.
    func release() {
        let now = admitted.subtract(1, ordering: .acquiringAndReleasing).newValue
        metrics.queueDepth(now)
    }

    /// Runs blocking work on a worker thread, admitted first.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try admit()
        defer { release() }
        return try await threads.runIfActive(work)
    }

    /// Runs blocking work for requests already admitted (a coalesced batch).
    func runAdmitted<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(work)
    }

    func shutdown() async throws {
        try await threads.shutdownGracefully()
    }
}
