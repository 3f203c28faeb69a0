import Engram
import Foundation
import Synchronization

/// Joins concurrent requests that can be answered together into one batch on a worker thread.
///
/// Requests with equal keys wait together; a worker that frees up takes every one waiting (up to
/// ``maxBatch``) and answers them with one call of `work`. There is no timer: under light load a
/// request runs alone at once; under load, what queues behind a running batch is exactly what the
/// next batch takes. Used for vector recalls (one matrix product scores a whole batch) and for
/// embedding query texts (one forward pass per batch).
final class BatchCoalescer<Key: Hashable & Sendable, Input: Sendable, Output: Sendable>: Sendable {
    private struct Waiter {
        var input: Input
        var continuation: CheckedContinuation<Output, any Error>
    }

    /// Most requests one batch takes; the rest wait for the next.
    let maxBatch: Int
    private let pool: WorkPool
    /// Answers a batch, one output per input in order. Inputs must be checked beforehand, so that one
    /// bad input cannot fail its neighbours.
    private let work: @Sendable (Key, [Input]) throws -> [Output]
    private let waiting = Locked<[Key: [Waiter]]>([:])

    init(pool: WorkPool, maxBatch: Int, work: @escaping @Sendable (Key, [Input]) throws -> [Output]) {
        self.pool = pool
        self.maxBatch = maxBatch
        self.work = work
    }

    /// The output for one input, computed in a batch with whatever waits beside it.
    /// - Throws: ``Overloaded`` when the server's queue is full.
    func submit(_ input: Input, key: Key) async throws -> Output {
        try pool.admit()
        defer { pool.release() }
        return try await withCheckedThrowingContinuation { continuation in
            let first = waiting.withLock { waiting in
                let first = waiting[key] == nil
                waiting[key, default: []].append(Waiter(input: input, continuation: continuation))
                return first
            }
            if first { schedule(key) }
        }
    }

    private func schedule(_ key: Key) {
        Task {
            do {
                try await pool.runAdmitted { self.drain(key) }
            } catch {
                // The pool is shutting down: answer everyone still waiting.
                let stranded = waiting.withLock { $0.removeValue(forKey: key) ?? [] }
                for waiter in stranded { waiter.continuation.resume(throwing: error) }
            }
        }
    }

    /// Answers up to ``maxBatch`` waiting requests; schedules another batch for any rest.
    private func drain(_ key: Key) {
        let (batch, more) = waiting.withLock { waiting -> ([Waiter], Bool) in
            guard var all = waiting[key] else { return ([], false) }
            let batch = Array(all.prefix(maxBatch))
            all.removeFirst(batch.count)
            waiting[key] = all.isEmpty ? nil : all
            return (batch, !all.isEmpty)
        }
        if more { schedule(key) }
        guard !batch.isEmpty else { return }
        do {
            let outputs = try work(key, batch.map(\.input))
            guard outputs.count == batch.count else { throw CoalescerMismatch() }
            for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
        } catch {
            for waiter in batch { waiter.continuation.resume(throwing: error) }
        }
    }
}

private struct CoalescerMismatch: Error {}

extension Duration {
    /// The duration in seconds, for metrics and logs.
    package var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
