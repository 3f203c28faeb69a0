#if DEBUG || ENGRAM_FUZZ
    // Every fuzz target: a name and what it does with one input. Shared by the libFuzzer harness
    // (`make fuzz`) and by the test that replays the checked-in corpus (`Tests/Fuzz/corpus/<name>/`).
    import Engram
    import EngramService
    import Foundation

    package enum FuzzTargets {
        /// Target names, as `make fuzz` and the corpus folders know them.
        package static let names = [
            "json", "memory-line", "request", "expressions", "vector-header", "slot-cache", "usage-log",
            "safetensors", "wordpiece", "full-text", "json-lines", "audit-chain",
        ]

        /// A scratch directory per process for the targets that read files, and a small vocabulary. A static
        /// `let`, so that it is made once even when the corpus test replays targets in parallel (a lazily
        /// filled `var` here was a data race that ThreadSanitizer reported).
        private static let scratch: URL = {
            let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
                "engram-fuzz-\(getpid())")
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let words = [
                "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "memory", "##s", "fix", "##ed", "a", "b", "##c",
                "é", "日",
            ]
            _ = FileManager.default.createFile(
                atPath: dir.appendingPathComponent("vocab.txt").path,
                contents: Data(words.joined(separator: "\n").utf8))
            return dir
        }()

        /// Runs one target on one input. A crash, a trap or a failed precondition is a finding; a thrown
        /// error (the input refused) is not.
        package static func run(_ name: String, _ bytes: [UInt8]) {
            let now = Date(timeIntervalSince1970: 1_780_000_000)
            switch name {
            case "json":
                // Parsed; and what parses prints as JSON that parses back to the same value.
                guard let value = try? JSONValue(parsing: bytes) else { return }
                precondition((try? JSONValue(parsing: value.jsonText)) == value, "JSON round trip")
            case "memory-line":
                // One import line (or remember body) into a new memory, then validated as remember would.
                guard let value = try? JSONValue(parsing: bytes),
                    let memory = try? MemoryJSON.newMemory(from: value, now: now)
                else { return }
                _ = try? Limits.validateText(memory.content, field: "content", required: true)
            case "request":
                // An HTTP / MCP request body, read as each typed request of the service.
                guard let body = try? JSONObject(parsing: Data(bytes)) else { return }
                _ = try? FilterParsing.filter(json: body.fields["filter"], now: now)
                _ = try? RankingParsing.options(body)
                _ = try? MemoryJSON.changes(from: body)
                _ = try? RememberRequest(json: body, now: now)
                _ = try? RecallRequest(json: body, now: now)
                _ = try? SearchRequest(json: body, now: now)
                _ = try? PromoteRequest(json: body)
                _ = try? WorkingSetRequest(namespace: "n", key: "k", json: body)
                _ = try? RequestJSON.forgetFilter(body, now: now)
            case "audit-chain":
                FuzzEntryPoints.auditChain(bytes)
            case "json-lines":
                // An import file: every line accepted is UTF-8 and JSON without a repeated name (its value
                // prints and parses back the same); a line holding bytes that are not UTF-8 is refused.
                let lines = Data(bytes).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                for (number, value) in JSONLines.values(Data(bytes)) {
                    let raw = lines[number - 1]
                    switch value {
                    case .success(let json):
                        precondition(
                            String(validating: raw, as: UTF8.self) != nil, "a line that is not UTF-8 was read"
                        )
                        precondition((try? JSONValue(parsing: json.jsonText)) == json, "JSON round trip")
                    case .failure(let error):
                        precondition(
                            error.code == .invalidArgument, "an import line failed with \(error.code)")
                    }
                }
            case "expressions":
                // The CLI's words: a metadata condition, times, TTLs, fusion, column weights, scope actions.
                let text = String(decoding: bytes, as: UTF8.self)
                _ = try? FilterParsing.condition(text)
                _ = try? TimeParsing.date(text, field: "--since", now: now)
                _ = try? TimeParsing.ttl(text, field: "--ttl")
                _ = TimeParsing.iso8601(text).map(TimeParsing.format)
                _ = try? RankingParsing.fusion(text, field: "--fusion")
                _ = try? RankingParsing.columns(text, field: "--columns")
                _ = try? ScopeParsing.actions(text, field: "--actions")
            case "vector-header": FuzzEntryPoints.vectorHeader(bytes)
            case "slot-cache": FuzzEntryPoints.slotCache(bytes, scratch: scratch)
            case "usage-log": FuzzEntryPoints.usageLog(bytes, scratch: scratch)
            case "safetensors": FuzzEntryPoints.safetensors(bytes, scratch: scratch)
            case "wordpiece":
                FuzzEntryPoints.wordPiece(bytes, vocabulary: scratch.appendingPathComponent("vocab.txt").path)
            case "full-text": FuzzEntryPoints.fullText(bytes, scratch: scratch)
            default: preconditionFailure("unknown fuzz target \(name)")
            }
        }
    }
#endif
