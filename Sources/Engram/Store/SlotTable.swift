import Foundation

/// The hot filter columns of one vector slot, kept in memory so common filters cost no SQL.
struct SlotInfo {
    /// SQLite rowid of the memory in this slot; 0 marks a free slot.
    var rowID: Int64 = 0
    var id = MemoryID(high: 0, low: 0)
    var namespace: Int32 = -1
    var agent: Int32 = -1
    var kind: Int32 = -1
    /// -1 unknown, 0 failed, 1 succeeded.
    var succeeded: Int8 = -1
    var createdAt: Double = 0
    /// `.infinity` when the memory never expires.
    var expiresAt: Double = .infinity
    /// Sorted interned tag ids.
    var tags: [Int32] = []
    /// Where this slot sits in its namespace's slot list (maintained by `SlotTable`).
    var namespacePosition: Int32 = -1
    /// ``TrustLevel`` raw value.
    var trust: Int8 = Int8(TrustLevel.agent.rawValue)
    var quarantined = false
    /// Valid from (the creation time unless given) until `validUntil` (`.infinity`: still valid).
    var validFrom: Double = -.infinity
    var validUntil: Double = .infinity

    var isLive: Bool { rowID != 0 }
}

/// Interns strings (namespaces, agents, kinds, tags) as dense ids. Append-only: an id never changes
/// meaning, so snapshots taken earlier stay valid.
struct NameTable {
    private(set) var names: [String] = []
    private var ids: [String: Int32] = [:]

    init() {}

    /// A table holding `names` with ids 0..<count in order.
    init(names: [String]) {
        self.names = names
        ids = Dictionary(names.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
    }

    func id(of name: String) -> Int32? { ids[name] }

    mutating func intern(_ name: String) -> Int32 {
        if let id = ids[name] { return id }
        let id = Int32(names.count)
        names.append(name)
        ids[name] = id
        return id
    }
}

/// Per-slot info in fixed-size chunks: `[[SlotInfo]]` gives copy-on-write per chunk, so publishing a
/// snapshot copies one pointer per chunk and the writer's next change copies only the chunk it touches.
///
/// A table opened from `slots.cache` starts with every chunk empty and reads its slots from the mapped
/// file (``MappedSlots``); a chunk is decoded only when one of its slots changes.
struct SlotTable {
    static let chunkSize = 4096
    /// The slot records this table was opened from; nil for a table built in memory.
    private var base: MappedSlots?
    /// An empty chunk is one not decoded yet: its slots are read from `base`.
    private var chunks: [[SlotInfo]] = []
    /// Slots in use or ever allocated: one past the highest slot.
    private(set) var count = 0
    /// Live slots of each namespace id, unordered: a namespace filter visits only its own slots.
    private(set) var namespaceSlots: [[Int32]] = []
    /// Slots given another memory since ``takeAssigned()`` last ran: what the approximate index must add.
    private var assigned: [Int32] = []

    /// Live slots: every live slot is in its namespace's list.
    /// - Complexity: O(namespaces).
    var liveCount: Int { namespaceSlots.reduce(0) { $0 + $1.count } }

    /// Live slots of the namespace with this id (none for a name never interned).
    func liveCount(namespace id: Int32?) -> Int {
        guard let id, Int(id) < namespaceSlots.count else { return 0 }
        return namespaceSlots[Int(id)].count
    }

    init() {}

    /// A table reading its slots from `base`, whose live slots are listed by namespace in `namespaceSlots`
    /// (each slot's `namespacePosition` its index there).
    init(mapped base: MappedSlots, namespaceSlots: [[Int32]]) {
        self.base = base
        count = base.count
        self.namespaceSlots = namespaceSlots
        chunks = Array(repeating: [], count: (count + Self.chunkSize - 1) / Self.chunkSize)
    }

    subscript(slot: Int) -> SlotInfo {
        get {
            let c = slot / Self.chunkSize
            if chunks[c].isEmpty, let base { return base.info(slot) }
            return chunks[c][slot % Self.chunkSize]
        }
        set {
            if slot >= count {
                while chunks.count * Self.chunkSize <= slot {
                    chunks.append([SlotInfo](repeating: SlotInfo(), count: Self.chunkSize))
                }
                count = slot + 1
            }
            decode(chunk: slot / Self.chunkSize)
            let old = self[slot]
            if old.isLive { removeFromNamespace(slot: slot, old) }
            var value = newValue
            if value.isLive && value.id != old.id { assigned.append(Int32(slot)) }
            if value.isLive {
                let ns = Int(value.namespace)
                while namespaceSlots.count <= ns { namespaceSlots.append([]) }
                value.namespacePosition = Int32(namespaceSlots[ns].count)
                namespaceSlots[ns].append(Int32(slot))
            }
            chunks[slot / Self.chunkSize][slot % Self.chunkSize] = value
        }
    }

