import Engram
package import Foundation

/// Dates and durations as people and agents write them: `7d`, `2026-11-01`, `2026-11-01T09:30:00Z`.
package enum TimeParsing {
    /// `7d`, `12h`, `30m`, `45s`, `2w` in seconds, or nil when the text is not a duration.
    package static func duration(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let n = Double(text.dropLast()), n.isFinite, n >= 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86_400
        case "w": return n * 604_800
        default: return nil
        }
    }

    /// A positive duration, or an error naming the field.
    package static func ttl(_ text: String, field: String) throws -> TimeInterval {
        guard let d = duration(text), d > 0 else {
            throw EngramError.invalid(field, "must be a duration like 90s, 30m, 12h, 7d or 2w")
        }
        return d
    }

    /// ISO 8601 (date, date-time, with or without fractional seconds) or an age before `now`.
    package static func date(_ text: String, field: String, now: Date) throws -> Date {
        if let age = duration(text) { return now.addingTimeInterval(-age) }
        if let d = iso8601(text) { return d }
        throw EngramError.invalid(
            field, "must be ISO 8601 (2026-11-01 or 2026-11-01T09:30:00Z) or an age like 7d")
    }

    package static func iso8601(_ text: String) -> Date? {
        if let date = canonical(text) { return date }
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withInternetDateTime]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withFullDate]
        return full.date(from: text)
    }

    /// The time ``format(_:)`` writes (`2026-11-30T09:40:59.007Z`, four-digit year), read by hand: every
    /// stored memory read back (a cluster node's copy, another node's hit) has four, and building an
    /// `ISO8601DateFormatter` costs about 0.1 ms on Linux. Nil for any other form.
    package static func canonical(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
            b[19] == 0x2E, b[23] == 0x5A
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var n: Int64 = 0
            for i in from..<from + count {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                n = n * 10 + Int64(b[i] - 0x30)
            }
            return n
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let millisecond = number(20, 3),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        // Days since 1970-01-01 from the civil date (Howard Hinnant's days-from-civil algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let milliseconds = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millisecond
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// ISO 8601 with milliseconds, UTC (`2026-11-30T09:40:59.007Z`): the text `ISO8601DateFormatter`
    /// writes with fractional seconds, milliseconds rounded as it rounds them, computed by hand because
    /// building that formatter costs about 0.1 ms on Linux and every memory in a response has four dates.
    package static func format(_ date: Date) -> String {
        let milliseconds = ((date.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down)
        guard milliseconds.isFinite, abs(milliseconds) < 1e17 else { return "0000-01-01T00:00:00.000Z" }
        let total = Int64(milliseconds)
        let dayMilliseconds: Int64 = 86_400_000
        var days = total >= 0 ? total / dayMilliseconds : (total - dayMilliseconds + 1) / dayMilliseconds
        let ofDay = total - days * dayMilliseconds
        // Civil date from days since 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var out = ""
        out.reserveCapacity(24)
        func append(_ value: Int64, width: Int) {
            // Zero-padded to `width`; a year past 9999 or before 0 keeps all its digits and its sign (the
            // store refuses such dates, but a damaged or older row must still print, not crash).
            if value < 0 { out.append("-") }
            let digits = String(value.magnitude)
            if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
            out += digits
        }
        append(year, width: 4)
        out.append("-")
        append(month, width: 2)
        out.append("-")
        append(day, width: 2)
        out.append("T")
        append(ofDay / 3_600_000, width: 2)
        out.append(":")
        append(ofDay / 60_000 % 60, width: 2)
        out.append(":")
        append(ofDay / 1000 % 60, width: 2)
        out.append(".")
        append(ofDay % 1000, width: 3)
        out.append("Z")
        return out
    }
}
