/// Splits text into words the way SQLite FTS5's unicode61 tokenizer does: runs of letters and digits;
/// everything else separates. Shared by the keyword query and the hashing embedder, so both see the
/// same words.
enum Words {
    static func split(_ text: String) -> [String] {
        if let words = text.utf8.withContiguousStorageIfAvailable(splitASCII), let words { return words }
        var words: [String] = []
        let scalars = text.unicodeScalars
        var start: String.UnicodeScalarView.Index?
        var i = scalars.startIndex
        while i < scalars.endIndex {
            if isWordScalar(scalars[i]) {
                if start == nil { start = i }
            } else if let s = start {
                words.append(String(scalars[s..<i]))
                start = nil
            }
            i = scalars.index(after: i)
        }
        if let s = start { words.append(String(scalars[s..<scalars.endIndex])) }
        return words
    }

    /// ``split(_:)`` of ASCII text, by bytes; nil when the text holds anything else.
    private static func splitASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> [String]? {
        var words: [String] = []
        var start = -1
        for i in 0..<bytes.count {
            let byte = bytes[i]
            guard byte < 0x80 else { return nil }
            if isWordScalar(Unicode.Scalar(byte)) {
                if start < 0 { start = i }
            } else if start >= 0 {
                words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
                start = -1
            }
        }
        if start >= 0 {
            words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self))
        }
        return words
    }

    /// A letter or a digit of any script; ASCII without Unicode property lookups.
    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value | 0x20  // ASCII upper case to lower case; digits keep their value
            return (0x30...0x39).contains(s.value) || (0x61...0x7A).contains(v)
        }
        return s.properties.isAlphabetic || s.properties.numericType != nil
    }
}