    /// Builds a table from live slots in ascending slot order, as loading `slots.cache` at open does: whole
    /// chunks at a time, none of the setter's work for a slot that may already be in use, and the free
    /// slots found on the way.
    struct Loader {
        private var table = SlotTable()
        private var chunk: [SlotInfo] = []
        private var free: [Int32] = []

        init() { chunk.reserveCapacity(SlotTable.chunkSize) }

        /// Adds a live slot; false, changing nothing, for a slot at or below one already added, a free
        /// slot or one without a namespace.
        mutating func add(_ info: SlotInfo, at slot: Int) -> Bool {
            guard slot >= table.count, info.isLive, info.namespace >= 0 else { return false }
            while table.count < slot {
                free.append(Int32(table.count))
                append(SlotInfo())
            }
            let ns = Int(info.namespace)
            while table.namespaceSlots.count <= ns { table.namespaceSlots.append([]) }
            var info = info
            info.namespacePosition = Int32(table.namespaceSlots[ns].count)
            table.namespaceSlots[ns].append(Int32(slot))
            append(info)
            return true
        }

        private mutating func append(_ info: SlotInfo) {
            chunk.append(info)
            table.count += 1
            if chunk.count == SlotTable.chunkSize {
                table.chunks.append(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }

        /// The table, and its free slots highest first (lower slots are taken first).
        consuming func finish() -> (table: SlotTable, free: [Int32]) {
            if !chunk.isEmpty {
                chunk += repeatElement(SlotInfo(), count: SlotTable.chunkSize - chunk.count)
                table.chunks.append(chunk)
            }
            return (table, free.reversed())
        }
    }

    /// The free slots below `count`, highest first (lower slots are taken first).
    func freeSlots() -> [Int32] {
        var free: [Int32] = []
        for slot in (0..<count).reversed() where rowID(at: slot) == 0 { free.append(Int32(slot)) }
        return free
    }

    /// The rowid in a slot (0: free), without decoding the rest.
    func rowID(at slot: Int) -> Int64 {
        let c = slot / Self.chunkSize
        if chunks[c].isEmpty, let base { return base.rowID(slot) }
        return chunks[c][slot % Self.chunkSize].rowID
    }

    /// Makes a chunk read from `base` an array of its own, before one of its slots changes.
    private mutating func decode(chunk c: Int) {
        guard chunks[c].isEmpty, let base else { return }
        chunks[c] = base.infos(from: c * Self.chunkSize, count: Self.chunkSize)
    }

    /// Swap-removes a slot from its namespace list in O(1), fixing the moved slot's position.
    private mutating func removeFromNamespace(slot: Int, _ info: SlotInfo) {
        let ns = Int(info.namespace)
        let position = Int(info.namespacePosition)
        let last = namespaceSlots[ns].removeLast()
        if position < namespaceSlots[ns].count {
            namespaceSlots[ns][position] = last
            decode(chunk: Int(last) / Self.chunkSize)
            chunks[Int(last) / Self.chunkSize][Int(last) % Self.chunkSize].namespacePosition = Int32(position)
        }
    }

    /// Calls `body` with each live slot the filter admits: through the namespace lists when the filter
    /// names namespaces, else over every slot.
    /// - Complexity: O(slots in the named namespaces), or O(count) without a namespace condition.
    func forEachMatch(_ filter: CompiledFilter, _ body: (Int, SlotInfo) throws -> Void) rethrows {
        guard !filter.matchesNothing else { return }
        if let ids = filter.namespaceIDs {
            for id in ids where Int(id) < namespaceSlots.count {
                for slot in namespaceSlots[Int(id)] {
                    let info = self[Int(slot)]
                    if filter.matches(info) { try body(Int(slot), info) }
                }
            }
        } else {
            try forEachLive { slot, info in
                if filter.matches(info) { try body(slot, info) }
            }
        }
    }

    /// Forgets every slot (used when compaction renumbers them).
    mutating func removeAll() {
        base = nil
        chunks = []
        count = 0
        namespaceSlots = []
        assigned = []
    }

    /// The slots given another memory since the last call, and forgets them.
    mutating func takeAssigned() -> [Int32] {
        defer { assigned = [] }
        return assigned
    }

    /// Calls `body` with each live slot and its info, in slot order.
    func forEachLive(_ body: (Int, SlotInfo) throws -> Void) rethrows {
        for (c, chunk) in chunks.enumerated() {
            let first = c * Self.chunkSize
            let used = min(Self.chunkSize, count - first)
            if chunk.isEmpty, let base {
                for slot in first..<(first + used) where base.rowID(slot) != 0 {
                    try body(slot, base.info(slot))
                }
            } else {
                for i in 0..<used where chunk[i].rowID != 0 { try body(first + i, chunk[i]) }
            }
        }
    }
}

/// Interned names for every hot column.
struct NameTables {
    var namespaces = NameTable()
    var agents = NameTable()
    var kinds = NameTable()
    var tags = NameTable()
}

/// A ``MemoryFilter`` resolved against one snapshot's name tables, evaluated per slot with no SQL.
struct CompiledFilter {
    private var namespaces: [Bool]?
    private var agents: [Bool]?
    private var kinds: [Bool]?
    private var anyTags: [Int32]?
    private var allTags: [Int32]?
    private var createdAfter: Double = -.infinity
    private var createdBefore: Double = .infinity
    private var succeeded: Int8?
    private var now: Double
    private var includeExpired: Bool
    private var includeQuarantined: Bool
    private var minTrust: Int8 = -1
    /// A memory must be valid at this time (`-infinity` checks nothing) and from no later than `validFromLimit`.
    private var validAt: Double
    private var validFromLimit: Double = .infinity
    /// Rowids allowed by metadata conditions (evaluated in SQLite), or nil when there are none.
    private var rowIDs: Set<Int64>?
    /// True when nothing can match (e.g. a tag no memory has).
    private(set) var matchesNothing = false
    /// True when only liveness and expiry are checked.
    let isUnconstrained: Bool

