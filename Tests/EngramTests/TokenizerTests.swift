import EngramBenchSupport
import Testing

@testable import Engram

/// The tokenizer's ASCII path against its general path, which the golden fixtures check against the
/// reference tokenizer.
@Suite("WordPiece tokenizer")
struct TokenizerTests {
    @Test("ASCII texts split into the same words by the byte path as by normalize + words")
    func asciiPathMatchesGeneralPath() {
        var g = SeededGenerator(seed: 7)
        // Every ASCII code appears, letters and separators more often, so words, runs of punctuation,
        // controls inside words and empty texts all occur.
        let alphabet: [UInt8] =
            Array(0...127) + Array("aAzZ Hello, WORLD! it's 3.14 -- (x)\t\n\r".utf8)
            + Array(repeating: 0x20, count: 8)
        for _ in 0..<3000 {
            let length = Int(g.next() % 40)
            let bytes = (0..<length).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(
                WordPieceTokenizer.asciiWords(text)
                    == WordPieceTokenizer.words(WordPieceTokenizer.normalize(text)),
                "\(bytes)")
        }
        #expect(
            WordPieceTokenizer.asciiWords("Don't PANIC:\u{7}42\u{0B}x") == [
                "don", "'", "t", "panic", ":", "42x",
            ])
    }
}
