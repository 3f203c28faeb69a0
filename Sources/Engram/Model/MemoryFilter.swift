public import Foundation

/// Which memories a recall, list, count or forget considers.
///
/// Every condition that is set must hold (they are combined with AND). Filters are applied *before*
/// scoring, so a filtered recall still returns `k` hits whenever `k` memories match.
public struct MemoryFilter: Sendable, Hashable {
    /// How a namespace condition matches.
    public enum NamespaceMatch: Sendable, Hashable {
        /// Exactly this namespace.
        case exact(String)
        /// This namespace and everything below it (`acme` matches `acme` and `acme/support/x`).
        case prefix(String)
    }

    /// How a tag condition matches.
    public enum TagMatch: Sendable, Hashable {
        /// At least one of these tags.
        case any([String])
        /// All of these tags.
        case all([String])
    }

    /// A condition on one metadata field.
    public enum MetadataCondition: Sendable, Hashable {
        /// The field equals the value.
        case equals(String, JSONValue)
        /// The field equals one of the values.
        case isIn(String, [JSONValue])
        /// The field is a number within the bounds (either may be open).
        case range(String, min: Double?, max: Double?)

        var key: String {
            switch self {
            case .equals(let k, _), .isIn(let k, _), .range(let k, _, _): return k
            }
        }
    }

    /// Which memories hold at the time a filter looks at (``Memory/validFrom``, ``Memory/validUntil``).
    public enum Validity: Sendable, Hashable {
        /// Those still holding now: a memory whose validity ended is left out (the default).
        case current
        /// Those that held at this time: valid from on or before it, until after it.
        case asOf(Date)
        /// Every memory, whatever its validity.
        case any
    }

    /// Namespace condition.
    public var namespace: NamespaceMatch?
    /// Only memories written by one of these agents.
    public var agents: [String]?
    /// Only memories of one of these kinds.
    public var kinds: [MemoryKind]?
    /// Tag condition.
    public var tags: TagMatch?
    /// Only memories created at or after this time.
    public var createdAfter: Date?
    /// Only memories created before this time.
    public var createdBefore: Date?
    /// Only memories whose `succeeded` equals this value (memories without one never match).
    public var succeeded: Bool?
    /// Conditions on metadata fields; all must hold.
    public var metadata: [MetadataCondition]
    /// Include memories whose `expiresAt` has passed (excluded by default).
    public var includeExpired: Bool
    /// Only memories trusted at least this much.
    public var minTrust: TrustLevel? = nil
    /// Include quarantined memories (excluded by default).
    public var includeQuarantined = false
    /// Which memories hold at the time looked at; ``Validity/current`` by default.
    public var validity: Validity = .current
    /// Namespace roots a scoped handle may see (each admits itself and everything below it), ANDed with
    /// every other condition; nil for an unscoped store. Set only by a scoped handle (``MemoryStore/scoped(to:)``).
    var scope: [String]?

    /// A filter; the default matches every unexpired memory.
    public init(
        namespace: NamespaceMatch? = nil, agents: [String]? = nil, kinds: [MemoryKind]? = nil,
        tags: TagMatch? = nil, createdAfter: Date? = nil, createdBefore: Date? = nil,
        succeeded: Bool? = nil, metadata: [MetadataCondition] = [], includeExpired: Bool = false,
        minTrust: TrustLevel? = nil, includeQuarantined: Bool = false, validity: Validity = .current
    ) {
        self.minTrust = minTrust
        self.includeQuarantined = includeQuarantined
        self.validity = validity
        self.namespace = namespace
        self.agents = agents
        self.kinds = kinds
        self.tags = tags
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
        self.succeeded = succeeded
        self.metadata = metadata
        self.includeExpired = includeExpired
    }

    /// Every unexpired memory.
    public static let all = MemoryFilter()

    /// True when the filter constrains nothing but expiry, quarantine and validity.
    var isUnconstrained: Bool {
        namespace == nil && agents == nil && kinds == nil && tags == nil && createdAfter == nil
            && createdBefore == nil && succeeded == nil && metadata.isEmpty && scope == nil && minTrust == nil
    }

    /// Checks the filter's own well-formedness.
    func validate() throws {
        switch namespace {
        case .exact(let ns): try Limits.validateNamespace(ns, field: "filter.namespace")
        case .prefix(let ns): try Limits.validateNamespace(ns, field: "filter.namespace")
        case nil: break
        }
        switch tags {
        case .any(let t), .all(let t):
            for tag in t { try Limits.validateTag(tag, field: "filter.tags") }
        case nil: break
        }
        for condition in metadata {
            try Limits.validateMetadataKey(condition.key, field: "filter.metadata")
            if case .range(_, let lo, let hi) = condition {
                if lo == nil && hi == nil {
                    throw EngramError.invalid("filter.metadata", "range has no bound")
                }
                if let lo, !lo.isFinite {
                    throw EngramError.invalid("filter.metadata", "bound is not finite")
                }
                if let hi, !hi.isFinite {
                    throw EngramError.invalid("filter.metadata", "bound is not finite")
                }
            }
        }
        if case .asOf(let time) = validity,
            !(Limits.earliestDate...Limits.latestDate).contains(time.timeIntervalSince1970)
        {
            throw EngramError.invalid("filter.asOf", "must be a time from year 1 to year 9999")
        }
        if let a = createdAfter, let b = createdBefore, a > b {
            throw EngramError.invalid("filter.createdAfter", "is later than createdBefore")
        }
    }
}
