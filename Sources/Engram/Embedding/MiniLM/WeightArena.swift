#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One block of memory for the packed weights of every linear layer, aligned to 2 MiB and, on Linux,
/// advised for transparent huge pages.
///
/// A single sentence streams all of the encoder's weights (21 MB in half precision) through the cache
/// once per call. With 4 KiB pages that walk misses the TLB every 4 KiB, and the hardware prefetchers stop
/// at every page boundary; with 2 MiB pages the weights span a dozen pages. The kernel only backs a
/// range with huge pages when the range covers whole aligned 2 MiB blocks, so the layers share one
/// block instead of one allocation each. Where huge pages are off or unavailable the advice is ignored
/// and the memory is ordinary.
final class WeightArena: @unchecked Sendable {  // written only while the embedder is built, then read-only
    private static let hugePage = 2 << 20
    private static let alignment = 64  // a cache line, and more than any vector load needs

    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private var used = 0

    /// Reserves `bytes` (plus alignment padding for `parts` allocations).
    /// - Throws: ``EngramError/Code/io`` when the memory cannot be had.
    init(bytes: Int, parts: Int) throws {
        let wanted = bytes + parts * Self.alignment
        capacity = (wanted + Self.hugePage - 1) / Self.hugePage * Self.hugePage
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, Self.hugePage, capacity) == 0, let memory else {
            throw EngramError(
                .io, "cannot allocate \(capacity) bytes for the encoder's weights", field: "model")
        }
        base = memory
        #if os(Linux)
            // Advice, not a requirement: without transparent huge pages the block is ordinary memory.
            _ = madvise(base, capacity, MADV_HUGEPAGE)
        #endif
    }

    deinit { free(base) }

    /// Room for `count` values of `type`, aligned to a cache line. Memory is taken front to back and
    /// never returned before the arena goes.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let start = (used + Self.alignment - 1) / Self.alignment * Self.alignment
        let end = start + count * MemoryLayout<T>.stride
        // invariant: sized from the model's shapes
        precondition(end <= capacity, "weight arena sized too small")
        used = end
        return (base + start).bindMemory(to: type, capacity: count)
    }
}
