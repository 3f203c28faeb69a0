public import Foundation
import Synchronization

/// How hard a commit works to survive failures.
public enum Durability: String, Sendable, CaseIterable, Codable {
    /// Survives a process crash (`kill -9`) without loss; may lose the last commits on power loss.
    /// Vectors reach the page cache before the SQLite commit; SQLite runs `synchronous = NORMAL`.
    case normal
    /// Survives power loss: vectors are `fdatasync`ed before the SQLite commit, which runs
    /// `synchronous = FULL`.
    case full
}

/// A source of the current time; tests inject ``ManualClock`` to drive expiry.
public protocol EngramClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The wall clock.
public struct SystemClock: EngramClock {
    /// Creates the wall clock.
    public init() {}
    /// The current time.
    public func now() -> Date { Date() }
}

/// A clock that moves only when told to.
public final class ManualClock: EngramClock {
    private let current: Locked<Date>

    /// Creates a clock stopped at `start`.
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Locked(start)
    }

    /// The clock's time.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// How a store is opened.
public struct StoreOptions: Sendable {
    /// Commit durability; see ``Durability``.
    public var durability: Durability
    /// Open without the writer lock; every write throws ``EngramError/Code/notWritable``. The store
    /// shows the memories committed when it was opened.
    public var readOnly: Bool
    /// How long to wait for another process's writer lock; nil fails at once with
    /// ``EngramError/Code/locked``.
    public var lockTimeout: Duration?
    /// The clock used for timestamps and expiry.
    public var clock: any EngramClock
    /// A recall whose best score reaches this value counts as a hit in ``StoreStats/hitRate``.
    public var hitThreshold: Float
    /// OpenBLAS threads per call (Engram runs recalls concurrently itself; 1 is best on small machines).
    public var blasThreads: Int
    /// Threads one recall's scan may use: the rows are split into ranges scanned at once and the
    /// per-thread top-k merged, with results identical whatever the count. Default: every core. Recalls
    /// running concurrently do not multiply it: one that finds the threads busy scans alone.
    public var searchThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Whether recalls count toward memories' usage (``Memory/recallCount``). Off for measuring runs,
    /// such as `engram eval`, that must leave a store as they found it.
    public var recordsUsage = true
    /// Which flagged memories are quarantined when written (``QuarantinePolicy/standard``: those at or
    /// below `external` trust).
    public var quarantine = QuarantinePolicy.standard
    /// When recalls use the approximate index (if the store has one; see ``MemoryStore/buildIndex(lists:bits:threads:progress:)``)
    /// and how hard its searches work.
    public var approximate = ApproximateSearch()

    /// Options; the defaults suit an agent process that owns its store.
    public init(
        durability: Durability = .normal, readOnly: Bool = false, lockTimeout: Duration? = nil,
        clock: any EngramClock = SystemClock(), hitThreshold: Float = 0.5, blasThreads: Int = 1
    ) {
        self.durability = durability
        self.readOnly = readOnly
        self.lockTimeout = lockTimeout
        self.clock = clock
        self.hitThreshold = hitThreshold
        self.blasThreads = blasThreads
    }
}
