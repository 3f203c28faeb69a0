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
}
