package import Engram
package import Foundation

/// Errors and store reports in the JSON every front end prints.
package enum ErrorJSON {
    /// `{"error": {"code": "...", "message": "...", "field": "..."}}`; never memory contents, since
    /// ``EngramError`` messages never hold them.
    package static func object(_ error: EngramError) -> JSONValue {
        var e: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
        if let field = error.field { e["field"] = .string(field) }
        return .object(["error": .object(e)])
    }
}

/// Store statistics as JSON (snake_case keys, sorted).
package enum StatsJSON {
    package static func data(_ stats: StoreStats, pretty: Bool) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return try encoder.encode(stats)
    }
}
