// The kill storm: SIGKILLs a writer doing mixed work (remember, update, forget, compact, reembed, working
// memory set and promotion) at random moments, many times, and checks the store
// after every kill against a model of what was acknowledged.
//
//   engram-storm run [--kills N] [--seed S] [--store DIR]   the driver (prints a summary; exit 1 on a loss)
//   engram-storm write STORE SEED                           the writer it spawns
//
// The writer reports "begin OP ARGS" before each operation and "ok OP ARGS" once it returned, unbuffered.
// Every memory carries its logical key and version (metadata, or the `working:w<key>` tag of a promoted
// entry), and its vector is a function of both, so the driver rebuilds the exact expected store.
import Engram
import EngramTestSupport
import Foundation

let dimension = 16
let namespaces = 5
/// Above this many live memories the writer mostly forgets, so the store stays small enough to check.
let liveCeiling = 1_500

let vectors = KeyedVectors(dimension: dimension, salt: 11)

/// A memory's vector under the store's embedder (`reembed` switches between two whose vectors differ).
func vector(key: Int, version: Int, embedder: String = "custom") -> [Float] {
    vectors.vector(key: key, version: version, embedder: embedder)
}

func namespace(of key: Int) -> String { "storm/\(key % namespaces)" }
let workingNamespace = "storm/w"

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("engram-storm: \(message)\n".utf8))
    exit(1)
}

/// What a store holds, in the model's terms.
struct Contents: Equatable {
    /// Live memories: key -> version.
    var live: [Int: Int] = [:]
    /// Working-memory entries by key.
    var working: Set<Int> = []
}

/// Reads a store's contents, with the ids of live memories; fails on anything the writer never makes
/// (two live versions of one key, a memory without a key).
func read(_ store: MemoryStore) throws -> (contents: Contents, ids: [Int: MemoryID]) {
    var contents = Contents()
    var ids: [Int: MemoryID] = [:]
    var cursor: MemoryID?
    repeat {
        let page = try store.list(filter: MemoryFilter(includeExpired: true), after: cursor, limit: 1000)
        for m in page.memories {
            let key: Int
            let version: Int
            if let k = m.metadata["key"]?.numberValue, let v = m.metadata["version"]?.numberValue {
                (key, version) = (Int(k), Int(v))
            } else if let tag = m.tags.first(where: { $0.hasPrefix("working:w") }),
                let k = Int(tag.dropFirst(9))
            {
                (key, version) = (k, 0)
            } else {
                throw EngramError.invalid("memory", "memory \(m.id) has no key")
            }
            guard contents.live.updateValue(version, forKey: key) == nil else {
                throw EngramError.invalid("memory", "key \(key) has two live versions")
            }
            ids[key] = m.id
        }
        cursor = page.nextCursor
    } while cursor != nil
    for entry in try store.working.list(namespace: workingNamespace) {
        guard let k = Int(entry.key.dropFirst()) else {
            throw EngramError.invalid("working", "bad key \(entry.key)")
        }
        contents.working.insert(k)
    }
    return (contents, ids)
}

// MARK: Writer

