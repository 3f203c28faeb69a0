import CKernels
import Dispatch
import Foundation
import Synchronization

/// Runs `body(part, range)` over `0..<count` cut into contiguous slices, on up to `threads` threads at
/// once (the calling thread takes part). The call returns when every slice is done.
///
/// There are more slices than threads (`slicesPerThread` each), taken first come first served: a helper
/// that starts late, or a core the machine's neighbours steal, then costs only a slice, not half the
/// work. `part` numbers the thread running the slice (for per-thread scratch), below `threads`.
///
/// `body` is not `@Sendable` because callers hand it raw pointers into their own buffers; they must
/// write only what belongs to their slice (or to their `part`'s scratch), which keeps the parts apart.
/// With `aloneWhenBusy`, a call that finds the helpers busy with another region runs every slice on the
/// calling thread (as part 0) instead of on Dispatch's threads: for work that is only worth splitting
/// on an idle machine.
func parallelSlices(
    _ count: Int, threads: Int, slicesPerThread: Int = 4, aloneWhenBusy: Bool = false,
    _ body: (_ part: Int, _ range: Range<Int>) -> Void
) {
    let threads = max(1, min(threads, count))
    guard threads > 1 else {
        if count > 0 { body(0, 0..<count) }
        return
    }
    let slices = min(count, threads * slicesPerThread)
    withoutActuallyEscaping(body) { body in
        let work = SlicedWork(body: body, count: count, slices: slices)
        if !WorkerPool.shared.run(work, threads: threads) {
            if aloneWhenBusy {
                work.run(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: threads) { part in work.run(part) }
            }
        }
    }
}

/// One parallel region: the loop body and the next slice to take. See ``parallelSlices(_:threads:slicesPerThread:_:)``
/// for why carrying `body` across threads is safe; the region ends before the call that made it returns.
final class SlicedWork: @unchecked Sendable {
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

/// Helper threads for parallel regions that last tens of microseconds (one sentence through one
/// layer). Between regions a helper spins on a counter for a while before it sleeps: waking a sleeping
/// thread takes about as long as such a region, so a pool that always slept would leave the caller
/// doing nearly all the work alone. One region runs at a time; a caller that finds the pool busy (a
/// concurrent region from another thread) gets `false` and runs the region some other way.
///
/// Every helper acknowledges every region (those beyond the region's thread count without working),
/// and a region ends only when all have: so a helper never mistakes one region's state for another's.
final class WorkerPool: @unchecked Sendable {  // Sendable: see the comments on each piece of state.
    static let shared = WorkerPool()

    /// How long an idle helper spins before it sleeps.
    static let spinDuration: Duration = .microseconds(200)

    private final class Helper: Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// Serialises regions and holds the helpers (created on first need, never stopped).
    private let region = Locked<[Helper]>([])
    /// Advanced once per region; helpers watch it.
    private let generation = Atomic<Int>(0)
    /// Helpers that have not yet acknowledged the current region.
    private let pending = Atomic<Int>(0)
    /// The current region and how many helpers work on it: written under `region` before `generation`
    /// advances, read by helpers after they see it advance, cleared once every helper acknowledged.
    private nonisolated(unsafe) var work: SlicedWork?
    private nonisolated(unsafe) var participants = 0

    /// Runs `work` on the calling thread and `threads - 1` helpers. Returns false, running nothing, when
    /// another region holds the pool.
    func run(_ work: SlicedWork, threads: Int) -> Bool {
        let ran = region.withLockIfAvailable { helpers -> Bool in
            while helpers.count < threads - 1 {
                let helper = Helper()
                let (index, seen) = (helpers.count, generation.load(ordering: .acquiring))
                let thread = Thread { [self] in helperLoop(index, helper, seen: seen) }
                thread.name = "engram-worker-\(index)"
                thread.start()
                helpers.append(helper)
            }
            self.work = work
            participants = threads - 1
            pending.store(helpers.count, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            for helper in helpers where helper.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                helper.wake.signal()
            }
            work.run(0)
            // Wait for the helpers' last slices; yield now and then in case one waits for this core.
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                engram_spin_pause()
                spins += 1
                if spins % 64 == 0 { sched_yield() }
            }
            self.work = nil
            return true
        }
        return ran ?? false
    }

    private func helperLoop(_ index: Int, _ helper: Helper, seen start: Int) {
        var seen = start
        let clock = ContinuousClock()
        while true {
            let started = clock.now
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                engram_spin_pause()
                spins += 1
                guard spins % 256 == 0, clock.now - started > Self.spinDuration else { continue }
                // Sleep, unless a region arrived meanwhile. The submitter signals only a helper whose
                // flag it takes, so every signal is consumed by exactly one wait.
                helper.sleeping.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen
                    || !helper.sleeping.exchange(false, ordering: .sequentiallyConsistent)
                {
                    helper.wake.wait()
                }
            }
            seen += 1  // regions cannot advance past this helper's acknowledgement: exactly the next one
            if index < participants, let work { work.run(index + 1) }
            pending.wrappingSubtract(1, ordering: .releasing)
        }
    }
}
