/// Splits text into words the way SQLite FTS5's unicode61 tokenizer does: runs of letters and digits;
/// everything else separates. Shared by the keyword query and the hashing embedder, so both see the
/// same words.
enum Words {
    static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
