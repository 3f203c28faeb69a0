/// What a ``ScopedStore`` may reach: namespace subtrees and actions. Least privilege for agents: give
/// each one the smallest scope its job needs. ``unrestricted`` is the widest scope (every namespace,
/// every action): front ends run every request through a scoped handle, and a caller with no limits
/// simply holds this one, so each store operation is written once.
public struct Scope: Sendable, Hashable {
    /// Actions a scope allows.
    public struct Actions: OptionSet, Sendable, Hashable {
        /// The actions as bits.
        public let rawValue: Int
        /// Actions from their bits.
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// Recall, search, read, list and count memories; read working memory.
        public static let read = Actions(rawValue: 1 << 0)
        /// Remember and update memories; set, delete and promote working-memory entries.
        public static let write = Actions(rawValue: 1 << 1)
        /// Forget memories.
        public static let forget = Actions(rawValue: 1 << 2)
        /// Quarantine and release memories (``MemoryStore/quarantine(_:)``), a moderator's action.
        public static let quarantine = Actions(rawValue: 1 << 3)
        /// Read and write, but not forget.
        public static let readWrite: Actions = [.read, .write]
        /// Everything a scoped handle can do.
        public static let all: Actions = [.read, .write, .forget, .quarantine]
    }

    /// Namespace roots; each admits itself and everything below it. Overlapping roots are merged.
    /// Empty when ``isUnrestrictedNamespaces``: every namespace is admitted.
    public let namespaces: [String]
    /// What the handle may do inside them.
    public let actions: Actions
    /// True when no namespace is out of reach (``unrestricted`` and ``everyNamespace(actions:)``).
    public let isUnrestrictedNamespaces: Bool
    /// The highest ``TrustLevel`` the handle may write: a memory given a higher level is refused, and a
    /// default level above it is lowered to it.
    public private(set) var maxTrust: TrustLevel = .system
    /// Who acts through the handle (an API key's name, say): recorded as ``Memory/writtenBy`` and in the
    /// audit log.
    public private(set) var actor: String? = nil

    /// Every namespace and every action: the scope of the store's owner.
    public static let unrestricted = everyNamespace(actions: .all)

    /// Every namespace, but only the given actions (an operator's read-only key, say).
    public static func everyNamespace(actions: Actions) -> Scope {
        Scope(everyNamespace: actions)
    }

    private init(everyNamespace actions: Actions) {
        namespaces = []
        self.actions = actions
        isUnrestrictedNamespaces = true
    }

    /// A scope over the given namespace subtrees.
    /// - Throws: ``EngramError/Code/invalidArgument`` (field `scope.namespaces` or `scope.actions`) for no
    ///   namespace, a malformed one, or no action.
    public init(namespaces: [String], actions: Actions) throws {
        guard !namespaces.isEmpty else {
            throw EngramError.invalid("scope.namespaces", "must name at least one namespace")
        }
        for namespace in namespaces { try Limits.validateNamespace(namespace, field: "scope.namespaces") }
        guard !actions.isEmpty else {
            throw EngramError.invalid("scope.actions", "must allow at least one action")
        }
        let unique = Set(namespaces)
        self.namespaces = unique.filter { ns in !unique.contains { $0 != ns && Namespace.contains($0, ns) } }
            .sorted()
        self.actions = actions
        self.isUnrestrictedNamespaces = false
    }

    /// Scope over exactly these roots (none: a scope that reaches nothing), for ``intersection(_:)``.
    private init(roots: [String], actions: Actions) {
        let unique = Set(roots)
        namespaces = unique.filter { ns in !unique.contains { $0 != ns && Namespace.contains($0, ns) } }
            .sorted()
        self.actions = actions
        isUnrestrictedNamespaces = false
    }

    /// The same scope writing at most `level`.
    public func writing(atMost level: TrustLevel) -> Scope {
        var scope = self
        scope.maxTrust = level
        return scope
    }

