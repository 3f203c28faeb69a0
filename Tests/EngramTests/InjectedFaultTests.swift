import Engram
import EngramTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Failures no real disk produces on demand: a chosen system call failing (I/O-error injection) and
/// the power going off at a chosen call, both through ``FileIO``'s interposer (SQLite's calls reach it
/// through the VFS shim). One interposer serves the whole process, so these tests run one at a time.
@Suite("Injected faults", .serialized)
struct InjectedFaultTests {
    static let workload = StoreWorkload(seed: 7, count: 36)

    /// Runs the workload from a create in the empty directory `path`. An operation that throws is handed
    /// to `failed`, which returns whether to go on (with the contents it resolved) or stop.
    static func run(
        at path: String, durability: Durability,
        failed: (
            _ op: StoreWorkload.Op?, _ error: any Error, _ contents: StoreWorkload.Contents?,
            _ store: MemoryStore?
        )
            throws -> StoreWorkload.Contents?
    ) throws -> Outcome {
        let options = StoreOptions(durability: durability)
        var store: MemoryStore?
        do {
            store = try MemoryStore.create(at: path, dimension: StoreWorkload.dimension, options: options)
        } catch {
            guard try failed(nil, error, nil, nil) != nil else {
                return Outcome(contents: nil, inFlight: nil, history: [])
            }
            // As a caller would: a create that failed after its last step left a store to open.
            store =
                MemoryStore.exists(at: path)
                ? try MemoryStore.open(at: path, options: options)
                : try MemoryStore.create(at: path, dimension: StoreWorkload.dimension, options: options)
        }
        var contents: StoreWorkload.Contents = [:]
        var history = [contents]
        for op in workload.ops {
            do {
                try StoreWorkload.apply(op, to: &store, contents: &contents)
                history.append(contents)
            } catch {
                // a failed re-embed
                if store == nil { store = try? MemoryStore.open(at: path, options: options) }
                if let stopped = store, stopped.stoppedReason != nil {  // as its error says: reopen
                    try? stopped.close()
                    store = try? MemoryStore.open(at: path, options: options)
                }
                guard let resolved = try failed(op, error, contents, store) else {
                    return Outcome(contents: contents, inFlight: op, history: history)
                }
                contents = resolved
            }
        }
        do {
            try store!.close()
        } catch {
            _ = try failed(nil, error, contents, store)
        }
        return Outcome(contents: contents, inFlight: nil, history: history)
    }

    struct PowerCutTally {
        /// Cuts after which the store held less than was acknowledged (`.normal` only).
        var lostCommits = 0
    }

    struct Outcome {
        /// What was acknowledged; nil when the create never returned.
        var contents: StoreWorkload.Contents?
        /// The operation that did not return.
        var inFlight: StoreWorkload.Op?
        /// The contents after each acknowledged operation, from the empty store on.
        var history: [StoreWorkload.Contents]
    }