func write(path: String, seed: UInt64) throws {
    var store =
        MemoryStore.exists(at: path)
        ? try MemoryStore.open(at: path, options: StoreOptions(lockTimeout: .seconds(10)))
        : try MemoryStore.create(at: path, dimension: dimension)
    var (contents, ids) = try read(store)
    var next = (contents.live.keys.max() ?? -1) + 1
    next = max(next, (contents.working.max() ?? -1) + 1)
    var rng = SeededGenerator(seed: seed)
    say("ready")
    while true {
        let roll = Int(rng.next() % 100)
        let keys = Array(contents.live.keys)
        if contents.live.count > liveCeiling || (roll < 15 && !keys.isEmpty) {
            let count = contents.live.count > liveCeiling ? 50 : 1 + Int(rng.next() % 3)
            let chosen = Array(Set((0..<count).map { _ in keys[Int(rng.next() % UInt64(keys.count))] }))
                .sorted()
            let args = chosen.map(String.init).joined(separator: ",")
            say("begin forget \(args)")
            _ = try store.forget(chosen.compactMap { ids[$0] })
            for k in chosen { (contents.live[k], ids[k]) = (nil, nil) }
            say("ok forget \(args)")
        } else if roll < 55 || keys.isEmpty {
            let count = 1 + Int(rng.next() % 20)
            say("begin remember \(next) \(count)")
            let batch = (next..<(next + count)).map { k in
                NewMemory(
                    content: "key \(k) version 0", cause: "storm", namespace: namespace(of: k),
                    metadata: ["key": .number(Double(k)), "version": .number(0)],
                    embedding: vector(key: k, version: 0, embedder: store.embedderID))
            }
            for (k, id) in zip(next..<(next + count), try store.remember(batch)) {
                (contents.live[k], ids[k]) = (0, id)
            }
            say("ok remember \(next) \(count)")
            next += count
        } else if roll < 75 {
            let k = keys[Int(rng.next() % UInt64(keys.count))]
            let v = contents.live[k]! + 1
            say("begin update \(k) \(v)")
            let updated = try store.update(
                ids[k]!,
                with: MemoryChanges(
                    content: "key \(k) version \(v)",
                    metadata: ["key": .number(Double(k)), "version": .number(Double(v))],
                    embedding: vector(key: k, version: v, embedder: store.embedderID)))
            (contents.live[k], ids[k]) = (v, updated.id)
            say("ok update \(k) \(v)")
        } else if roll < 78 {
            say("begin compact")
            try store.compact()
            say("ok compact")
        } else if roll < 80 {
            say("begin reembed")
            try store.close()
            try MemoryStore.reembed(at: path, with: vectors.embedder(after: store.embedderID))
            store = try MemoryStore.open(at: path, options: StoreOptions(lockTimeout: .seconds(10)))
            say("ok reembed")
        } else if roll < 90 || contents.working.isEmpty {
            let k = next
            next += 1
            say("begin wset \(k)")
            try store.working.set(
                "w\(k)", .object(["key": .number(Double(k))]), namespace: workingNamespace, ttl: 3600)
            contents.working.insert(k)
            say("ok wset \(k)")
        } else {
            let k = contents.working.randomElement(using: &rng)!
            say("begin promote \(k)")
            ids[k] = try store.working.promote(
                "w\(k)", namespace: workingNamespace,
                embedding: vector(key: k, version: 0, embedder: store.embedderID),
                tags: ["storm"])
            contents.working.remove(k)
            contents.live[k] = 0
            say("ok promote \(k)")
        }
    }
}

// MARK: Driver

/// Applies one reported operation to the model.
func apply(_ words: [Substring], to c: inout Contents) {
    switch words.first {
    case "remember":
        let (start, count) = (Int(words[1])!, Int(words[2])!)
        for k in start..<(start + count) { c.live[k] = 0 }
    case "update": c.live[Int(words[1])!] = Int(words[2])!
    case "forget": for k in words[1].split(separator: ",") { c.live[Int(k)!] = nil }
    case "wset": c.working.insert(Int(words[1])!)
    case "promote":
        let k = Int(words[1])!
        c.working.remove(k)
        c.live[k] = 0
    default: break  // compact and reembed change nothing a reader sees but the vectors' embedder
    }
}

