import Engram
import EngramBenchSupport
import EngramService
import Foundation
import Testing

@Suite("Wire formats")
struct WireFormatTests {
    @Test("times are written exactly as ISO8601DateFormatter writes them (50,000 seeded dates and the edges)")
    func timeFormatMatchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var g = SeededGenerator(seed: 11)
        var seconds: [Double] = [
            0, -0.0004, 0.0005, 0.0015, 0.0025, 1.9996, -1.9996, 951_782_400, 4_107_542_399.999,
        ]
        for _ in 0..<25_000 { seconds.append(Double(g.next() % 4_000_000_000_000) / 1000) }
        for _ in 0..<25_000 {
            seconds.append(Double(g.next() % 4_000_000_000) + Double(g.next() % 1_000_000) / 1e6)
        }
        var mismatches: [String] = []
        for t in seconds {
            let date = Date(timeIntervalSince1970: t)
            let expected = formatter.string(from: date)
            if TimeParsing.format(date) != expected {
                mismatches.append("\(t): \(TimeParsing.format(date)) vs \(expected)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        // Outside four-digit years (not storable, but a damaged row must print): all digits, no crash.
        #expect(
            TimeParsing.format(Date(timeIntervalSince1970: 253_402_300_800)) == "10000-01-01T00:00:00.000Z")
        #expect(TimeParsing.format(Date(timeIntervalSince1970: 69_239_404_800_000)).hasPrefix("2196079-"))
        #expect(TimeParsing.format(Date(timeIntervalSince1970: -62_198_755_200)).hasPrefix("-0001-"))
    }

    @Test(
        "the times format writes read back to the same millisecond, as ISO8601DateFormatter reads them from 1583"
    )
    func canonicalTimesReadBack() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var g = SeededGenerator(seed: 12)
        var mismatches: [String] = []
        for i in 0..<50_000 {
            // Whole milliseconds over years 1 to 9999 (what a store keeps), both sides of 1970.
            let milliseconds = Int64(g.next() % 315_537_897_600_000) - 62_135_596_800_000
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let text = TimeParsing.format(date)
            let read = TimeParsing.iso8601(text)
            if read != date {
                mismatches.append("\(i) \(text): read \(String(describing: read?.timeIntervalSince1970))")
            }
            // Foundation reads dates before the Gregorian calendar's adoption (1582) as Julian; `format`
            // writes the proleptic Gregorian calendar of ISO 8601, so only later ones can agree.
            if milliseconds >= -12_212_553_600_000, formatter.date(from: text) != read {
                mismatches.append(
                    "\(i) \(text): Foundation reads \(String(describing: formatter.date(from: text)))")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        for text in ["2026-13-01T00:00:00.000Z", "2026-01-01T24:00:00.000Z", "2026-01-01T00:00:00.000+", "x"]
        {
            #expect(TimeParsing.canonical(text) == nil)
        }
    }

    @Test("a share's fusion bounds header reads back what was written; anything else is refused")
    func fusionBoundsHeader() {
        for bounds in [
            FusionBounds(cosine: -0.25...0.875, keyword: 1.5...12.0625),
            FusionBounds(cosine: 0.5...0.5, keyword: nil), FusionBounds(cosine: nil, keyword: nil),
        ] {
            #expect(ClusterHeaders.bounds(ClusterHeaders.header(bounds)) == bounds)
        }
        for bad in ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "2,1,,", "1,,,", "nan,1,,", "1,inf,,"] {
            #expect(ClusterHeaders.bounds(bad) == nil, "\(bad)")
        }
    }

    @Test("a share's embedding header reads back the same floats, bit for bit; anything else is refused")
    func embeddingHeader() {
        let vector: [Float] = [
            0, -0.0, 1, -1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1, 3.25e-7,
        ]
        let back = ClusterHeaders.embedding(ClusterHeaders.header(vector))
        #expect(back?.map(\.bitPattern) == vector.map(\.bitPattern))
        for bad in [
            "", "not base64!", "AAA=", ClusterHeaders.header([.nan]), ClusterHeaders.header([.infinity]),
        ] {
            #expect(ClusterHeaders.embedding(bad) == nil, "\(bad)")
        }
    }

}
