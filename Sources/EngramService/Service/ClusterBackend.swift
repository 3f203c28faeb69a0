package import Engram
import Foundation

/// What a cluster node (`engram serve --cluster`) puts under the one service: a system of record every
/// write goes to (PostgreSQL), which answers with a token, and recalls gathered from the nodes holding
/// each shard. ``MemoryService`` calls it for the operations a cluster serves; a front end only chooses
/// it (`MemoryService(..., cluster:)`).
package protocol ClusterBackend: Sendable {
    /// Stores the drafts (exact duplicates of a namespace's live memories are not stored twice).
    func remember(_ drafts: [MemoryDraft], scope: Scope) async throws -> Written<[RememberResult]>
    /// Replaces a memory by the version `draft` makes of it (nil vector: the old one stays).
    func update(
        _ id: MemoryID, scope: Scope,
        draft: @escaping @Sendable (Memory) throws -> (memory: Memory, vector: [Float]?)
    ) async throws -> Written<Memory>
    /// Forgets the memories among `ids` inside the scope; returns how many.
    func forget(_ ids: [MemoryID], scope: Scope) async throws -> Written<Int>
    /// Quarantines or releases the memories among `ids` inside the scope; returns how many changed.
    func setQuarantined(_ ids: [MemoryID], _ quarantined: Bool, scope: Scope) async throws -> Written<Int>
    /// One memory by id, from the system of record.
    func memory(_ id: MemoryID, scope: Scope) async throws -> Memory
    /// The trust of the live memories among `ids` inside the scope (what new memories derive from).
    func trust(of ids: [MemoryID], scope: Scope) async throws -> [MemoryID: TrustLevel]
    /// Waits until this node has applied every write up to `token` (nil: returns at once).
    func awaitApplied(_ token: String?) async throws
    /// Replication and gather figures for `/readyz` and `/metrics`.
    var figures: ClusterFigures { get }
    /// The recall over every shard the scope reaches: `local` serves this node's own share.
    func recall(
        _ request: RecallRequest, scope: Scope,
        local: @escaping @Sendable (RecallRequest) async throws -> (hits: [RecallHit], plan: RecallPlan?)
    ) async throws -> (hits: [RecallHit], plan: RecallPlan?)
}

/// What a cluster node reports of itself: whether it may serve (copied and within its lag bound), its
/// replication lag and progress, and the recalls it gathered.
package struct ClusterFigures: Sendable, Hashable {
    /// Copied, following, and behind by no more than its bound.
    package var ready = false
    /// Why (not) ready, for `/readyz`.
    package var detail = ""
    /// Seconds since the node last saw every committed write (a transaction held open counts too).
    package var lagSeconds = 0.0
    /// Change-log rows at or above its applied horizon.
    package var lagRows = 0
    /// Change-log rows applied since it started.
    package var appliedRows = 0
    /// Memories copied by its last bootstrap.
    package var bootstrapped = 0
    /// Recalls it gathered, the nodes they asked in all (itself included), and their total seconds.
    package var gathers = 0
    package var gatherNodes = 0
    package var gatherSeconds = 0.0

    package init() {}
}

/// A write's result and the token a later recall can carry to be sure to see it.
package struct Written<Value: Sendable>: Sendable {
    package var value: Value
    package var token: String

    package init(_ value: Value, token: String) {
        self.value = value
        self.token = token
    }
}

/// A recall request as its caller sent it: a cluster node passes the body on, with the caller's key,
/// to the nodes that hold the shards it does not (`isShare` marks such a pass, served locally).
package struct ForwardedRecall: Sendable {
    package var body: [UInt8]
    package var authorization: String?
    package var isShare: Bool

    package init(body: [UInt8], authorization: String?, isShare: Bool) {
        self.body = body
        self.authorization = authorization
        self.isShare = isShare
    }
}

/// The token of the writes a front end's call made, for its answer: a front end runs the call inside
/// ``capture(_:)``; a cluster write records its token. (One task-local instead of a token in every write
/// operation's result, which a single store never has.)
package enum WriteToken {
    final class Box: @unchecked Sendable {
        let lock = NSLock()
        var token: String?
    }

    @TaskLocal static var box: Box?

    /// Runs `body` and returns its value with the token of the last cluster write it made (nil on a
    /// single store).
    package static func capture<T>(_ body: () async throws -> T) async rethrows -> (T, String?) {
        let box = Box()
        let value = try await $box.withValue(box) { try await body() }
        return (value, box.lock.withLock { box.token })
    }

    static func record(_ token: String) {
        guard let box else { return }
        box.lock.withLock { box.token = token }
    }
}

extension EngramError.Code {
    /// The operation is not served by a cluster node (yet); use a single store's server or the CLI.
    package static let notOnCluster = EngramError.Code(rawValue: "notOnCluster")
    /// A cluster node is behind the position a request needs; retry shortly.
    package static let behind = EngramError.Code(rawValue: "behind")
}

/// The HTTP header a cluster node sets on a recall it passes to another node: serve your share only.
package enum ClusterHeaders {
    package static let shareName = "Engram-Share"
    /// On a share of a text recall: the fusion bounds over every shard's candidates, as
    /// `COSINE_LO,COSINE_HI,KEYWORD_LO,KEYWORD_HI` (a side without candidates left empty).
    package static let boundsName = "Engram-Share-Bounds"
    /// On a share of a text recall: the text's embedding, little-endian float32 in base64.
    package static let embeddingName = "Engram-Share-Embedding"

    package static func header(_ embedding: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(embedding.count * 4)
        for x in embedding { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }

    /// The embedding a header holds; nil unless it is base64 of a whole number of finite float32s.
    package static func embedding(_ header: String) -> [Float]? {
        guard let data = Data(base64Encoded: header), !data.isEmpty, data.count % 4 == 0 else { return nil }
        let vector = stride(from: 0, to: data.count, by: 4).map { i in
            Float(
                bitPattern: data[data.startIndex + i..<data.startIndex + i + 4].reversed().reduce(UInt32(0)) {
                    $0 << 8 | UInt32($1)
                })
        }
        return vector.allSatisfy(\.isFinite) ? vector : nil
    }

    /// On a share of a text recall: a probe for the shard's candidates, this many on each side (see
    /// ``TextRecallOptions``' `perSide`).
    package static let probeName = "Engram-Share-Probe"

    package static func header(_ bounds: FusionBounds) -> String {
        func pair(_ r: ClosedRange<Double>?) -> String {
            r.map { "\($0.lowerBound),\($0.upperBound)" } ?? ","
        }
        return pair(bounds.cosine) + "," + pair(bounds.keyword)
    }

    /// The bounds a header holds; nil when it is not four numbers (empty pairs allowed) in order.
    package static func bounds(_ header: String) -> FusionBounds? {
        // Each part: .some(nil) when empty, .some(x) when a number, nil (refused) otherwise.
        let parts: [Double??] = header.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.isEmpty ? .some(nil) : Double($0).map { .some($0) }
        }
        guard parts.count == 4 else { return nil }
        func range(_ lo: Double??, _ hi: Double??) -> ClosedRange<Double>?? {
            switch (lo, hi) {
            case (.some(nil), .some(nil)): return .some(nil)
            case (let lo??, let hi??) where lo.isFinite && hi.isFinite && lo <= hi: return .some(lo...hi)
            default: return nil
            }
        }
        guard let cosine = range(parts[0], parts[1]), let keyword = range(parts[2], parts[3]) else {
            return nil
        }
        return FusionBounds(cosine: cosine, keyword: keyword)
    }
}
