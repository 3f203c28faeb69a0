public import Foundation

/// What kind of knowledge a memory holds. An open set: any short lower-case word is allowed.
public struct MemoryKind: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The kind's name.
    public let rawValue: String
    /// Creates a kind from its name (validated when the memory is stored).
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Creates a kind from a literal.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The kind's name.
    public var description: String { rawValue }

    /// What happened.
    public static let episode: MemoryKind = "episode"
    /// Something true about the world or the user.
    public static let fact: MemoryKind = "fact"
    /// How to do something.
    public static let procedure: MemoryKind = "procedure"
    /// Anything else.
    public static let note: MemoryKind = "note"
}

/// A stored memory: what happened, why it happened and what worked.
public struct Memory: Sendable, Hashable {
    /// The stable public id.
    public var id: MemoryID
    /// The `/`-separated scope, e.g. `acme/support/user-42`.
    public var namespace: String
    /// Who wrote it.
    public var agent: String?
    /// What kind of knowledge it is.
    public var kind: MemoryKind
    /// What happened (never empty).
    public var content: String
    /// Why it happened.
    public var cause: String?
    /// What worked, or what the result was.
    public var outcome: String?
    /// Whether it worked.
    public var succeeded: Bool?
    /// Short labels, sorted and without duplicates.
    public var tags: [String]
    /// How much it matters, 0...1.
    public var importance: Double
    /// Free-form fields, filterable by equality, membership and numeric range.
    public var metadata: [String: JSONValue]
    /// When the first version of the memory was stored.
    public var createdAt: Date
    /// When this version was stored.
    public var updatedAt: Date
    /// When it stops being returned by default, if ever.
    public var expiresAt: Date?
    /// The older version this one replaces.
    public var supersedes: MemoryID?
    /// How many recalls returned this memory (a new version from an update keeps the count). Counted by
    /// writable handles and written with their next write or at ``MemoryStore/close()``, so a handle's
    /// own count may lag its recalls until then.
    public var recallCount: Int = 0
    /// When a recall last returned this memory (same bookkeeping as ``recallCount``).
    public var lastRecalledAt: Date? = nil
    /// How often an agent reported that this memory helped (``MemoryStore/feedback(_:helpful:)``); kept
    /// by updates.
    public var helpfulCount: Int = 0
    /// How often an agent reported that this memory did not help; kept by updates.
    public var unhelpfulCount: Int = 0
    /// Where it came from; nil for memories stored before sources were recorded.
    public var source: MemorySource? = nil
    /// How far it may be trusted (see ``TrustLevel``).
    public var trust: TrustLevel = .agent
    /// The memories it was derived from.
    public var derivedFrom: [MemoryID] = []
    /// The scope that wrote it (``Scope/actor``: an API key's name, say), when it had a name.
    public var writtenBy: String? = nil
    /// What ``ContentScreen`` found in its text (`instruction-like`, ...), sorted.
    public var flags: [String] = []
    /// Kept out of recall, lists and counts unless a filter asks for quarantined memories.
    public var quarantined = false
    /// The fact it states a value of (`user-42/shipping-address`): a newer value ends this one's validity.
    public var factKey: String? = nil
    /// Since when it holds; nil means since ``createdAt``.
    public var validFrom: Date? = nil
    /// When it stopped holding; nil while it still does.
    public var validUntil: Date? = nil

    /// Whether it holds at `time`: from ``validFrom`` (or ``createdAt``) up to, not including, ``validUntil``.
    public func isValid(at time: Date) -> Bool {
        (validFrom ?? createdAt) <= time && validUntil.map { time < $0 } ?? true
    }
}

