package import Engram
package import Foundation

/// JSON Lines input (`engram import`, eval query files), read the one way every reader shares.
package enum JSONLines {
    /// Each non-blank line of `data` with its number (from 1) and its JSON value, or the error that
    /// refuses it: a line that is not UTF-8 (never read with replacement characters, which would alter
    /// the data), not JSON, or an object repeating a name.
    package static func values(_ data: Data) -> [(line: Int, value: Result<JSONValue, EngramError>)] {
        var result: [(line: Int, value: Result<JSONValue, EngramError>)] = []
        for (index, raw) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated()
        {
            let value = Result { () throws(EngramError) -> JSONValue? in
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw EngramError.invalid("line", "is not valid UTF-8")
                }
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { return nil }
                do {
                    return try JSONValue(parsing: trimmed, field: "line")
                } catch let error as EngramError {
                    throw error
                } catch {
                    throw EngramError.invalid("line", "is not valid JSON")
                }
            }
            switch value {
            case .success(nil): continue
            case .success(let json?): result.append((index + 1, .success(json)))
            case .failure(let error): result.append((index + 1, .failure(error)))
            }
        }
        return result
    }
}
