import Engram
import EngramTestSupport
import Foundation
import Testing

/// Least privilege: a scoped handle reaches only its namespaces and actions.
@Suite("Scoped handles")
struct ScopeTests {
    /// Namespaces by whether `acme/support` reaches them (`acme/supportive` is a sibling, not a child).
    static let inside = ["acme/support", "acme/support/user-1"]
    static let outside = ["acme/billing", "globex", "acme/supportive", "acme"]

    struct Fixture {
        let dir = TemporaryDirectory()
        let store: MemoryStore
        var oracle = BruteForceOracle()
        var namespaceOf: [MemoryID: String] = [:]

        init() throws {
            store = try MemoryStore.create(at: dir.appending("s"), dimension: 8)
            var g = SeededGenerator(seed: 42)
            for (n, namespace) in (ScopeTests.inside + ScopeTests.outside).enumerated() {
                for i in 0..<(3 + n % 2) {
                    let vector = g.vector(dimension: 8)
                    let id = try store.remember(
                        NewMemory(
                            content: "ticket \(i) about refunds in \(namespace)", namespace: namespace,
                            embedding: vector))
                    oracle.entries.append(.init(id: id, vector: vector))
                    namespaceOf[id] = namespace
                }
            }
        }

        func ids(where admit: (String) -> Bool) -> Set<MemoryID> {
            Set(namespaceOf.filter { admit($0.value) }.keys)
        }
        var insideIDs: Set<MemoryID> { ids { ScopeTests.inside.contains($0) } }
        var outsideID: MemoryID { namespaceOf.first { $0.value == "acme/billing" }!.key }
        var someInsideID: MemoryID { namespaceOf.first { $0.value == "acme/support/user-1" }!.key }
    }

    static func code(_ body: () throws -> Void) -> (EngramError.Code, String?)? {
        do {
            try body()
            return nil
        } catch let error as EngramError {
            return (error.code, error.field)
        } catch {
            return nil
        }
    }

