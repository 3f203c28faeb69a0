package import Engram
package import Foundation

/// Errors and store reports in the JSON every front end prints.
package enum ErrorJSON {
    /// `{"error": {"code": "...", "message": "...", "field": "..."}}`; never memory contents, since
    /// ``EngramError`` messages never hold them.
    package static func object(code: String, message: String, field: String?) -> JSONValue {
        var e: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let field { e["field"] = .string(field) }
        return .object(["error": .object(e)])
    }

    /// The body for a library error.
    package static func object(_ error: EngramError) -> JSONValue {
        object(code: error.code.rawValue, message: error.message, field: error.field)
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
