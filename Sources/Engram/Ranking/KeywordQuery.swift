/// The words of a keyword query, as the full-text index sees them.
///
/// Text is split like FTS5's unicode61 tokenizer (runs of letters and digits, lower-cased), and common
/// English function words are dropped: a question such as "When did Caroline go to the support
/// group?" matches on *Caroline*, *support* and *group*, not on every memory that says "the". BM25's
/// inverse document frequency already discounts such words, but each still adds a little to every
/// memory containing it, which on real conversations costs several points of recall (measured on the
/// LoCoMo dev split: recall@10 0.579 with them, 0.621 without). When every word is a stop word
/// ("who are you"), they are all kept.
enum KeywordQuery {
    /// The distinct search terms of `text`, in order.
    static func terms(_ text: String) -> [String] {
        let words = Words.split(text.lowercased())
        var distinct: [String] = []
        if words.count <= 32 {  // a typical query: a linear scan beats hashing
            for word in words where !distinct.contains(word) { distinct.append(word) }
        } else {
            var seen = Set<String>()
            distinct = words.filter { seen.insert($0).inserted }
        }
        let content = distinct.filter { !stopWords.contains($0) }
        return content.isEmpty ? distinct : content
    }

    /// English function words (pronouns, auxiliaries, articles, prepositions, conjunctions, question
    /// words) and the pieces unicode61 leaves of contractions ("don't" -> "don", "t").
    static let stopWords: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as",
        "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
        "d", "did", "do", "does", "doing", "don", "down", "during", "each", "few", "for", "from", "further",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
        "how",
        "i", "if", "in", "into", "is", "it", "its", "itself", "just", "ll", "m", "me", "more", "most", "my",
        "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
        "ourselves", "out", "over", "own", "re", "s", "same", "she", "should", "so", "some", "such", "t",
        "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was", "we", "were",
        "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
        "your", "yours", "yourself", "yourselves",
    ]
}