    @Test("reads see exactly the scope: recall equals the oracle over it, and so do count, list and search")
    func reads() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .read))
        var g = SeededGenerator(seed: 7)
        for _ in 0..<5 {
            let query = g.vector(dimension: 8)
            let hits = try agent.recall(query, k: 4)
            #expect(f.oracle.mismatch(hits, query: query, k: 4, where: f.insideIDs.contains) == nil)
            #expect(Set(try agent.recall(query, k: 100).map(\.memory.id)) == f.insideIDs)
        }
        #expect(try agent.count() == f.insideIDs.count)
        #expect(Set(try agent.list(limit: 1000).memories.map(\.id)) == f.insideIDs)
        #expect(Set(try agent.search(text: "refunds", k: 100).map(\.memory.id)) == f.insideIDs)
        // A broader prefix is narrowed to the scope; a narrower one inside it works as usual.
        #expect(try agent.count(matching: MemoryFilter(namespace: .prefix("acme"))) == f.insideIDs.count)
        #expect(
            try agent.count(matching: MemoryFilter(namespace: .prefix("acme/support/user-1")))
                == f.ids { $0 == "acme/support/user-1" }.count)
        // A condition that can only match outside is refused, not silently empty.
        for condition in [
            MemoryFilter.NamespaceMatch.exact("acme/billing"), .prefix("globex"), .exact("acme"),
        ] {
            let result = Self.code {
                _ = try agent.recall([1, 0, 0, 0, 0, 0, 0, 0], filter: MemoryFilter(namespace: condition))
            }
            #expect(result?.0 == .permissionDenied && result?.1 == "filter.namespace")
        }
    }

    @Test("a memory outside the scope looks exactly like an unknown one")
    func outsideLooksUnknown() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .all))
        let unknown = MemoryID(UUID())
        for id in [f.outsideID, unknown] {
            #expect(Self.code { _ = try agent.memory(id) }! == (.notFound, "id"))
            #expect(Self.code { try agent.forget(id) }! == (.notFound, "id"))
            #expect(
                Self.code { _ = try agent.update(id, with: MemoryChanges(content: "x")) }! == (
                    .notFound, "id"
                ))
            #expect(try agent.history(of: id).isEmpty)
        }
        #expect(try agent.memory(f.someInsideID).namespace == "acme/support/user-1")
        #expect(Set(try agent.embeddings(of: [f.someInsideID, f.outsideID]).keys) == [f.someInsideID])
        #expect(try f.store.memory(f.outsideID).content.hasPrefix("ticket"))  // untouched
    }

    @Test("writes go only inside the scope, batches atomically")
    func writes() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .readWrite))
        let before = try f.store.count()
        let id = try agent.remember(
            NewMemory(
                content: "user prefers email", namespace: "acme/support/user-2",
                embedding: [1, 0, 0, 0, 0, 0, 0, 0]))
        #expect(try f.store.memory(id).namespace == "acme/support/user-2")
        #expect(
            Self.code {
                _ = try agent.remember(
                    NewMemory(content: "x", namespace: "acme/billing", embedding: [1, 0, 0, 0, 0, 0, 0, 0]))
            }! == (.permissionDenied, "namespace"))
        #expect(
            Self.code {
                _ = try agent.remember(
                    NewMemory(content: "no namespace given", embedding: [1, 0, 0, 0, 0, 0, 0, 0]))
            }! == (.permissionDenied, "namespace"))
        let batch = [
            NewMemory(content: "fine", namespace: "acme/support", embedding: [1, 0, 0, 0, 0, 0, 0, 0]),
            NewMemory(
                content: "not fine", namespace: "acme/supportive", embedding: [0, 1, 0, 0, 0, 0, 0, 0]),
        ]
        #expect(Self.code { _ = try agent.remember(batch) }! == (.permissionDenied, "memories[1].namespace"))
        #expect(try f.store.count() == before + 1)  // nothing of the refused batch
        let updated = try agent.update(id, with: MemoryChanges(content: "user prefers email, not phone"))
        #expect(updated.namespace == "acme/support/user-2")
        #expect(try agent.history(of: updated.id).map(\.id) == [id])
        // This scope cannot forget.
        #expect(Self.code { try agent.forget(updated.id) }! == (.permissionDenied, "action"))
        #expect(Self.code { _ = try agent.forget(matching: .all) }! == (.permissionDenied, "action"))
        let reader = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .read))
        #expect(Self.code { _ = try reader.remember(batch[0]) }! == (.permissionDenied, "action"))
    }

    @Test("forgetting reaches only the scope")
    func forgetting() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .all))
        let total = try f.store.count()
        #expect(try agent.forget([f.someInsideID, f.outsideID]) == 1)
        #expect(try f.store.memory(f.outsideID).namespace == "acme/billing")
        #expect(try agent.forget(matching: .all) == f.insideIDs.count - 1)
        #expect(try f.store.count() == total - f.insideIDs.count)
        #expect(try f.store.count(matching: MemoryFilter(namespace: .exact("acme/supportive"))) > 0)
    }

    @Test("working memory through a scope")
    func working() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .readWrite))
        try agent.working.set("draft", "refund approved", namespace: "acme/support/user-1", ttl: 60)
        #expect(try agent.working.get("draft", namespace: "acme/support/user-1")?.value == "refund approved")
        try f.store.working.set("secret", "other team's note", namespace: "acme/billing", ttl: 60)
        #expect(
            Self.code { _ = try agent.working.get("secret", namespace: "acme/billing") }! == (
                .permissionDenied, "namespace"
            ))
        #expect(
            Self.code { _ = try agent.working.list(namespace: "acme/billing") }! == (
                .permissionDenied, "namespace"
            ))
        #expect(
            Self.code { _ = try agent.working.delete("secret", namespace: "acme/billing") }! == (
                .permissionDenied, "namespace"
            ))
        let id = try agent.working.promote(
            "draft", namespace: "acme/support/user-1", embedding: [0, 0, 1, 0, 0, 0, 0, 0])
        #expect(try agent.memory(id).content == "refund approved")
        let reader = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .read))
        #expect(
            Self.code { try reader.working.set("k", "v", namespace: "acme/support", ttl: 60) }! == (
                .permissionDenied, "action"
            ))
    }

    @Test("a scope is checked when it is made, and nested roots merge")
    func scopeValidation() throws {
        #expect(
            Self.code { _ = try Scope(namespaces: [], actions: .read) }! == (
                .invalidArgument, "scope.namespaces"
            ))
        #expect(
            Self.code { _ = try Scope(namespaces: ["acme//x"], actions: .read) }! == (
                .invalidArgument, "scope.namespaces"
            ))
        #expect(
            Self.code { _ = try Scope(namespaces: ["acme"], actions: []) }! == (
                .invalidArgument, "scope.actions"
            ))
        let scope = try Scope(
            namespaces: ["acme/support/user-1", "globex", "acme/support", "globex"], actions: .read)
        #expect(scope.namespaces == ["acme/support", "globex"])
        #expect(
            scope.contains(namespace: "acme/support/user-1/thread-9")
                && !scope.contains(namespace: "acme/supportive"))
    }

    @Test("a scoped handle scoped again only narrows: namespaces inside both, actions of both")
    func scopingAgainNarrows() throws {
        let f = try Fixture()
        let support = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .readWrite))
        // Asking for more (another namespace, forget) gets only what both allow.
        let wider = support.scoped(to: try Scope(namespaces: ["acme", "globex"], actions: .all))
        #expect(wider.scope.namespaces == ["acme/support"] && wider.scope.actions == .readWrite)
        #expect(throws: EngramError(.permissionDenied, "this handle may not forget", field: "action")) {
            try wider.forget(f.someInsideID)
        }
        let narrower = support.scoped(to: try Scope(namespaces: ["acme/support/user-1"], actions: .read))
        #expect(narrower.scope.namespaces == ["acme/support/user-1"] && narrower.scope.actions == .read)
        let seen = Set(try narrower.list(limit: 1000).memories.map(\.id))
        #expect(seen == f.ids { $0 == "acme/support/user-1" })
        // Disjoint namespaces leave a handle that reaches nothing.
        let none = support.scoped(to: try Scope(namespaces: ["globex"], actions: .read))
        #expect(try none.count() == 0)
        #expect(throws: EngramError.self) { try none.memory(f.outsideID) }
        // The whole store is untouched by its handles.
        #expect(f.store.scope == .unrestricted)
    }

    @Test("whole-store operations refuse a narrower scope; working memory checks it without needing read")
    func wholeStoreOperationsAndWorkingMemory() throws {
        let f = try Fixture()
        let agent = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .all))
        for (name, call) in [
            ("stats", { _ = try agent.stats() }), ("health", { _ = try agent.health() }),
            ("compact", { _ = try agent.compact() }), ("working count", { _ = try agent.working.count() }),
        ] as [(String, () throws -> Void)] {
            #expect(throws: EngramError.self, "\(name)") { try call() }
            do { try call() } catch let error as EngramError {
                #expect(error.code == .permissionDenied, "\(name)")
            }
        }
        #expect(try f.store.stats().memories > 0)
        // A write-only handle sets, deletes and promotes entries (the look-ups inside need no read).
        let writer = f.store.scoped(to: try Scope(namespaces: ["acme/support"], actions: .write))
        try writer.working.set("plan", "step 1", namespace: "acme/support", ttl: 60)
        #expect(try writer.working.delete("plan", namespace: "acme/support"))
        try writer.working.set("note", "keep this", namespace: "acme/support", ttl: 60)
        let id = try writer.working.promote(
            "note", namespace: "acme/support", embedding: [Float](repeating: 0.5, count: 8))
        #expect(try f.store.memory(id).content == "keep this")
        #expect(throws: EngramError(.permissionDenied, "this handle may not read", field: "action")) {
            try writer.working.get("note", namespace: "acme/support")
        }
    }
}
