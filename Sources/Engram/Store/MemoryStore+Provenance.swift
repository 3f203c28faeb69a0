public import Foundation

extension MemoryStore {
    /// Gives each memory about to be stored its trust, quarantine and author, and settles fact keys: a
    /// memory stating a key's value ends the validity of the value current before it (or, when it is
    /// older than that value, ends itself there). Runs under the writer lock, before the insert.
    ///
    /// - Returns: the rows whose validity ends, with the time, for the insert's transaction (their slots
    ///   change once it commits).
    func settleProvenance(
        _ prepared: inout [(memory: Memory, vector: [Float])], storing: [Int], given: [NewMemory],
        results: inout [RememberResult], state: inout WriterState
    ) throws -> [(rowID: Int64, slot: Int32, at: Double)] {
        let sourceIDs = Set(storing.flatMap { given[$0].derivedFrom })
        // A memory outside the handle's scope is as unknown as a missing one.
        var sourceTrust: [MemoryID: TrustLevel] = [:]
        for source in try located(Array(sourceIDs), within: scope, state) {
            sourceTrust[source.id] = TrustLevel(rawValue: Int(source.info.trust))
        }
        var batchTrust: [MemoryID: TrustLevel] = [:]
        for i in storing {
            let field = { (name: String) in given.count == 1 ? name : "memories[\(i)].\(name)" }
            var memory = prepared[i].memory
            // An earlier memory of the same batch counts as a source too (an import of an exported lineage).
            memory.trust = try TrustLevel.settled(
                given: given[i].trust, fallback: memory.source?.defaultTrust ?? .agent,
                sources: given[i].derivedFrom, maxTrust: scope.maxTrust,
                level: { sourceTrust[$0] ?? batchTrust[$0] }, field: field)
            memory.writtenBy = given[i].writtenBy ?? scope.actor
            memory.quarantined =
                given[i].quarantined
                ?? options.quarantine.quarantines(flags: memory.flags, trust: memory.trust)
            results[i].quarantined = memory.quarantined
            prepared[i].memory = memory
            if !sourceIDs.isEmpty { batchTrust[memory.id] = memory.trust }
        }
        return try settleFactKeys(&prepared, storing: storing, results: &results, state: &state)
    }

    /// See ``settleProvenance(_:storing:given:results:state:)``. A quarantined memory ends nothing (a
    /// planted value must not retire the true one), nor does one given its own end of validity (a record
    /// of the past).
    private func settleFactKeys(
        _ prepared: inout [(memory: Memory, vector: [Float])], storing: [Int],
        results: inout [RememberResult],
        state: inout WriterState
    ) throws -> [(rowID: Int64, slot: Int32, at: Double)] {
        let keyed = storing.filter { prepared[$0].memory.factKey != nil }
        guard !keyed.isEmpty else { return [] }
        var memories = prepared.map(\.memory)
        var ending: [(rowID: Int64, slot: Int32, at: Double)] = []
        for (namespace, indices) in Dictionary(grouping: keyed, by: { memories[$0].namespace }) {
            let keys = Set(indices.compactMap { memories[$0].factKey })
            let stored = try records.currentFacts(namespace: namespace, keys: Array(keys))
            var rows: [MemoryID: (rowID: Int64, slot: Int32)] = [:]
            let current = stored.mapValues { facts in
                facts.filter { !$0.quarantined }.map { fact in
                    rows[fact.id] = (fact.rowID, fact.slot)
                    return FactTimeline.Value(id: fact.id, validFrom: fact.validFrom)
                }
            }
            for end in FactTimeline.settle(&memories, indices: indices, current: current, results: &results) {
                if let row = rows[end.id] { ending.append((row.rowID, row.slot, end.at)) }
            }
        }
        for i in keyed { prepared[i].memory = memories[i] }
        return ending
    }

    /// Audit events for a remember: what was stored, and whose validity ended.
    func rememberEvents(_ results: [RememberResult], storing: [Int], now: Date) -> [AuditEvent] {
        var events = [
            auditEvent("remember", storing.map { results[$0].id }, "count=\(storing.count)", at: now)
        ]
        let ended = storing.flatMap { results[$0].ended }
        if !ended.isEmpty { events.append(auditEvent("end-validity", ended, "by=fact-key", at: now)) }
        let quarantined = storing.filter { results[$0].quarantined }.map { results[$0].id }
        if !quarantined.isEmpty { events.append(auditEvent("quarantine", quarantined, "by=policy", at: now)) }
        return events
    }

    /// An audit event by this handle, at `at` (now by default).
    func auditEvent(_ action: String, _ ids: [MemoryID], _ detail: String = "", at: Date? = nil) -> AuditEvent
    {
        AuditEvent(
            action: action, ids: ids, detail: detail, actor: scope.actor,
            at: at?.timeIntervalSince1970 ?? nowSeconds())
    }

    // MARK: Quarantine

