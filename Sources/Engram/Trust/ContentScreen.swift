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
    public static func flags(_ texts: [String]) -> [String] {
        var found = Set<String>()
        for text in texts {
            if isInstructionLike(text) { found.insert(instructionLike) }
            if text.unicodeScalars.contains(where: isInvisible) { found.insert(invisibleUnicode) }
            if hasLongToken(text) { found.insert(longToken) }
        }
        return found.sorted()
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

    /// The patterns as bytes (all ASCII), indexed by their first byte. The text is searched as bytes with
    /// ASCII letters lower-cased and every run of whitespace made one space, in one pass: a write must not
    /// pay for Unicode case mapping and a `String` search per pattern (they made a 100k-memory import
    /// three times slower).
    private static let patternsByFirstByte: [[[UInt8]]] = {
        var table = [[[UInt8]]](repeating: [], count: 256)
        for pattern in instructionPatterns.map({ Array($0.utf8) }) { table[Int(pattern[0])].append(pattern) }
        return table
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
        let count = normalized.count
        return normalized.withUnsafeBufferPointer { text in
            for start in 0..<count {
                for pattern in patternsByFirstByte[Int(text[start])]
                where pattern.count <= count - start
                    && text[start..<(start + pattern.count)].elementsEqual(pattern)
                {
                    return true
                }
            }
            return false
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
