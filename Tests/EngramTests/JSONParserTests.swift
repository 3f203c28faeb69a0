import Engram
import EngramTestSupport
import Foundation
import Testing

/// The hand-written JSON parser against Foundation's `JSONDecoder` as the oracle.
@Suite("JSON parsing")
struct JSONParserTests {
    static func foundation(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static func random(_ g: inout SeededGenerator, depth: Int) -> JSONValue {
        switch g.next() % (depth > 4 ? 4 : 7) {
        case 0: return .null
        case 1: return .bool(g.next() % 2 == 0)
        case 2:
            let pick = g.next() % 4
            if pick == 0 { return .number(Double(Int64(bitPattern: g.next()) % 1_000_000)) }
            if pick == 1 { return .number(g.gaussian() * pow(10, Double(Int(g.next() % 40)) - 20)) }
            return .number(Double(Float(g.gaussian())))
        case 3:
            let alphabet: [Character] = [
                "a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "é", "漢", "🙂", "\u{7F}", "\u{2028}",
            ]
            return .string(
                String((0..<Int(g.next() % 12)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
            )
        case 4, 5:
            return .array((0..<Int(g.next() % 5)).map { _ in random(&g, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for i in 0..<Int(g.next() % 5) {
                o["k\(i)\(g.next() % 3 == 0 ? "é\"" : "")"] = random(&g, depth: depth + 1)
            }
            return .object(o)
        }
    }

    @Test("3,000 random documents parse to what JSONDecoder gives, compact and pretty-printed")
    func matchesFoundation() throws {
        var g = SeededGenerator(seed: 31)
        for _ in 0..<3000 {
            let value = Self.random(&g, depth: 0)
            let compact = value.jsonText
            #expect(try JSONValue(parsing: compact) == Self.foundation(compact), "\(compact)")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted]
            let pretty = String(decoding: try encoder.encode(value), as: UTF8.self)
            #expect(try JSONValue(parsing: pretty) == Self.foundation(pretty), "\(pretty)")
        }
    }

    @Test("escapes and numbers read as JSONDecoder reads them")
    func edgeCases() throws {
        for text in [
            #""\u00e9\ud83d\ude42\/\b\f\n\r\t\"\\""#, "-0", "0.5e-3", "1E+2",
            "123456789012345678901234567890", "-1.5e308",
            "5e-324", " [ 1 , 2 ] ", "\"\u{7F}\"", "[]", "{}",  // a repeated name: see repeatedNames()
        ] {
            #expect(try JSONValue(parsing: text) == Self.foundation(text), "\(text)")
        }
    }

    @Test(
        "text that breaks RFC 8259 is rejected (stricter than JSONDecoder on Linux, which allows trailing commas)"
    )
    func rejects() {
        let bad = [
            "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "1e", "+1", "--1", "tru", "nul", "\"abc",
            "\"\\x\"",
            "\"\u{1}\"", "[1 2]", "{\"a\" 1}", "{a:1}", "1 2", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u12\"",
            "NaN",
            "Infinity", "[", "]", "{\"a\":}", "\"\\ud83d\\u0041\"",
        ]
        for text in bad {
            #expect(throws: EngramError.self, "\(text)") { try JSONValue(parsing: text) }
        }
        #expect(throws: EngramError.self) { try JSONValue(parsing: Array([0x22, 0xFF, 0x22] as [UInt8])) }
        #expect(throws: EngramError.self) { try JSONValue(parsing: "1e999") }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: EngramError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try JSONValue(parsing: fine) }
    }

    @Test(
        "an object that repeats a name is refused with the name, at any depth; equal names in sibling objects are fine"
    )
    func repeatedNames() throws {
        for (text, name) in [
            (#"{"a": 1, "a": 1}"#, "a"), (#"{"a": 1, "b": {"c": 2, "c": 3}}"#, "c"),
            (#"[{"x": 1}, {"y": [{"z": 1, "z": null}]}]"#, "z"), (#"{"\u0061": 1, "a": 2}"#, "a"),
        ] {
            #expect(throws: EngramError.invalid(name, "appears twice in one JSON object"), "\(text)") {
                try JSONValue(parsing: text)
            }
        }
        #expect(try JSONValue(parsing: #"[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]"#) != .null)
    }

    @Test(
        "2,000 seeded byte mutations of valid JSON: what this parser accepts, JSONDecoder accepts with the same value"
    )
    func mutations() throws {
        var g = SeededGenerator(seed: 77)
        var disagreements: [String] = []
        for _ in 0..<2000 {
            var bytes = Array(Self.random(&g, depth: 0).jsonText.utf8)
            for _ in 0..<Int(1 + g.next() % 3) where !bytes.isEmpty {
                let at = Int(g.next() % UInt64(bytes.count))
                let glyphs: [UInt8] = Array("{}[]\",:0123456789.-eE+ \\tnfu".utf8)
                switch g.next() % 3 {
                case 0: bytes.remove(at: at)
                case 1: bytes.insert(glyphs[Int(g.next() % UInt64(glyphs.count))], at: at)
                default: bytes[at] = glyphs[Int(g.next() % UInt64(glyphs.count))]
                }
            }
            let ours = try? JSONValue(parsing: bytes)
            let theirs = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            if let ours, ours != theirs { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
            if theirs == nil, ours != nil { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }
}
