#if DEBUG || ENGRAM_FUZZ
    package import Foundation

    /// The file formats and parsers that read bytes from outside, each callable on arbitrary bytes, for the
    /// fuzz targets (`Tests/Fuzz`) and their regression corpus. Checksums are fixed up first, so that
    /// fuzzing explores what lies behind them: a checksum guards against damage, not against a file made to
    /// pass it, and such a file must still be refused without a crash.
    package enum FuzzEntryPoints {
        /// A vector file header: decoded, and when accepted, encoding it again gives the same header.
        package static func vectorHeader(_ input: [UInt8]) {
            var bytes = Array(input.prefix(VectorFileHeader.size))
            bytes += [UInt8](repeating: 0, count: VectorFileHeader.size - bytes.count)
            VectorFileHeader.seal(&bytes)
            guard let header = try? VectorFileHeader.decode(bytes, path: "fuzz") else { return }
            precondition(
                (try? VectorFileHeader.decode(header.encoded(), path: "fuzz")) == header, "header round trip")
        }

        /// A `slots.cache` file (its checksum fixed up) in a scratch directory, read for commit counter "7" and
        /// a vector file of 1,000 rows.
        package static func slotCache(_ input: [UInt8], scratch: URL) {
            let bytes = SlotCache.resealed(input)
            let file = scratch.appendingPathComponent(SlotCache.fileName)
            _ = FileManager.default.createFile(atPath: file.path, contents: Data(bytes))
            guard let (slots, free, names) = SlotCache.read(directory: scratch, counter: "7", maxSlots: 1_000)
            else { return }
            // What open does with an accepted cache: every live slot's names resolve, and the free list holds
            // exactly the other slots, highest first.
            precondition(slots.count <= 1_000)
            precondition(free == slots.freeSlots())
            slots.forEachLive { _, info in
                _ = names.namespaces.names[Int(info.namespace)]
                if info.agent >= 0 { _ = names.agents.names[Int(info.agent)] }
                if info.kind >= 0 { _ = names.kinds.names[Int(info.kind)] }
                for tag in info.tags { _ = names.tags.names[Int(tag)] }
            }
        }

        /// An audit log made from the input (up to 16 entries, their fields cut from the bytes) checks intact;
        /// after one change the input also chooses (a field altered, an entry removed, two swapped, the tail
        /// cut off, a hash replaced), the check fails, unless the change left the log as it was.
        package static func auditChain(_ input: [UInt8]) {
            guard input.count >= 4 else { return }
            var cursor = 4
            func take(_ n: Int) -> String {
                let end = min(input.count, cursor + n)
                defer { cursor = end }
                return String(decoding: input[min(cursor, end)..<end], as: UTF8.self)
            }
            typealias Entry = (
                seq: Int, at: Double, actor: String?, action: String, ids: String, detail: String,
                hash: String
            )
            var entries: [Entry] = []
            var previous = ""
            for seq in 1...(Int(input[0]) % 16 + 1) {
                let actor = seq % 3 == 0 ? nil : take(3)
                let (action, ids, detail) = (take(2), take(5), take(4))
                let at = Double(input[seq % input.count]) * 1000 + Double(seq)
                let hash = AuditEntry.chainHash(
                    previous: previous, seq: seq, at: at, actor: actor, action: action, ids: ids,
                    detail: detail)
                entries.append((seq, at, actor, action, ids, detail, hash))
                previous = hash
            }
            func verify(_ log: [Entry], head: (Int, String)) -> AuditVerification {
                var chain = AuditChainCheck()
                for e in log {
                    guard
                        chain.check(
                            seq: e.seq, at: e.at, actor: e.actor, action: e.action, ids: e.ids,
                            detail: e.detail,
                            hash: e.hash)
                    else { break }
                }
                return chain.finish(headSeq: head.0, headHash: head.1)
            }
            let head = (entries.count, previous)
            precondition(verify(entries, head: head).isIntact, "an untouched log fails its check")
            var changed = entries
            let i = Int(input[2]) % entries.count
            let text = take(3)
            switch input[1] % 6 {
            case 0: changed[i].detail += text.isEmpty ? "x" : text
            case 1: changed[i].actor = changed[i].actor == nil ? "someone" : nil
            case 2: changed.remove(at: i)
            case 3:
                let j = Int(input[3]) % entries.count
                changed.swapAt(i, j)
            case 4: changed.removeLast(1 + Int(input[3]) % entries.count)
            default: changed[i].hash = String(changed[i].hash.reversed())
            }
            let same =
                changed.count == entries.count
                && zip(changed, entries).allSatisfy { a, b in
                    a.seq == b.seq && a.at == b.at && a.actor == b.actor && a.action == b.action
                        && a.ids == b.ids
                        && a.detail == b.detail && a.hash == b.hash
                }
            precondition(
                same || !verify(changed, head: head).isIntact, "a changed audit log passed its check")
        }

        /// A claimed `usage.log` file in a scratch directory.
        package static func usageLog(_ input: [UInt8], scratch: URL) {
            let name = UsageLog.claimedPrefix + "fuzz"
            _ = FileManager.default.createFile(
                atPath: scratch.appendingPathComponent(name).path, contents: Data(input))
            for entry in UsageLog.read(name, directory: scratch) {
                precondition(entry.count > 0 && entry.last.isFinite)
            }
        }

        /// A safetensors file in a scratch directory: its header parsed and, when accepted, a tensor read
        /// with the shape the header gives.
        package static func safetensors(_ input: [UInt8], scratch: URL) {
            let file = scratch.appendingPathComponent("model.safetensors")
            _ = FileManager.default.createFile(atPath: file.path, contents: Data(input))
            guard let file = try? SafeTensorsFile(path: file.path) else { return }
            for (name, tensor) in file.tensors { _ = try? file.floats(name, shape: tensor.shape) }
        }

        /// The WordPiece tokenizer with a small vocabulary, on arbitrary text.
        package static func wordPiece(_ input: [UInt8], vocabulary: String) {
            guard let tokenizer = try? WordPieceTokenizer(vocabularyFile: vocabulary) else {
                preconditionFailure("vocabulary")
            }
            let ids = tokenizer.encode(String(decoding: input, as: UTF8.self), maxTokens: 64)
            precondition(ids.count <= 64 && ids.allSatisfy { $0 >= 0 })
        }

        /// Arbitrary text through the full-text index and the `engram` tokenizer (C code reading every
        /// memory's text): a memory of it (lines: content, cause, outcome) in one of three namespaces (the
        /// first byte picks) is inserted into a record store in `scratch`, its own words are searched inside
        /// its namespace through the scoped words and over the whole store, it is deleted, and FTS5 checks
        /// the index against the text. The two searches must agree on the memory and its score; a word the
        /// delete left behind or an entry it lost fails the check.
        package static func fullText(_ input: [UInt8], scratch: URL) {
            guard let first = input.first else { return }
            let text = String(decoding: input.dropFirst(), as: UTF8.self)
            guard !text.utf8.contains(0) else { return }  // refused by validation, never stored
            let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(
                String.init)
            let namespace = ["a", "b/c", "tenant-\u{E9}"][Int(first) % 3]
            do {
                let records = try fullTextStore(in: scratch)
                let n = fullTextCalls.withLock { n in
                    n += 1
                    return n
                }
                let memory = Memory(
                    id: MemoryID(high: UInt64(n), low: 1), namespace: namespace, agent: nil, kind: .note,
                    content: lines[0], cause: lines.count > 1 ? lines[1] : nil,
                    outcome: lines.count > 2 ? lines[2] : nil,
                    succeeded: nil, tags: [], importance: 0.5, metadata: [:],
                    createdAt: Date(timeIntervalSince1970: 0),
                    updatedAt: Date(timeIntervalSince1970: 0), expiresAt: nil, supersedes: nil,
                    recallCount: 0,
                    lastRecalledAt: nil, helpfulCount: 0, unhelpfulCount: 0)
                let rowID = try records.insert([(memory, Int32(truncatingIfNeeded: n), nil)])[0]
                let terms = Array(KeywordQuery.terms(text).prefix(8))
                if !terms.isEmpty {
                    func score(inside namespaces: [String]?) throws -> Double? {
                        try records.keywordMatches(
                            terms: terms, namespaces: namespaces, weights: ColumnWeights(), limit: 1_000
                        ) { _, _ in true }.matches.first { $0.rowID == rowID }?.score
                    }
                    let scoped = try score(inside: [namespace]), whole = try score(inside: nil)
                    precondition((scoped == nil) == (whole == nil), "found by one search only")
                    if let scoped, let whole {
                        precondition(abs(scoped - whole) <= 1e-9 * max(1, abs(whole)), "scores differ")
                    }
                }
                let deleted = try records.delete(rowIDs: [rowID])
                precondition(deleted == 1, "the memory was not deleted")
                try records.fullTextIntegrityCheck()
            } catch {
                preconditionFailure("the full-text index refused or lost text: \(error)")
            }
        }

        /// The record store of ``fullText(_:scratch:)``, one per scratch directory, and its call count.
        private static let fullTextStores = Locked<[String: RecordStore]>([:])
        private static let fullTextCalls = Locked(0)

        private static func fullTextStore(in scratch: URL) throws -> RecordStore {
            try fullTextStores.withLock { stores in
                if let store = stores[scratch.path] { return store }
                let store = try RecordStore(
                    path: scratch.appendingPathComponent("fulltext.sqlite").path, readOnly: false,
                    synchronousFull: false)
                stores[scratch.path] = store
                return store
            }
        }
    }
#endif