    @Test(
        "a power cut at any call: under full durability nothing acknowledged is lost; under normal a prefix of the commits survives, each with its vectors",
        arguments: [Durability.full, .normal])
    func powerCuts(durability: Durability) throws {
        let kinds = Set(Self.workload.ops.map { String("\($0)".prefix { $0 != " " }) })
        #expect(kinds == ["remember", "update", "forget", "compact", "recall", "reembed"])
        SQLiteShim.install()
        let calibration = TemporaryDirectory("engram-cut")
        let counter = PowerCut(directory: try Self.storeDirectory(in: calibration), cutAfter: .max)
        FileIO.install(counter)
        defer { FileIO.install(nil) }
        _ = try Self.run(at: calibration.appending("store"), durability: durability) { _, error, _, _ in
            throw error
        }
        FileIO.install(nil)
        let calls = counter.calls
        #expect(calls > 100)

        let trials = ProcessInfo.processInfo.environment["ENGRAM_POWER_CUTS"].flatMap(Int.init) ?? 48
        let seed = ProcessInfo.processInfo.environment["ENGRAM_POWER_SEED"].flatMap(UInt64.init) ?? 2026
        var rng = SeededGenerator(seed: seed)
        var tally = PowerCutTally()
        defer {
            print(
                "power cuts (\(durability)): \(trials) cuts over \(calls) calls, acknowledged commits lost after \(tally.lostCommits)"
            )
        }
        for trial in 0..<trials {
            let cutAfter = 1 + Int(rng.next() % UInt64(calls))
            let problems = try Self.powerCut(
                after: cutAfter, restoreSeed: rng.next(), durability: durability, tally: &tally)
            #expect(
                problems.isEmpty,
                "trial \(trial) (seed \(seed)), power cut at call \(cutAfter) of \(calls): \(problems)")
        }
    }

    static func storeDirectory(in dir: TemporaryDirectory) throws -> String {
        let path = dir.appending("store")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// One trial: the workload until the power goes off at call `cutAfter`, the directory rebuilt as the
    /// cut left it, then a plain open that must hold what was acknowledged.
    static func powerCut(
        after cutAfter: Int, restoreSeed: UInt64, durability: Durability, tally: inout PowerCutTally
    ) throws -> [String] {
        let dir = TemporaryDirectory("engram-cut")
        let path = try storeDirectory(in: dir)
        let cut = PowerCut(directory: path, cutAfter: cutAfter)
        FileIO.install(cut)
        let outcome: Outcome
        do {
            defer { FileIO.install(nil) }
            outcome = try run(at: path, durability: durability) { _, error, _, _ in
                guard cut.isCut else { throw error }  // only the cut may fail a call
                return nil
            }
        }
        var rng = SeededGenerator(seed: restoreSeed)
        let log = try cut.restore(using: &rng)

        guard let acknowledged = outcome.contents else {
            // The create never returned: no store, or an empty sound one; a create again starts over.
            guard MemoryStore.exists(at: path) else {
                let store = try MemoryStore.create(at: path, dimension: StoreWorkload.dimension)
                defer { try? store.close() }
                return StoreWorkload.problems(in: store, allowed: [[:]]).map {
                    "after an unfinished create: \($0)"
                }
            }
            let store = try MemoryStore.open(at: path)
            defer { try? store.close() }
            return StoreWorkload.problems(in: store, allowed: [[:]])
        }
        var allowed =
            outcome.inFlight.map { StoreWorkload.outcomes(of: $0, from: acknowledged) } ?? [acknowledged]
        if durability == .normal { allowed += outcome.history }  // any earlier commit may be the last kept
        do {
            let store = try MemoryStore.open(at: path)
            defer { try? store.close() }
            let problems = StoreWorkload.problems(in: store, allowed: allowed)
            if durability == .normal, problems.isEmpty {
                let held = try StoreWorkload.contents(of: store)
                let possible =
                    outcome.inFlight.map { StoreWorkload.outcomes(of: $0, from: acknowledged) } ?? [
                        acknowledged
                    ]
                if !possible.contains(held) { tally.lostCommits += 1 }
            }
            return problems.isEmpty
                ? []
                : problems + ["in flight: \(outcome.inFlight.map(String.init(describing:)) ?? "none")"] + log
        } catch {
            return [
                "open: \(error)", "in flight: \(outcome.inFlight.map(String.init(describing:)) ?? "none")",
            ] + log
        }
    }

    @Test(
        "a failed write, sync, truncate, rename, unlink, create or map: a clear error, then the same handle writes on and the store reopens sound"
    )
    func ioErrors() throws {
        SQLiteShim.install()
        let calibration = TemporaryDirectory("engram-eio")
        let counter = FaultPlan(
            directory: try Self.storeDirectory(in: calibration), failing: .write, occurrence: 0)
        FileIO.install(counter)
        _ = try Self.run(at: calibration.appending("store"), durability: .full) { _, error, _, _ in
            throw error
        }
        FileIO.install(nil)
        let counts = counter.counts
        var rng = SeededGenerator(seed: 14)
        var trials = 0
        if let one = ProcessInfo.processInfo.environment["ENGRAM_IO_FAULT"] {  // one trial, e.g. sync:33
            let parts = one.split(separator: ":")
            let call = FileIO.Call.allCases.first { "\($0)" == parts[0] }!
            print(try Self.ioError(call, occurrence: Int(parts[1])!))
            return
        }
        for call in FileIO.Call.allCases {
            let count = counts[call] ?? 0
            #expect(count > 0, "the workload never made a \(call) call")
            // The first and last of each kind and a few between; every one with ENGRAM_IO_FAULTS=all.
            var occurrences: Set<Int> = [1, count]
            let sample = ProcessInfo.processInfo.environment["ENGRAM_IO_FAULTS"] == "all" ? count : 6
            while occurrences.count < min(count, sample) {
                occurrences.insert(1 + Int(rng.next() % UInt64(count)))
            }
            for occurrence in occurrences.sorted() where count > 0 {
                let problems = try Self.ioError(call, occurrence: occurrence)
                #expect(problems.isEmpty, "\(call) #\(occurrence) of \(count) failed: \(problems)")
                trials += 1
            }
        }
        #expect(trials >= 30)
        print(
            "I/O-error injection: \(trials) failure points, calls per kind \(counts.sorted { $0.key.rawValue < $1.key.rawValue })"
        )
    }

    /// One trial: the workload with the `occurrence`-th `call` failing with EIO. The failed operation
    /// must throw `io` and leave all of itself or none; the rest of the workload runs on the same
    /// handle; the store must be sound before and after a reopen.
    static func ioError(_ call: FileIO.Call, occurrence: Int) throws -> [String] {
        let dir = TemporaryDirectory("engram-eio")
        let path = try storeDirectory(in: dir)
        let plan = FaultPlan(directory: path, failing: call, occurrence: occurrence, errno: EIO)
        FileIO.install(plan)
        var problems: [String] = []
        var failures = 0
        let outcome: Outcome
        do {
            defer { FileIO.install(nil) }
            outcome = try run(at: path, durability: .full) { op, error, contents, store in
                guard plan.fired != nil else { throw error }
                failures += 1
                if failures > 1 {
                    problems.append(
                        "\(op.map(String.init(describing:)) ?? "create/close") failed after the fault: \(error)"
                    )
                }
                if (error as? EngramError)?.code != .io {
                    problems.append(
                        "\(op.map(String.init(describing:)) ?? "create/close") threw \(error), not io")
                }
                guard let contents, let op, let store else { return contents ?? [:] }
                // All or nothing, seen through the same handle.
                do {
                    let held = try StoreWorkload.contents(of: store)
                    if !StoreWorkload.outcomes(of: op, from: contents).contains(held) {
                        problems.append("after failed \(op): holds \(held), from \(contents)")
                    }
                    return held
                } catch {
                    problems.append("after failed \(op): cannot read: \(error)")
                    return nil
                }
            }
        }
        guard plan.fired != nil else { return problems + ["the fault never fired"] }
        guard let contents = outcome.contents else { return problems + ["the create failed twice"] }
        if let op = outcome.inFlight { return problems + ["stopped at \(op)"] }
        let store = try MemoryStore.open(at: path)
        defer { try? store.close() }
        return problems + StoreWorkload.problems(in: store, allowed: [contents]).map { "after reopen: \($0)" }
    }

    @Test(
        "under normal durability a freed slot is reused only after its freeing commit is synced, and the file stays bounded",
        arguments: [Durability.normal, .full])
    func freedSlotsWaitForTheirCommit(durability: Durability) throws {
        let dir = TemporaryDirectory()
        let store = try MemoryStore.create(
            at: dir.appending("store"), dimension: 8, options: StoreOptions(durability: durability))
        var rng = SeededGenerator(seed: 21)
        let first = (0..<1500).map { Fixtures.memory(rng.vector(dimension: 8), index: $0) }
        let ids = try store.remember(first)
        let capacity = try store.stats().slotCapacity
        try store.forget(ids)
        // The next 1,500 cannot take the freed slots until the forget is on disk; under `.normal` the
        // store syncs once 1,024 wait, then reuses them, so the file does not grow.
        var oracle = BruteForceOracle()
        let second = (0..<1500).map { Fixtures.memory(rng.vector(dimension: 8), index: 2000 + $0) }
        for chunk in stride(from: 0, to: second.count, by: 100) {
            let batch = Array(second[chunk..<(chunk + 100)])
            for (id, m) in zip(try store.remember(batch), batch) {
                oracle.entries.append(.init(id: id, vector: m.embedding))
            }
        }
        #expect(try store.stats().slotCapacity == capacity)
        let q = rng.vector(dimension: 8)
        #expect(oracle.mismatch(try store.recall(q, k: 10), query: q, k: 10) == nil)
        try store.close()
        let reopened = try MemoryStore.open(
            at: dir.appending("store"), options: StoreOptions(durability: durability))
        #expect(oracle.mismatch(try reopened.recall(q, k: 10), query: q, k: 10) == nil)
        #expect(try reopened.health().healthy)
        try reopened.close()
    }
}