extension Memory {
    /// A memory with these fields and defaults for the rest (an `episode` of importance 0.5, agent trust),
    /// as a reader of a stored memory's wire form (another replica, a system of record) builds one.
    public init(id: MemoryID, namespace: String, content: String, createdAt: Date, updatedAt: Date? = nil) {
        self.id = id
        self.namespace = namespace
        self.content = content
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        (agent, kind, cause, outcome, succeeded) = (nil, .episode, nil, nil, nil)
        (tags, importance, metadata, expiresAt, supersedes) = ([], 0.5, [:], nil, nil)
    }
}

/// A memory to be stored: the record fields plus its embedding.
///
/// Every field is validated by ``MemoryStore/remember(_:)-(NewMemory)``; see ``Limits`` for the bounds.
public struct NewMemory: Sendable, Hashable {
    /// What happened (required, non-empty).
    public var content: String
    /// Why it happened.
    public var cause: String?
    /// What worked, or what the result was.
    public var outcome: String?
    /// Whether it worked.
    public var succeeded: Bool?
    /// The `/`-separated scope.
    public var namespace: String
    /// Who wrote it.
    public var agent: String?
    /// What kind of knowledge it is.
    public var kind: MemoryKind
    /// Short labels (duplicates are removed).
    public var tags: [String]
    /// How much it matters, 0...1.
    public var importance: Double
    /// Free-form filterable fields.
    public var metadata: [String: JSONValue]
    /// When it stops being returned by default.
    public var expiresAt: Date?
    /// The embedding; it is L2-normalised when stored, so only its direction matters.
    public var embedding: [Float]
    /// The creation time to record; `nil` means now. Imports use it to keep the original time.
    public var createdAt: Date?
    /// The id to give the memory; `nil` makes a new one. Imports use it to keep ids; it must be unused.
    public var id: MemoryID?
    /// The version time to record; `nil` means now.
    public var updatedAt: Date?
    /// The older version this one replaces, when importing a memory that had one.
    public var supersedes: MemoryID?
    /// Where it came from (see ``MemorySource``); nil is ``MemorySource/agent``.
    public var source: MemorySource?
    /// Its trust; nil takes the source's ``MemorySource/defaultTrust``, lowered to the least trusted of
    /// `derivedFrom` and to the handle's ``Scope/maxTrust``. A level given explicitly above either is refused.
    public var trust: TrustLevel?
    /// The memories it was derived from (each must exist and be visible to the handle).
    public var derivedFrom: [MemoryID] = []
    /// The fact it states a value of: storing it ends the validity of the key's current value.
    public var factKey: String?
    /// Since when it holds; nil means since it was created.
    public var validFrom: Date?
    /// When it stops holding; nil for open-ended.
    public var validUntil: Date?
    /// Imports only: keep a memory's quarantine as exported (nil lets the ``QuarantinePolicy`` decide).
    public var quarantined: Bool?
    /// Imports only: the name of the scope that wrote it originally (nil records this handle's actor).
    public var writtenBy: String?

    /// Creates a memory to store.
    public init(
        content: String, cause: String? = nil, outcome: String? = nil, succeeded: Bool? = nil,
        namespace: String = "default", agent: String? = nil, kind: MemoryKind = .episode,
        tags: [String] = [], importance: Double = 0.5, metadata: [String: JSONValue] = [:],
        expiresAt: Date? = nil, embedding: [Float], createdAt: Date? = nil
    ) {
        self.content = content
        self.cause = cause
        self.outcome = outcome
        self.succeeded = succeeded
        self.namespace = namespace
        self.agent = agent
        self.kind = kind
        self.tags = tags
        self.importance = importance
        self.metadata = metadata
        self.expiresAt = expiresAt
        self.embedding = embedding
        self.createdAt = createdAt
    }
}

