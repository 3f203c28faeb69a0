/// A block of index entries: for each, the code of a vector (`codeBytes` bytes), the slot it was read from and a tag
/// of the memory then in that slot (so an entry left behind by a forget or an update is recognised).
///
/// Append-only: the writer fills entries past every count a published snapshot knows, and never changes
/// an entry once a snapshot counts it. A snapshot is published under the readers' lock after the entries
/// it counts are written, so a reader sees them complete.
// Sendable: see above; entries below a published count are immutable, and only the writer (under
// MemoryStore.writer) or a builder that has not published the chunk yet writes past it.
final class EntryChunk: @unchecked Sendable {
    let capacity: Int
    let codeBytes: Int
    let codes: UnsafeMutablePointer<UInt8>
    let slots: UnsafeMutablePointer<Int32>
    let tags: UnsafeMutablePointer<UInt32>

    init(capacity: Int, codeBytes: Int) {
        self.capacity = capacity
        self.codeBytes = codeBytes
        codes = .allocate(capacity: max(1, capacity * codeBytes))
        slots = .allocate(capacity: max(1, capacity))
        tags = .allocate(capacity: max(1, capacity))
    }

    deinit {
        codes.deallocate()
        slots.deallocate()
        tags.deallocate()
    }

    /// Bytes this chunk holds.
    var bytes: Int { capacity * (codeBytes + 8) }
}

/// The entries of one inverted list: full chunks, then a last one filled to `lastFill`.
struct EntryList: Sendable {
    private(set) var chunks: [EntryChunk] = []
    private(set) var count = 0
    private var lastFill = 0

    /// Smallest chunk an append allocates; later chunks grow with the list (an eighth of it), so the
    /// unused tail of a list stays small and a long list is still a few contiguous runs.
    static let minimumChunk = 64

    init() {}

    /// A list of one chunk holding exactly `count` entries, which the caller fills before publishing.
    init(filled chunk: EntryChunk) {
        chunks = [chunk]
        count = chunk.capacity
        lastFill = chunk.capacity
    }

    /// Appends one entry (writer only).
    mutating func append(code: UnsafePointer<UInt8>, slot: Int32, tag: UInt32, codeBytes: Int) {
        if chunks.isEmpty || lastFill == chunks[chunks.count - 1].capacity {
            chunks.append(EntryChunk(capacity: max(Self.minimumChunk, count / 8), codeBytes: codeBytes))
            lastFill = 0
        }
        let chunk = chunks[chunks.count - 1]
        (chunk.codes + lastFill * codeBytes).update(from: code, count: codeBytes)
        chunk.slots[lastFill] = slot
        chunk.tags[lastFill] = tag
        lastFill += 1
        count += 1
    }

    /// Calls `body` with each run of entries: a chunk and how many of its entries are in the list.
    @inline(__always)
    func forEachRun(_ body: (EntryChunk, Int) -> Void) {
        for (i, chunk) in chunks.enumerated() {
            body(chunk, i == chunks.count - 1 ? lastFill : chunk.capacity)
        }
    }

    var bytes: Int { chunks.reduce(0) { $0 + $1.bytes } }
}

extension MemoryID {
    /// The index's tag of a memory: 32 random bits of its id. Two memories sharing a slot and a tag only
    /// cost the index an approximate score; candidates are re-scored from the vectors.
    var indexTag: UInt32 { UInt32(truncatingIfNeeded: low) }
}
