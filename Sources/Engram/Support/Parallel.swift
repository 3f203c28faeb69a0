import Dispatch
import Synchronization

/// Runs `body(part, range)` over `0..<count` cut into contiguous slices, on up to `threads` threads at
/// once (Dispatch's pool; the calling thread takes part). The call returns when every slice is done.
///
/// There are more slices than threads (`slicesPerThread` each), taken first come first served: a worker
/// that wakes late, or a core the machine's neighbours steal, then costs only a slice, not half the work.
/// `part` numbers the thread running the slice (for per-thread scratch), below `threads`.
///
/// `body` is not `@Sendable` because callers hand it raw pointers into their own buffers; they must
/// write only what belongs to their slice (or to their `part`'s scratch), which keeps the parts apart.
func parallelSlices(
    _ count: Int, threads: Int, slicesPerThread: Int = 4, _ body: (_ part: Int, _ range: Range<Int>) -> Void
) {
    let threads = max(1, min(threads, count))
    guard threads > 1 else {
        if count > 0 { body(0, 0..<count) }
        return
    }
    let slices = min(count, threads * slicesPerThread)
    withoutActuallyEscaping(body) { body in
        let work = SlicedWork(body: body, count: count, slices: slices)
        DispatchQueue.concurrentPerform(iterations: threads) { part in work.run(part) }
    }
}

/// The loop body carried into Dispatch's worker threads; see ``parallelSlices(_:threads:slicesPerThread:_:)``
/// for why that is safe. `concurrentPerform` returns only after every part ran, so nothing outlives the call.
private final class SlicedWork: @unchecked Sendable {
    let body: (Int, Range<Int>) -> Void
    let count: Int
    let slices: Int
    let next = Atomic<Int>(0)

    init(body: @escaping (Int, Range<Int>) -> Void, count: Int, slices: Int) {
        self.body = body
        self.count = count
        self.slices = slices
    }

    func run(_ part: Int) {
        while true {
            let slice = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard slice < slices else { return }
            body(part, (count * slice / slices)..<(count * (slice + 1) / slices))
        }
    }
}
