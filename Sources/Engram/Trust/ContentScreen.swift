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

    static func isInstructionLike(_ text: String) -> Bool {
        let normalized = text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if instructionPatterns.contains(where: normalized.contains) { return true }
        for line in text.lowercased().split(whereSeparator: \.isNewline) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if rolePrefixes.contains(where: trimmed.hasPrefix) { return true }
        }
        return false
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
