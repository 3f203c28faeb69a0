import EngramTestSupport
import Testing

@testable import Engram

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
        #expect(
            Words.split("Don't stop\u{2014}caf\u{E9} 42x, \u{4E2D}\u{6587}!") == [
                "Don", "t", "stop", "caf\u{E9}", "42x", "\u{4E2D}\u{6587}",
            ])
        #expect(Words.split("") == [])
        #expect(Words.split(" -- ") == [])
        // ASCII text (split by bytes) against a split by Unicode properties written here.
        func reference(_ text: String) -> [String] {
            var words: [String] = [], current = ""
            for scalar in text.unicodeScalars {
                if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                    current.unicodeScalars.append(scalar)
                } else if !current.isEmpty {
                    words.append(current)
                    current = ""
                }
            }
            return current.isEmpty ? words : words + [current]
        }
        var g = SeededGenerator(seed: 11)
        for _ in 0..<2_000 {
            let text = String(
                (0..<Int(g.next() % 30)).map { _ in Character(UnicodeScalar(UInt8(g.next() % 128))) })
            #expect(Words.split(text) == reference(text), "\(Array(text.utf8))")
        }
    }

    @Test("namespaces: the ASCII shortcut accepts exactly what the rules accept")
    func namespaces() {
        // The rules, written here: segments split by '/', none empty, '.' or '..', each of letters,
        // digits and . _ - @ :
        func valid(_ ns: String) -> Bool {
            let segments = ns.split(separator: "/", omittingEmptySubsequences: false)
            return !ns.isEmpty
                && segments.allSatisfy { s in
                    !s.isEmpty && s != "." && s != ".."
                        && s.unicodeScalars.allSatisfy {
                            $0.properties.isAlphabetic || $0.properties.numericType != nil
                                || "._-@:".unicodeScalars.contains($0)
                        }
                }
        }
        var samples = [
            "a", "a/b", "/a", "a/", "a//b", ".", "..", "...", "a/./b", "a/../b", ".a", "a.", "x@y:z_1-2",
            "a b", "caf\u{E9}/x",
        ]
        let alphabet = Array("ab9./-_@: #\u{E9}")
        var g = SeededGenerator(seed: 12)
        for _ in 0..<3_000 {
            samples.append(
                String(
                    (0..<(1 + Int(g.next() % 8))).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))]
                    }))
        }
        for ns in samples {
            #expect(((try? Limits.validateNamespace(ns)) != nil) == valid(ns), "\(ns)")
        }
    }

    @Test(
        "the duplicate hash's ASCII shortcut normalises as Unicode normalisation, case folding and white-space collapsing do"
    )
    func contentNormalisation() {
        var samples = [
            "", " ", "Hello  World", "\tA\r\nB\u{0B}c\u{0C}d ", "MiXeD 42 _-!", "\u{1C}x\u{1F}y\u{7F}",
        ]
        // Every ASCII character between two letters and at either end.
        for value in 0..<128 {
            let c = String(UnicodeScalar(UInt8(value)))
            samples += ["a\(c)B", "\(c)Q", "q\(c)", "\(c)\(c)"]
        }
        var g = SeededGenerator(seed: 3)
        for _ in 0..<500 {
            samples.append(
                String((0..<Int(g.next() % 40)).map { _ in Character(UnicodeScalar(UInt8(g.next() % 128))) }))
        }
        for text in samples {
            #expect(
                ContentHash.normalizedUTF8(text) == Array(ContentHash.normalized(text).utf8),
                "\(Array(text.utf8))")
        }
        // Beyond ASCII: Unicode normalisation decides (composed and decomposed forms agree).
        #expect(ContentHash.normalizedUTF8("Cafe\u{301}  X") == Array("caf\u{E9} x".utf8))
        #expect(
            ContentHash.of(content: "Caf\u{E9}", cause: nil, outcome: nil)
                == ContentHash.of(content: "cafe\u{301}", cause: nil, outcome: nil))
    }
}
