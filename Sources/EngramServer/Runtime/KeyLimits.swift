import Engram
import EngramService
import Foundation

/// Per-key request rates (a token bucket per key: `rate` a second, a burst of one second's worth) and
/// the count of each key's requests, written to the audit log about once a minute.
final class KeyLimits: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        /// Writes per key on `day` (days since 1970, UTC).
        var writes: [String: Int] = [:]
        var day = 0
        var uses: [String: Int] = [:]
        var since = ContinuousClock.now
    }

    private let state = Locked(State())
    /// How often key use reaches the audit log.
    static let usePeriod = Duration.seconds(60)

    /// Takes a request from the key's bucket; nil when admitted, else the seconds until one is.
    func admit(key: String, rate: Double?, now: ContinuousClock.Instant = .now) -> Int? {
        guard let rate else { return nil }
        return state.withLock { state in
            var bucket = state.buckets[key] ?? Bucket(tokens: max(1, rate), updated: now)
            let elapsed =
                Double((now - bucket.updated).components.seconds)
                + Double((now - bucket.updated).components.attoseconds) / 1e18
            bucket.tokens = min(max(1, rate), bucket.tokens + elapsed * rate)
            bucket.updated = now
            defer { state.buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    /// Counts a write against the key's daily quota; nil when admitted, else the seconds until the next UTC
    /// day. Counts live in memory: a restart gives every key a fresh day.
    func admitWrite(key: String, quota: Int?, now: Date = Date()) -> Int? {
        guard let quota else { return nil }
        let seconds = now.timeIntervalSince1970
        let day = Int((seconds / 86_400).rounded(.down))
        return state.withLock { state in
            if state.day != day { (state.writes, state.day) = ([:], day) }
            guard state.writes[key, default: 0] < quota else {
                return max(1, Int((Double(day + 1) * 86_400 - seconds).rounded(.up)))
            }
            state.writes[key, default: 0] += 1
            return nil
        }
    }

    /// Counts a request by `key`; returns the counts to write when a period has passed.
    func noteUse(key: String, now: ContinuousClock.Instant = .now) -> (uses: [String: Int], seconds: Double)?
    {
        state.withLock { state in
            state.uses[key, default: 0] += 1
            guard now - state.since >= Self.usePeriod else { return nil }
            return Self.take(&state, now: now)
        }
    }

    /// The counts not yet written, emptied (at shutdown).
    func takeUses(now: ContinuousClock.Instant = .now) -> (uses: [String: Int], seconds: Double) {
        state.withLock { Self.take(&$0, now: now) }
    }

    private static func take(_ state: inout State, now: ContinuousClock.Instant) -> (
        uses: [String: Int], seconds: Double
    ) {
        defer {
            state.uses = [:]
            state.since = now
        }
        return (state.uses, Double((now - state.since).components.seconds))
    }
}
