import Dispatch

/// Runs `body(part, range)` for `parts` contiguous, nearly equal slices of `0..<count`, concurrently when
/// `parts > 1` (on Dispatch's pool; the call returns when every slice is done). Slices may be empty.
///
/// `body` is not `@Sendable` because callers hand it raw pointers into their own buffers; they must
/// write only what belongs to their slice (or to their `part`'s scratch), which keeps the parts apart.
func parallelSlices(_ count: Int, parts: Int, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
    let parts = max(1, min(parts, count))
    guard parts > 1 else {
        body(0, 0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let work = SlicedWork(body: body, count: count, parts: parts)
        DispatchQueue.concurrentPerform(iterations: parts) { part in work.run(part) }
    }
}

/// The loop body carried into Dispatch's worker threads; see ``parallelSlices(_:parts:_:)`` for why that
/// is safe. `concurrentPerform` returns only after every part ran, so the closure never outlives the call.
private struct SlicedWork: @unchecked Sendable {
    let body: (Int, Range<Int>) -> Void
    let count: Int
    let parts: Int

    func run(_ part: Int) { body(part, (count * part / parts)..<(count * (part + 1) / parts)) }
}