/// Changes for ``MemoryStore/update(_:with:)``: each non-nil field replaces the old value in the new
/// version. A double optional (`.some(nil)`) clears an optional field.
public struct MemoryChanges: Sendable {
    /// New content.
    public var content: String?
    /// New cause (`.some(nil)` clears it).
    public var cause: String??
    /// New outcome (`.some(nil)` clears it).
    public var outcome: String??
    /// New success flag (`.some(nil)` clears it).
    public var succeeded: Bool??
    /// New kind.
    public var kind: MemoryKind?
    /// New tags (replacing the old set).
    public var tags: [String]?
    /// New importance.
    public var importance: Double?
    /// New metadata (replacing the old object).
    public var metadata: [String: JSONValue]?
    /// New expiry (`.some(nil)` clears it).
    public var expiresAt: Date??
    /// New embedding; when nil the old vector is kept.
    public var embedding: [Float]?
    /// New end of validity (`.some(nil)` makes it open-ended again).
    public var validUntil: Date?? = nil

    /// No changes; set the fields you want to change.
    public init(
        content: String? = nil, cause: String?? = nil, outcome: String?? = nil, succeeded: Bool?? = nil,
        kind: MemoryKind? = nil, tags: [String]? = nil, importance: Double? = nil,
        metadata: [String: JSONValue]? = nil, expiresAt: Date?? = nil, embedding: [Float]? = nil
    ) {
        self.content = content
        self.cause = cause
        self.outcome = outcome
        self.succeeded = succeeded
        self.kind = kind
        self.tags = tags
        self.importance = importance
        self.metadata = metadata
        self.expiresAt = expiresAt
        self.embedding = embedding
    }
}

/// One recalled memory and how well it matched.
public struct RecallHit: Sendable, Hashable {
    /// The memory.
    public var memory: Memory
    /// Cosine similarity between the query and the memory's embedding, in -1...1; for a text recall
    /// in keyword or hybrid mode, the final ranking score (see ``explanation``).
    public var score: Float
    /// Why a text recall ranked this hit where it did; nil for a vector recall, whose score is the cosine.
    public var explanation: HitExplanation? = nil
}

extension RememberResult {
    /// What a system of record outside the store (a cluster's PostgreSQL) did with one memory.
    public init(_ id: MemoryID, status: Status, quarantined: Bool = false) {
        self.init(id: id, status: status)
        self.quarantined = quarantined
    }
}

extension RecallHit {
    /// A hit another node or store returned, read back from its wire form.
    public init(_ memory: Memory, score: Float) {
        self.init(memory: memory, score: score)
    }
}

/// One keyword-search result.
public struct KeywordHit: Sendable, Hashable {
    /// The memory.
    public var memory: Memory
    /// SQLite FTS5 BM25 relevance, negated so that larger is better.
    public var score: Double
}

/// What ``MemoryStore/remember(_:nearDuplicates:)`` did with one memory.
public struct RememberResult: Sendable, Hashable {
    /// What happened.
    public enum Status: String, Sendable, Hashable {
        /// Stored as a new memory.
        case stored
        /// Not stored: a live memory of the namespace already says the same; ``RememberResult/id`` is its id.
        case duplicate
        /// Merged into a near duplicate as its new version; ``RememberResult/id`` is that version's id.
        case merged
    }

    /// The new memory's id, or the id of the memory it duplicates or was merged into.
    public var id: MemoryID
    /// What happened.
    public var status: Status
    /// The most similar older memory of the namespace, when one reached the near-duplicate threshold.
    public var nearDuplicate: NearDuplicate? = nil
    /// Memories whose validity this one ended: the earlier current value of its ``NewMemory/factKey``.
    public var ended: [MemoryID] = []
    /// Whether the stored memory was quarantined (by the ``QuarantinePolicy`` or as imported).
    public var quarantined = false
    /// For a quarantined memory with a fact key: the key's current values it contradicts (left current;
    /// releasing it makes the key's values one timeline again).
    public var contradicts: [MemoryID] = []
}

/// A memory very similar to one being stored.
public struct NearDuplicate: Sendable, Hashable {
    /// The older memory.
    public var id: MemoryID
    /// Its cosine similarity to the new memory.
    public var cosine: Float
}
