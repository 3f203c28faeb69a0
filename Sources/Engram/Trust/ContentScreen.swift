/// Flags text that reads as instructions to a model rather than as a record of what happened: the
/// shape planted memories take (OWASP ASI06, MINJA, AgentPoison). No model is called; the checks are
/// patterns, so they flag, and the ``QuarantinePolicy`` decides what a flag costs a memory by its trust.
public enum ContentScreen {
    /// Role markers, "ignore previous instructions" and its kin, or tool-call syntax.
    public static let instructionLike = "instruction-like"
    /// Characters that render as nothing (zero-width, bidirectional controls, Unicode tags), which hide
    /// text from the people who read a memory but not from the model.
    public static let invisibleUnicode = "invisible-unicode"
    /// A run of more than ``longTokenBytes`` bytes without a space: encoded payloads, smuggled prompts.
    public static let longToken = "long-token"

    /// The longest run without whitespace that passes unflagged.
    public static let longTokenBytes = 200

    /// The flags each text earns, sorted, without duplicates.
    /// - Complexity: one pass over each text's bytes (and its scalars, when it has non-ASCII ones).
    public static func flags(_ texts: [String]) -> [String] {
        var (instruction, invisible, long) = (false, false, false)
        for text in texts {
            instruction = instruction || isInstructionLike(text)
            long = long || hasLongToken(text)
            // Every invisible character is non-ASCII: ASCII text skips the scalar walk.
            invisible =
                invisible
                || (!text.utf8.allSatisfy { $0 < 0x80 } && text.unicodeScalars.contains(where: isInvisible))
        }
        var found: [String] = []
        if instruction { found.append(instructionLike) }
        if invisible { found.append(invisibleUnicode) }
        if long { found.append(longToken) }
        return found
    }

    /// Phrases and markers matched against the lower-cased text with runs of whitespace made one space.
    static let instructionPatterns: [String] = [
        // Overrides of what the model was told.
        "ignore previous instructions", "ignore all previous", "ignore the previous",
        "ignore prior instructions",
        "ignore your instructions", "ignore the above", "ignore all above", "disregard previous",
        "disregard all previous", "disregard the above", "disregard prior", "disregard your instructions",
        "forget your instructions", "forget all previous", "override your instructions",
        "new instructions:", "you are now", "from now on you", "do not tell the user",
        "system prompt", "jailbreak",
        // Role markers of chat templates.
        "<|im_start|>", "<|im_end|>", "<|system|>", "<|assistant|>", "<|user|>", "[inst]", "[/inst]",
        "<<sys>>", "<system>", "</system>", "### instruction", "### system",
        // Tool-call syntax.
        "<tool_call>", "<function_call>", "<function=", "\"tool_calls\"", "\"function_call\"",
        "<invoke name=", "```tool",
    ]

    /// Line-leading role labels (`system: ...`, `assistant: ...`).
    static let rolePrefixes = ["system:", "assistant:", "developer:"]

    /// The patterns' bytes (all ASCII) end to end, sorted by first byte, and for each first byte the range
    /// of patterns starting with it. The text is searched as bytes with ASCII letters lower-cased and every
    /// run of whitespace made one space, in one pass without a retain or an allocation per position: a
    /// write must not pay for Unicode case mapping and a `String` search per pattern (they made a 100k
    /// import three times slower).
    private static let patterns: (bytes: [UInt8], ends: [Int], byFirstByte: [Range<Int>]) = {
        let sorted = instructionPatterns.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var byFirstByte = [Range<Int>](repeating: 0..<0, count: 256)
        for (i, pattern) in sorted.enumerated() {
            bytes += pattern
            ends.append(bytes.count)
            let first = Int(pattern[0])
            byFirstByte[first] =
                byFirstByte[first].isEmpty ? i..<(i + 1) : byFirstByte[first].lowerBound..<(i + 1)
        }
        return (bytes, ends, byFirstByte)
    }()
    private static let rolePrefixBytes = rolePrefixes.map { Array($0.utf8) }

    static func isInstructionLike(_ text: String) -> Bool {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(text.utf8.count)
        var atLineStart = true
        var lineStart = 0
        for byte in text.utf8 {
            if byte == 0x0A || byte == 0x0D { atLineStart = true }
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                if normalized.last != 0x20 { normalized.append(0x20) }
                continue
            }
            if atLineStart {
                atLineStart = false
                lineStart = normalized.count
            }
            let lower = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
            normalized.append(lower)
            // A role label opening a line (`system:`), checked when its colon arrives.
            if lower == 0x3A, normalized.count - lineStart <= 16 {
                let label = normalized[lineStart...]
                if rolePrefixBytes.contains(where: { label.elementsEqual($0) }) { return true }
            }
        }
        let table = patterns
        return normalized.withUnsafeBufferPointer { text in
            table.bytes.withUnsafeBufferPointer { bytes in
                table.ends.withUnsafeBufferPointer { ends in
                    table.byFirstByte.withUnsafeBufferPointer { byFirstByte in
                        for start in 0..<text.count {
                            for p in byFirstByte[Int(text[start])] {
                                let from = p == 0 ? 0 : ends[p - 1]
                                let length = ends[p] - from
                                guard length <= text.count - start else { continue }
                                var i = 1
                                while i < length && text[start + i] == bytes[from + i] { i += 1 }
                                if i == length { return true }
                            }
                        }
                        return false
                    }
                }
            }
        }
    }

    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2064, 0x2066...0x2069, 0xFEFF, 0x00AD,
            0xE0000...0xE007F:
            return true
        default:
            return false
        }
    }

    static func hasLongToken(_ text: String) -> Bool {
        var run = 0
        for byte in text.utf8 {
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                run = 0
            } else {
                run += 1
                if run > longTokenBytes { return true }
            }
        }
        return false
    }
}
