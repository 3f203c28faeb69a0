import Foundation

/// BERT's uncased tokenizer: clean control characters, space out CJK ideographs, strip accents (NFD,
/// drop nonspacing marks), lower-case, split on whitespace and punctuation, then greedy longest-match
/// WordPiece with `##` continuations. Matches Hugging Face's `BertNormalizer` + `BertPreTokenizer` +
/// `WordPiece` as configured for all-MiniLM-L6-v2.
struct WordPieceTokenizer: Sendable {
    let vocabulary: [String: Int32]
    let unknown: Int32
    let classToken: Int32
    let separator: Int32
    /// Words longer than this many characters become `[UNK]`.
    static let maxWordCharacters = 100

    /// Loads `vocab.txt`: one token per line, the line number is its id.
    init(vocabularyFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw EngramError(.notFound, "cannot read \(path)", field: "model")
        }
        var vocabulary: [String: Int32] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty && vocabulary[token] == nil { vocabulary[token] = Int32(i) }
        }
        guard let unk = vocabulary["[UNK]"], let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"]
        else {
            throw EngramError(.storageCorrupted, "\(path) lacks [UNK], [CLS] or [SEP]", field: "model")
        }
        self.vocabulary = vocabulary
        unknown = unk
        classToken = cls
        separator = sep
    }

    /// `[CLS] pieces... [SEP]`, at most `maxTokens` ids in all.
    func encode(_ text: String, maxTokens: Int) -> [Int32] {
        var ids: [Int32] = [classToken]
        let budget = maxTokens - 2
        let words =
            text.utf8.allSatisfy { $0 < 0x80 } ? Self.asciiWords(text) : Self.words(Self.normalize(text))
        outer: for word in words {
            for piece in wordPieces(word) {
                if ids.count - 1 >= budget { break outer }
                ids.append(piece)
            }
        }
        ids.append(separator)
        return ids
    }

    /// Clean, space out CJK, strip accents, lower-case.
    static func normalize(_ text: String) -> String {
        var cleaned = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if s.value == 0 || s.value == 0xFFFD || isControl(s) { continue }
            if isWhitespace(s) {
                cleaned.append(" ")
            } else if isCJK(s) {
                cleaned.append(" ")
                cleaned.append(s)
                cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
        }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
        var stripped = String.UnicodeScalarView()
        for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
            stripped.append(s)
        }
        return String(stripped).lowercased()
    }

    /// Whitespace-separated words, with every punctuation character a word of its own.
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty {
                words.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        for s in text.unicodeScalars {
            if isWhitespace(s) {
                flush()
            } else if isPunctuation(s) {
                flush()
                words.append(String(s))
            } else {
                current.append(s)
            }
        }
        flush()
        return words
    }

    /// `words(normalize(text))` for a text of ASCII characters only, in one pass over its bytes: in ASCII
    /// there is nothing to decompose or strip and no CJK, the controls are the C0 codes and DEL, and
    /// lower-casing is A-Z. Most texts an agent stores are ASCII, and the general path costs about as
    /// much as a layer of the encoder for a short sentence.
    static func asciiWords(_ text: String) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        func flush() {
            if !current.isEmpty {
                words.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
        }
        for byte in text.utf8 {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: flush()  // whitespace
            case 0x00..<0x20, 0x7F: continue  // other controls are dropped
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E:  // punctuation: a word of its own
                flush()
                words.append(String(UnicodeScalar(byte)))
            case 0x41...0x5A: current.append(byte + 0x20)  // A-Z
            default: current.append(byte)
            }
        }
        flush()
        return words
    }

    /// Greedy longest-match WordPiece; a word with an unmatchable part is a single `[UNK]`.
    func wordPieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > Self.maxWordCharacters { return [unknown] }
        var pieces: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var candidate = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { candidate = "##" + candidate }
                if let id = vocabulary[candidate] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}