    init(_ filter: MemoryFilter, names: NameTables, now: Date, metadataRowIDs: Set<Int64>?) {
        self.now = now.timeIntervalSince1970
        includeExpired = filter.includeExpired
        includeQuarantined = filter.includeQuarantined
        switch filter.validity {
        case .current: validAt = self.now
        case .asOf(let time):
            validAt = time.timeIntervalSince1970
            validFromLimit = validAt
        case .any: validAt = -.infinity
        }
        if let level = filter.minTrust { minTrust = Int8(level.rawValue) }
        isUnconstrained = filter.isUnconstrained
        rowIDs = metadataRowIDs
        switch filter.namespace {
        case .exact(let ns):
            namespaces = Self.mask(names.namespaces) { $0 == ns }
        case .prefix(let ns):
            namespaces = Self.mask(names.namespaces) { Namespace.contains(ns, $0) }
        case nil: break
        }
        if let roots = filter.scope {
            let visible = Self.mask(names.namespaces) { ns in roots.contains { Namespace.contains($0, ns) } }
            namespaces = namespaces.map { zip($0, visible).map { $0 && $1 } } ?? visible
        }
        if let wanted = filter.agents.map(Set.init) {
            agents = Self.mask(names.agents) { wanted.contains($0) }
        }
        if let wanted = filter.kinds.map({ Set($0.map(\.rawValue)) }) {
            kinds = Self.mask(names.kinds) { wanted.contains($0) }
        }
        switch filter.tags {
        case .any(let tags):
            anyTags = tags.compactMap { names.tags.id(of: $0) }
            if anyTags?.isEmpty == true { matchesNothing = true }
        case .all(let tags):
            let ids = tags.compactMap { names.tags.id(of: $0) }
            if ids.count < Set(tags).count { matchesNothing = true }
            allTags = Array(Set(ids)).sorted()
        case nil: break
        }
        if let a = filter.createdAfter { createdAfter = a.timeIntervalSince1970 }
        if let b = filter.createdBefore { createdBefore = b.timeIntervalSince1970 }
        succeeded = filter.succeeded.map { $0 ? 1 : 0 }
        for m in [namespaces, agents, kinds] { if let m, !m.contains(true) { matchesNothing = true } }
        if let rowIDs, rowIDs.isEmpty { matchesNothing = true }
    }

    private static func mask(_ table: NameTable, _ predicate: (String) -> Bool) -> [Bool] {
        table.names.map(predicate)
    }

    /// The namespace ids the filter admits, when it has a namespace condition.
    var namespaceIDs: [Int32]? {
        namespaces.map { mask in mask.indices.filter { mask[$0] }.map(Int32.init) }
    }

    /// Whether a live slot's memory passes the filter.
    @inline(__always)
    func matches(_ info: SlotInfo) -> Bool {
        if !includeExpired && info.expiresAt <= now { return false }
        if info.quarantined && !includeQuarantined { return false }
        if info.validUntil <= validAt || info.validFrom > validFromLimit { return false }
        if isUnconstrained { return true }
        if info.trust < minTrust { return false }
        if let namespaces, !Self.allowed(namespaces, info.namespace) { return false }
        if let agents, !Self.allowed(agents, info.agent) { return false }
        if let kinds, !Self.allowed(kinds, info.kind) { return false }
        if info.createdAt < createdAfter || info.createdAt >= createdBefore { return false }
        if let succeeded, info.succeeded != succeeded { return false }
        if let anyTags, !anyTags.contains(where: { info.tags.contains($0) }) { return false }
        if let allTags, !allTags.allSatisfy({ info.tags.contains($0) }) { return false }
        if let rowIDs, !rowIDs.contains(info.rowID) { return false }
        return true
    }

    @inline(__always)
    private static func allowed(_ mask: [Bool], _ id: Int32) -> Bool {
        id >= 0 && Int(id) < mask.count && mask[Int(id)]
    }
}