    /// Quarantines memories: they stay stored, but recall, lists and counts leave them out unless a
    /// filter asks for them (``MemoryFilter/includeQuarantined``). Needs the ``Scope/Actions/quarantine`` action.
    ///
    /// - Returns: how many memories changed (unknown ids and those outside the scope are ignored).
    @discardableResult
    public func quarantine(_ ids: [MemoryID]) throws -> Int {
        try setQuarantined(ids, true)
    }

    /// Releases quarantined memories back into recall. Needs the ``Scope/Actions/quarantine`` action.
    ///
    /// - Returns: how many memories changed.
    @discardableResult
    public func release(_ ids: [MemoryID]) throws -> Int {
        try setQuarantined(ids, false)
    }

    private func setQuarantined(_ ids: [MemoryID], _ quarantined: Bool) throws -> Int {
        try scope.require(.quarantine, quarantined ? "quarantine" : "release")
        return try write { state in
            let changed = try located(ids, within: scope, state).filter { $0.info.quarantined != quarantined }
            guard !changed.isEmpty else { return 0 }
            var ending: [(rowID: Int64, at: Double, slot: Int32, id: MemoryID)] = []
            if !quarantined { ending = try timelineOnRelease(changed.map(\.rowID)) }
            var audit = [auditEvent(quarantined ? "quarantine" : "release", changed.map(\.id))]
            if !ending.isEmpty { audit.append(auditEvent("end-validity", ending.map(\.id), "by=release")) }
            try records.setQuarantined(
                changed.map(\.rowID), quarantined, ending: ending.map { ($0.rowID, $0.at) }, audit: audit)
            for item in changed { state.slots[Int(item.slot)].quarantined = quarantined }
            for item in ending { state.slots[Int(item.slot)].validUntil = item.at }
            try publish(&state, remap: false)
            return changed.count
        }
    }

    /// When released memories state a fact key's value, the key's current values (those not quarantined,
    /// and the released ones) become one timeline again: each holds until the next one begins.
    private func timelineOnRelease(_ rowIDs: [Int64]) throws -> [(
        rowID: Int64, at: Double, slot: Int32, id: MemoryID
    )] {
        let released = try records.memories(rowIDs: rowIDs).values.filter {
            $0.factKey != nil && $0.validUntil == nil
        }
        let releasedIDs = Set(released.map(\.id))
        var ending: [(rowID: Int64, at: Double, slot: Int32, id: MemoryID)] = []
        for (namespace, memories) in Dictionary(grouping: released, by: \.namespace) {
            let keys = Array(Set(memories.compactMap(\.factKey)))
            for values in try records.currentFacts(namespace: namespace, keys: keys).values {
                let current = values.filter { !$0.quarantined || releasedIDs.contains($0.id) }
                let rows = Dictionary(uniqueKeysWithValues: current.map { ($0.id, $0) })
                for end in FactTimeline.timeline(current.map { .init(id: $0.id, validFrom: $0.validFrom) }) {
                    if let row = rows[end.id] { ending.append((row.rowID, end.at, row.slot, end.id)) }
                }
            }
        }
        return ending
    }

    // MARK: Validity

    /// Ends memories' validity at `time` (now by default): they stay stored and answer ``MemoryFilter/Validity/asOf(_:)``
    /// recalls for earlier times, but no longer count as current.
    ///
    /// - Returns: how many memories changed (unknown ids, those outside the scope and those already ended are ignored).
    @discardableResult
    public func endValidity(_ ids: [MemoryID], at time: Date? = nil) throws -> Int {
        try scope.require(.write, "write")
        let at = Self.millisecondPrecision(time ?? options.clock.now()).timeIntervalSince1970
        return try write { state in
            let changed = try located(ids, within: scope, state).filter { $0.info.validUntil == .infinity }
            guard !changed.isEmpty else { return 0 }
            try records.endValidity(
                changed.map { ($0.rowID, at) }, audit: [auditEvent("end-validity", changed.map(\.id))])
            for item in changed { state.slots[Int(item.slot)].validUntil = at }
            try publish(&state, remap: false)
            return changed.count
        }
    }

    // MARK: Audit

    /// Checks the whole audit log: every entry's hash against its fields and the one before, the numbers
    /// without gaps, and the newest entry against the recorded head. Needs the whole store.
    /// - Complexity: O(entries).
    public func verifyAudit() throws -> AuditVerification {
        try scope.requireWholeStore("verify the audit log")
        try checkOpen()
        return try records.verifyAudit()
    }

    /// Audit entries from `since` on (all when nil), oldest first, after entry number `after`, at most
    /// `limit`. Needs the whole store.
    public func auditEntries(since: Date? = nil, after: Int = 0, limit: Int = 1000) throws -> [AuditEntry] {
        try scope.requireWholeStore("read the audit log")
        try checkOpen()
        guard (1...100_000).contains(limit) else {
            throw EngramError.invalid("limit", "must be from 1 to 100000")
        }
        return try records.auditEntries(since: since?.timeIntervalSince1970, after: after, limit: limit)
    }

    /// Records something a front end did with the store that changes no memory (an API key's use).
    package func recordAudit(action: String, ids: [MemoryID] = [], detail: String) throws {
        try records.appendAudit([auditEvent(action, ids, detail)])
    }
}