    /// The same scope acting as `actor`.
    public func acting(as actor: String?) -> Scope {
        var scope = self
        scope.actor = actor
        return scope
    }

    /// What both scopes allow: the actions of both, the namespaces inside both and the lower trust
    /// ceiling (a scoped handle can only narrow); the actor is `other`'s when it names one.
    public func intersection(_ other: Scope) -> Scope {
        let actions = actions.intersection(other.actions)
        var scope: Scope
        if isUnrestrictedNamespaces && other.isUnrestrictedNamespaces {
            scope = Scope(everyNamespace: actions)
        } else if isUnrestrictedNamespaces {
            scope = Scope(roots: other.namespaces, actions: actions)
        } else if other.isUnrestrictedNamespaces {
            scope = Scope(roots: namespaces, actions: actions)
        } else {
            let inside =
                other.namespaces.filter { contains(namespace: $0) }
                + namespaces.filter { other.contains(namespace: $0) }
            scope = Scope(roots: inside, actions: actions)
        }
        scope.maxTrust = min(maxTrust, other.maxTrust)
        scope.actor = other.actor ?? actor
        return scope
    }

    /// Whether the scope reaches a namespace.
    public func contains(namespace: String) -> Bool {
        isUnrestrictedNamespaces || namespaces.contains { Namespace.contains($0, namespace) }
    }

    /// The scope as the store's internal `within:` checks take it: nil when nothing is excluded.
    var namespaceLimit: Scope? { isUnrestrictedNamespaces ? nil : self }

    /// Whether a filter's namespace condition can admit anything inside the scope.
    func overlaps(_ condition: MemoryFilter.NamespaceMatch) -> Bool {
        if isUnrestrictedNamespaces { return true }
        return switch condition {
        case .exact(let ns): contains(namespace: ns)
        case .prefix(let ns): namespaces.contains { Namespace.contains($0, ns) || Namespace.contains(ns, $0) }
        }
    }

    /// The filter ANDed with the scope.
    /// - Throws: ``EngramError/Code/permissionDenied`` when its namespace condition lies wholly outside.
    func narrowed(_ filter: MemoryFilter) throws -> MemoryFilter {
        if let condition = filter.namespace, !overlaps(condition) {
            throw EngramError(
                .permissionDenied, "the namespace is outside this handle's scope", field: "filter.namespace")
        }
        if isUnrestrictedNamespaces { return filter }
        var narrowed = filter
        narrowed.scope = namespaces
        return narrowed
    }

    /// Refuses an operation on the whole store (statistics, health, compaction) to a narrower scope.
    func requireWholeStore(_ verb: String) throws {
        // Read, write and forget everywhere: what a whole-store key had before quarantine was an action.
        guard isUnrestrictedNamespaces, actions.isSuperset(of: [.read, .write, .forget]) else {
            throw EngramError(
                .permissionDenied, "this handle may not \(verb): it needs the whole store", field: "scope")
        }
    }

    /// Refuses a write into `namespace` (a missing action, a namespace outside the scope).
    func requireWritable(namespace: String, field: String) throws {
        try require(.write, "write")
        try require(namespace: namespace, field: field)
    }

    package func require(_ action: Actions, _ verb: String) throws {
        guard actions.contains(action) else {
            throw EngramError(.permissionDenied, "this handle may not \(verb)", field: "action")
        }
    }

    package func require(namespace: String, field: String = "namespace") throws {
        guard contains(namespace: namespace) else {
            throw EngramError(
                .permissionDenied, "namespace \(namespace) is outside this handle's scope", field: field)
        }
    }
}

/// A handle narrowed to a ``Scope`` is a ``MemoryStore`` like the whole store: every operation is
/// written once and checks the handle's scope (see ``MemoryStore/scoped(to:)``).
public typealias ScopedStore = MemoryStore

/// Working memory through a scoped handle is ``WorkingMemory`` checking that handle's scope.
public typealias ScopedWorkingMemory = WorkingMemory
