/// How far a memory may be trusted to drive an agent's decisions, lowest first.
///
/// A memory's level defaults from its ``MemorySource`` and is never higher than the lowest level of
/// the memories it was derived from; a ``Scope`` caps what its handle may write (``Scope/maxTrust``).
public enum TrustLevel: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Nothing vouches for it (a source the store does not know).
    case untrusted
    /// From outside the system: web pages, documents, other parties' tools.
    case external
    /// Inferred or written by an agent.
    case agent
    /// Said directly by the user.
    case user
    /// Put there by the system's operators.
    case system

    /// The level's name, as the wire and the CLI spell it.
    public var description: String {
        switch self {
        case .untrusted: "untrusted"
        case .external: "external"
        case .agent: "agent"
        case .user: "user"
        case .system: "system"
        }
    }

    /// The level with this name.
    /// - Throws: ``EngramError/Code/invalidArgument`` naming `field` for an unknown name.
    public init(name: String, field: String = "trust") throws {
        guard let level = Self.allCases.first(where: { $0.description == name }) else {
            throw EngramError.invalid(
                field, "must be one of \(Self.allCases.map(\.description).joined(separator: ", "))")
        }
        self = level
    }

    /// Orders levels from least to most trusted.
    public static func < (a: TrustLevel, b: TrustLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Where a memory came from: one of the classes below, or any short name the caller gives (which the
/// store trusts least, as ``TrustLevel/untrusted``, unless told otherwise).
public struct MemorySource: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The source's name.
    public let rawValue: String
    /// A source by name (validated when the memory is stored).
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A source from a literal.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The source's name.
    public var description: String { rawValue }

    /// Said directly by the user.
    public static let user: MemorySource = "user"
    /// Inferred or written by an agent.
    public static let agent: MemorySource = "agent"
    /// Produced by a tool the system runs itself.
    public static let tool: MemorySource = "tool"
    /// From outside: web pages, documents, messages, other parties' tools.
    public static let external: MemorySource = "external"

    /// The level a memory from this source gets when none is given.
    public var defaultTrust: TrustLevel {
        switch self {
        case .user: .user
        case .agent, .tool: .agent
        case .external: .external
        default: .untrusted
        }
    }
}

/// What the store does with memories whose text looks like instructions (see ``ContentScreen``).
public struct QuarantinePolicy: Sendable, Hashable {
    /// Flagged memories at or below this level are quarantined when written; nil quarantines none.
    public var flaggedAtOrBelow: TrustLevel?

    /// A policy quarantining flagged memories at or below `level` (nil: none).
    public init(flaggedAtOrBelow level: TrustLevel?) { flaggedAtOrBelow = level }

    /// Flagged memories from external or untrusted sources are quarantined: the default.
    public static let standard = QuarantinePolicy(flaggedAtOrBelow: .external)
    /// Nothing is quarantined automatically; flags are still recorded.
    public static let never = QuarantinePolicy(flaggedAtOrBelow: nil)

    /// Whether a memory with these flags and this level is quarantined when written.
    func quarantines(flags: [String], trust: TrustLevel) -> Bool {
        guard let limit = flaggedAtOrBelow else { return false }
        return !flags.isEmpty && trust <= limit
    }
}

extension TrustLevel {
    /// The trust a new memory is stored with: `given`, which may exceed neither `maxTrust` (the writer's
    /// ceiling: permission denied) nor the lowest trust of `sources`, what it is derived from (invalid);
    /// else `fallback` (its source's default) capped by both. `level` gives a source's trust, nil when
    /// the writer cannot see it (refused: an unknown source vouches for nothing). `field` names a field
    /// of this memory for errors.
    package static func settled(
        given: TrustLevel?, fallback: TrustLevel, sources: [MemoryID], maxTrust: TrustLevel,
        level: (MemoryID) -> TrustLevel?, field: (String) -> String
    ) throws -> TrustLevel {
        var ceiling = maxTrust
        for id in sources {
            guard let source = level(id) else {
                throw EngramError.invalid(field("derivedFrom"), "names no memory this handle can see: \(id)")
            }
            ceiling = min(ceiling, source)
        }
        guard let given else { return min(fallback, ceiling) }
        if given > maxTrust {
            throw EngramError(
                .permissionDenied, "this handle may write at most \(maxTrust) trust", field: field("trust"))
        }
        if given > ceiling {
            throw EngramError.invalid(
                field("trust"), "is above \(ceiling), the trust of what it is derived from")
        }
        return given
    }
}
