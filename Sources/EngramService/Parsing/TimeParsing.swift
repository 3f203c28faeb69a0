package import Foundation
import Engram

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
        throw EngramError.invalid(field, "must be ISO 8601 (2026-11-01 or 2026-11-01T09:30:00Z) or an age like 7d")
    }

    package static func iso8601(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withInternetDateTime]
        if let d = full.date(from: text) { return d }
        full.formatOptions = [.withFullDate]
        return full.date(from: text)
    }

    /// ISO 8601 with milliseconds, UTC.
    package static func format(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
