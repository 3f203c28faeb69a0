@testable import Engram
import EngramTestSupport
import Testing

/// The pieces a keyword query is made of. Namespace terms are stored in every store's full-text index,
/// so their form is pinned to values computed outside Swift.
@Suite("Full-text terms")
struct FullTextTermTests {
    @Test("namespace terms keep their stored form (SHA-256 computed by Python's hashlib)")
    func namespaceTerms() {
        // python3 -c "import hashlib; print('ns%020d' % int(hashlib.sha256('tenant/7'.encode()).hexdigest()[:16], 16))"
        #expect(FullText.namespaceTerm("tenant/7") == "ns09237872047604381653")
        #expect(FullText.namespaceTerm("support/acme") == "ns04227752160182498189")
        #expect(FullText.namespaceTerm("\u{E9}/\u{FC}") == "ns01670693366834491271")
    }

    @Test("a phrase is quoted with its quotes doubled, so no query syntax leaks in")
    func phrases() {
        #expect(FullText.phrase("kilo") == "\"kilo\"")
        #expect(FullText.phrase("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(FullText.phrase("\"") == "\"\"\"\"")
        #expect(FullText.phrase("") == "\"\"")
        #expect(FullText.phrase("caf\u{E9} \u{1F600}") == "\"caf\u{E9} \u{1F600}\"")
    }

    @Test("words are runs of Unicode letters and digits; the ASCII shortcut agrees with the properties")
    func words() {
        for value in 0..<128 {
            let scalar = Unicode.Scalar(UInt8(value))
            let byProperties = scalar.properties.isAlphabetic || scalar.properties.numericType != nil
            #expect(Words.isWordScalar(scalar) == byProperties, "U+\(String(value, radix: 16))")
        }
        #expect(Words.split("Don't stop\u{2014}caf\u{E9} 42x, \u{4E2D}\u{6587}!") == ["Don", "t", "stop", "caf\u{E9}", "42x", "\u{4E2D}\u{6587}"])
        #expect(Words.split("") == [])
        #expect(Words.split(" -- ") == [])
    }

    @Test("the duplicate hash's ASCII shortcut normalises as Unicode normalisation, case folding and white-space collapsing do")
    func contentNormalisation() {
        var samples = ["", " ", "Hello  World", "\tA\r\nB\u{0B}c\u{0C}d ", "MiXeD 42 _-!", "\u{1C}x\u{1F}y\u{7F}"]
        // Every ASCII character between two letters and at either end.
        for value in 0..<128 {
            let c = String(UnicodeScalar(UInt8(value)))
            samples += ["a\(c)B", "\(c)Q", "q\(c)", "\(c)\(c)"]
        }
        var g = SeededGenerator(seed: 3)
        for _ in 0..<500 {
            samples.append(String((0..<Int(g.next() % 40)).map { _ in Character(UnicodeScalar(UInt8(g.next() % 128))) }))
        }
        for text in samples {
            #expect(ContentHash.normalizedUTF8(text) == Array(ContentHash.normalized(text).utf8), "\(Array(text.utf8))")
        }
        // Beyond ASCII: Unicode normalisation decides (composed and decomposed forms agree).
        #expect(ContentHash.normalizedUTF8("Cafe\u{301}  X") == Array("caf\u{E9} x".utf8))
        #expect(ContentHash.of(content: "Caf\u{E9}", cause: nil, outcome: nil) == ContentHash.of(content: "cafe\u{301}", cause: nil, outcome: nil))
    }
}
