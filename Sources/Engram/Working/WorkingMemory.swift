public import Foundation
import Synchronization

/// One working-memory entry.
public struct WorkingEntry: Sendable, Hashable {
    /// The namespace it lives in.
    public var namespace: String
    /// Its key.
    public var key: String
    /// Its value.
    public var value: JSONValue
    /// When it was last set.
    public var createdAt: Date
    /// When it disappears.
    public var expiresAt: Date
}

/// Short-lived key/value memory for the task at hand, beside the long-term store.
///
/// Entries live in the store's database (so every process using the store sees them) until their TTL
/// runs out. Expired entries are never returned: a read that meets one deletes it, and a sweep removes
/// the rest when the store opens and at most once a minute during writes. ``promote(_:namespace:embedding:kind:tags:)``
/// turns an entry into a long-term memory.
///
/// Through a scoped handle (``MemoryStore/scoped(to:)``) every namespace must lie inside the scope;
/// reading needs ``Scope/Actions/read``, setting, deleting and promoting ``Scope/Actions/write``.
public struct WorkingMemory: Sendable {
    let store: MemoryStore
    /// What this handle may reach (its store handle's scope).
    public var scope: Scope { store.scope }

    /// Longest allowed TTL: 365 days.
    public static let maxTTL: TimeInterval = 365 * 24 * 3600
    /// Largest value, as JSON: 64 KiB.
    public static let maxValueBytes = 65_536

    /// Sets (or replaces) an entry that expires `ttl` seconds from now.
    public func set(_ key: String, _ value: JSONValue, namespace: String = "default", ttl: TimeInterval)
        throws
    {
        try check(.write, "write", namespace)
        try validate(key: key, namespace: namespace)
        guard ttl.isFinite, ttl > 0, ttl <= Self.maxTTL else {
            throw EngramError.invalid("ttl", "must be more than 0 and at most 365 days")
        }
        guard value.isFinite else { throw EngramError.invalid("value", "contains a non-finite number") }
        let text = value.jsonText
        guard text.utf8.count <= Self.maxValueBytes else {
            throw EngramError.invalid("value", "is larger than \(Self.maxValueBytes) bytes as JSON")
        }
        try store.requireWritable()
        let now = store.nowSeconds()
        try store.records.workingSet(
            WorkingRow(namespace: namespace, key: key, value: text, createdAt: now, expiresAt: now + ttl))
        try store.sweepWorkingMemoryIfDue(now: now)
    }

    /// The entry for a key, or nil when it is missing or expired.
    public func get(_ key: String, namespace: String = "default") throws -> WorkingEntry? {
        try check(.read, "read", namespace)
        return try entry(key, namespace: namespace)
    }

    /// ``get(_:namespace:)`` after the scope was checked.
    private func entry(_ key: String, namespace: String) throws -> WorkingEntry? {
        try validate(key: key, namespace: namespace)
        try store.checkOpen()
        guard let row = try store.records.workingGet(namespace: namespace, key: key) else { return nil }
        if row.expiresAt <= store.nowSeconds() {
            if !store.options.readOnly { _ = try store.records.workingDelete(namespace: namespace, key: key) }
            return nil
        }
        return try Self.entry(row)
    }

    /// Every unexpired entry in a namespace, by key.
    public func list(namespace: String = "default") throws -> [WorkingEntry] {
        try check(.read, "read", namespace)
        try store.checkOpen()
        let now = store.nowSeconds()
        return try store.records.workingList(namespace: namespace).filter { $0.expiresAt > now }.map(
            Self.entry)
    }

    /// How many unexpired entries there are in every namespace (a store-wide figure for monitoring).
    public func count() throws -> Int {
        try scope.requireWholeStore("count every namespace's entries")
        try store.checkOpen()
        return try store.records.workingCount(now: store.nowSeconds())
    }

    /// Deletes an entry. Returns whether an unexpired one existed.
    @discardableResult
    public func delete(_ key: String, namespace: String = "default") throws -> Bool {
        try check(.write, "write", namespace)
        try validate(key: key, namespace: namespace)
        try store.requireWritable()
        let live = try entry(key, namespace: namespace) != nil
        _ = try store.records.workingDelete(namespace: namespace, key: key)
        return live
    }

    /// Removes every expired entry now. Returns how many.
    @discardableResult
    public func sweep() throws -> Int {
        try scope.requireWholeStore("sweep every namespace")
        try store.requireWritable()
        return try store.sweepWorkingMemory()
    }

    /// Turns an entry into a long-term memory and deletes the entry, in one transaction: after a crash
    /// there is either the entry or the memory, never both and never neither.
    ///
    /// The memory's content is the value (a string as is, anything else as JSON text); it is stored in
    /// the same namespace with tag `working:<key>` added.
    /// - Throws: ``EngramError/Code/notFound`` when the entry is missing or expired (or deleted by another
    ///   caller while this one embedded it); nothing is stored then.
    public func promote(
        _ key: String, namespace: String = "default", embedding: [Float], kind: MemoryKind = .note,
        tags: [String] = []
    ) throws -> MemoryID {
        try check(.write, "write", namespace)
        guard let entry = try entry(key, namespace: namespace) else {
            throw EngramError(.notFound, "no working-memory entry with this key", field: "key")
        }
        let memory = NewMemory(
            content: entry.value.stringValue ?? entry.value.jsonText, namespace: namespace, kind: kind,
            tags: tags + ["working:\(key)"], embedding: embedding)
        return try store.remember([memory], consuming: (namespace, key))[0].id
    }

    /// The scope's checks, in the order a scoped handle has always made them: the action, then the
    /// namespace's form, then whether the scope reaches it.
    private func check(_ action: Scope.Actions, _ verb: String, _ namespace: String) throws {
        try scope.require(action, verb)
        try Limits.validateNamespace(namespace)
        try scope.require(namespace: namespace)
    }

    private func validate(key: String, namespace: String) throws {
        try Limits.validateNamespace(namespace)
        guard !key.isEmpty, key.utf8.count <= 256 else {
            throw EngramError.invalid("key", "must be 1 to 256 bytes")
        }
        guard !key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw EngramError.invalid("key", "must not contain control characters")
        }
    }

    private static func entry(_ row: WorkingRow) throws -> WorkingEntry {
        WorkingEntry(
            namespace: row.namespace, key: row.key, value: try JSONValue(parsing: row.value, field: "value"),
            createdAt: Date(timeIntervalSince1970: row.createdAt),
            expiresAt: Date(timeIntervalSince1970: row.expiresAt))
    }
}

extension MemoryStore {
    /// The store's working memory.
    public var working: WorkingMemory { WorkingMemory(store: self) }

    /// Throws unless the store is open for writing.
    func requireWritable() throws {
        try writer.withLock { state in
            guard !state.closed else { throw EngramError(.notWritable, "the store is closed") }
            guard state.vectors != nil else {
                throw EngramError(.notWritable, "the store was opened read-only")
            }
        }
    }

    @discardableResult
    func sweepWorkingMemory() throws -> Int {
        let now = nowSeconds()
        writer.withLock { $0.lastWorkingSweep = now }
        return try records.workingSweep(now: now)
    }

    /// Sweeps when the last sweep is more than a minute old.
    func sweepWorkingMemoryIfDue(now: Double) throws {
        let due = writer.withLock { state -> Bool in
            guard now - state.lastWorkingSweep >= 60 else { return false }
            state.lastWorkingSweep = now
            return true
        }
        if due { _ = try records.workingSweep(now: now) }
    }
}
