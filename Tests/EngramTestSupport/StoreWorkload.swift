package import Engram
import Foundation

/// A deterministic mix of writes for fault tests, with the model that says what a store must hold
/// after any prefix of it. Every memory carries its key and version in metadata and its vector is a
/// function of both, so a store's contents can be checked exactly and its recall against brute force.
package struct StoreWorkload: Sendable {
    package static let dimension = 8

    package enum Op: Sendable, CustomStringConvertible {
        case remember([Int])
        case update(key: Int)
        case forget(key: Int)
        case compact
        /// A recall that records usage, then a flush of the usage log.
        case recall
        /// Close, re-embed with the other of the workload's two embedders, open again.
        case reembed

        package var description: String {
            switch self {
            case .remember(let keys): "remember \(keys)"
            case .update(let key): "update \(key)"
            case .forget(let key): "forget \(key)"
            case .compact: "compact"
            case .recall: "recall"
            case .reembed: "reembed"
            }
        }
    }

    /// Live memories: key -> version.
    package typealias Contents = [Int: Int]

    package let ops: [Op]

    /// `count` operations drawn with `seed`, each valid for the contents the ones before it leave.
    package init(seed: UInt64, count: Int) {
        var rng = SeededGenerator(seed: seed)
        var live: Contents = [:]
        var nextKey = 0
        var ops: [Op] = []
        for _ in 0..<count {
            let roll = rng.next() % 100
            if live.isEmpty || roll < 40 {
                let keys = Array(nextKey..<(nextKey + 1 + Int(rng.next() % 3)))
                nextKey += keys.count
                for key in keys { live[key] = 0 }
                ops.append(.remember(keys))
            } else if roll < 65 {
                let key = live.keys.sorted()[Int(rng.next() % UInt64(live.count))]
                live[key]! += 1
                ops.append(.update(key: key))
            } else if roll < 82 {
                let key = live.keys.sorted()[Int(rng.next() % UInt64(live.count))]
                live[key] = nil
                ops.append(.forget(key: key))
            } else if roll < 88 {
                ops.append(.compact)
            } else if roll < 93 {
                ops.append(.reembed)
            } else {
                ops.append(.recall)
            }
        }
        self.ops = ops
    }

    package static let vectors = KeyedVectors(dimension: dimension, salt: 5)

    /// A memory's vector under the store's embedder (a re-embed changes every row).
    package static func vector(key: Int, version: Int, embedder: String = "custom") -> [Float] {
        vectors.vector(key: key, version: version, embedder: embedder)
    }

    static func memory(key: Int, version: Int, embedder: String) -> NewMemory {
        NewMemory(
            content: "key \(key) version \(version)", namespace: "faults/\(key % 3)",
            metadata: ["key": .number(Double(key)), "version": .number(Double(version))],
            embedding: vector(key: key, version: version, embedder: embedder))
    }

    /// Runs one operation; `contents` changes only when it returns. A re-embed replaces `store` (with
    /// nil when it failed after closing it).
    package static func apply(_ op: Op, to store: inout MemoryStore?, contents: inout Contents) throws {
        guard let handle = store else { throw EngramError(.notWritable, "no open store") }
        try apply(op, to: handle, contents: &contents, replacing: &store)
    }

    private static func apply(
        _ op: Op, to store: MemoryStore, contents: inout Contents, replacing handle: inout MemoryStore?
    ) throws {
        let embedder = store.embedderID
        switch op {
        case .remember(let keys):
            _ = try store.remember(keys.map { memory(key: $0, version: 0, embedder: embedder) })
            for key in keys { contents[key] = 0 }
        case .update(let key):
            guard let version = contents[key], let id = try ids(store)[key] else { return }
            let next = memory(key: key, version: version + 1, embedder: embedder)
            _ = try store.update(
                id,
                with: MemoryChanges(content: next.content, metadata: next.metadata, embedding: next.embedding)
            )
            contents[key] = version + 1
        case .forget(let key):
            guard let id = try ids(store)[key] else { return }
            _ = try store.forget([id])
            contents[key] = nil
        case .compact:
            try store.compact()
        case .recall:
            _ = try store.recall(vector(key: 0, version: 0), k: 3)
            try store.flushUsage()
        case .reembed:
            let (path, options) = (store.path, store.options)
            try store.close()
            handle = nil
            try MemoryStore.reembed(at: path, with: vectors.embedder(after: embedder), options: options)
            handle = try MemoryStore.open(at: path, options: options)
        }
    }

    /// What the store holds, read through `list`; throws on a memory the workload never makes.
    package static func contents(of store: MemoryStore) throws -> Contents {
        try read(store).contents
    }

    static func ids(_ store: MemoryStore) throws -> [Int: MemoryID] {
        try read(store).ids
    }

    private static func read(_ store: MemoryStore) throws -> (contents: Contents, ids: [Int: MemoryID]) {
        var contents: Contents = [:]
        var ids: [Int: MemoryID] = [:]
        var cursor: MemoryID?
        repeat {
            let page = try store.list(filter: MemoryFilter(includeExpired: true), after: cursor, limit: 1000)
            for m in page.memories {
                guard let key = m.metadata["key"]?.numberValue.map(Int.init),
                    let version = m.metadata["version"]?.numberValue.map(Int.init),
                    m.content == "key \(key) version \(version)"
                else { throw EngramError.invalid("memory", "memory \(m.id) was not written by the workload") }
                guard contents.updateValue(version, forKey: key) == nil else {
                    throw EngramError.invalid("memory", "key \(key) has two live versions")
                }
                ids[key] = m.id
            }
            cursor = page.nextCursor
        } while cursor != nil
        return (contents, ids)
    }

    /// The contents an operation that did not return may have left: none of it or all of it.
    package static func outcomes(of op: Op, from contents: Contents) -> [Contents] {
        var after = contents
        switch op {
        case .remember(let keys): for key in keys { after[key] = 0 }
        case .update(let key): if let v = contents[key] { after[key] = v + 1 }
        case .forget(let key): after[key] = nil
        case .compact, .recall, .reembed: break
        }
        return after == contents ? [contents] : [contents, after]
    }

    /// Problems with a store that should hold one of `allowed`: its contents, recall against brute
    /// force over the contents it holds, and `health`. Empty when it is sound.
    package static func problems(in store: MemoryStore, allowed: [Contents]) -> [String] {
        var problems: [String] = []
        do {
            let (held, ids) = try read(store)
            if !allowed.contains(held) {
                problems.append(
                    "holds \(held.sorted { $0.key < $1.key }), expected one of \(allowed.map { $0.sorted { $0.key < $1.key } })"
                )
            }
            let oracle = BruteForceOracle(
                entries: ids.map { key, id in
                    .init(id: id, vector: vector(key: key, version: held[key]!, embedder: store.embedderID))
                })
            for q in 0..<3 {
                let query = vector(key: 1_000 + q, version: 0)
                let hits = try store.recall(query, k: 4, filter: MemoryFilter(includeExpired: true))
                if let mismatch = oracle.mismatch(hits, query: query, k: 4) {
                    problems.append("recall: \(mismatch)")
                }
            }
            let health = try store.health()
            for check in health.checks where !check.passed {
                problems.append("health \(check.name): \(check.detail)")
            }
        } catch {
            problems.append("\(error)")
        }
        return problems
    }
}