func run(kills: Int, seed: UInt64, path: String) throws {
    let started = ContinuousClock.now
    let writerURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var rng = SeededGenerator(seed: seed)
    var model = Contents()
    var acknowledged = 0, ambiguousApplied = 0, ambiguousDropped = 0, checks = 0
    for round in 0..<kills {
        let process = Process()
        let output = Pipe()
        process.executableURL = writerURL
        process.arguments = ["write", path, String(rng.next())]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Most kills land while work is under way; a few right after start (open, recovery).
        let delay =
            round % 10 == 0
            ? UInt32.random(in: 0...30_000, using: &rng) : UInt32.random(in: 20_000...250_000, using: &rng)
        usleep(delay)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n")

        var inFlight: [Substring]?
        for line in lines {
            let words = line.split(separator: " ")
            if words.first == "begin" {
                inFlight = Array(words.dropFirst())
            } else if words.first == "ok" {
                apply(Array(words.dropFirst()), to: &model)
                acknowledged += 1
                inFlight = nil
            }
        }

        guard MemoryStore.exists(at: path) else {
            guard model == Contents() else { fail("round \(round): the store is gone") }
            continue
        }
        let store = try MemoryStore.open(at: path, options: StoreOptions(lockTimeout: .seconds(10)))
        let (actual, ids) = try read(store)
        // The operation in flight at the kill happened entirely or not at all.
        if actual != model {
            guard let inFlight else {
                fail("round \(round): acknowledged state lost\n\(diff(model, actual))")
            }
            var applied = model
            apply(inFlight, to: &applied)
            guard actual == applied else {
                fail(
                    "round \(round): '\(inFlight.joined(separator: " "))' is half done\n\(diff(model, actual))"
                )
            }
            model = applied
            ambiguousApplied += 1
        } else if inFlight != nil {
            ambiguousDropped += 1
        }
        // Recall equals brute force over what the model says is live.
        var oracle = BruteForceOracle()
        for (k, v) in model.live {
            oracle.entries.append(
                .init(id: ids[k]!, vector: vector(key: k, version: v, embedder: store.embedderID)))
        }
        let query = rng.vector(dimension: dimension)
        let hits = try store.recall(query, k: 10)
        if let problem = oracle.mismatch(hits, query: query, k: 10) {
            fail("round \(round): recall: \(problem)")
        }
        let health = try store.health()
        guard health.healthy else { fail("round \(round): health: \(health.checks.filter { !$0.passed })") }
        try store.close()
        checks += 1
    }
    let seconds = Double((ContinuousClock.now - started).components.seconds)
    print(
        "storm: \(kills) SIGKILLs, \(acknowledged) acknowledged operations, 0 lost; in flight at the kill: "
            + "\(ambiguousApplied) had committed, \(ambiguousDropped) had not; \(checks) checks "
            + "(contents, recall vs brute force, health); \(model.live.count) live memories, "
            + "\(model.working.count) working entries at the end; \(Int(seconds)) s")
}

func diff(_ expected: Contents, _ actual: Contents) -> String {
    let missing = expected.live.filter { actual.live[$0.key] != $0.value }.keys.sorted().prefix(10)
    let extra = actual.live.filter { expected.live[$0.key] != $0.value }.keys.sorted().prefix(10)
    return "expected-but-different keys \(Array(missing)), unexpected \(Array(extra)), working "
        + "\(expected.working.symmetricDifference(actual.working).sorted().prefix(10))"
}

let arguments = CommandLine.arguments
do {
    switch arguments.dropFirst().first {
    case "write" where arguments.count == 4:
        try write(path: arguments[2], seed: UInt64(arguments[3]) ?? 1)
    case "run":
        var kills = 100
        var seed = UInt64(Date().timeIntervalSince1970)
        var path: String?
        var rest = arguments.dropFirst(2).makeIterator()
        while let flag = rest.next() {
            guard let value = rest.next() else { fail("\(flag) needs a value") }
            switch flag {
            case "--kills": kills = Int(value) ?? kills
            case "--seed": seed = UInt64(value) ?? seed
            case "--store": path = value
            default: fail("unknown option \(flag)")
            }
        }
        let dir = path ?? NSTemporaryDirectory() + "engram-storm-\(getpid())"
        print("storm: seed \(seed), store \(dir)")
        try run(kills: kills, seed: seed, path: dir)
        if path == nil { try? FileManager.default.removeItem(atPath: dir) }
    default:
        fail("usage: engram-storm run [--kills N] [--seed S] [--store DIR] | engram-storm write STORE SEED")
    }
} catch {
    fail("\(error)")
}
