package import Engram
package import Foundation

/// Typed reads of one JSON object's fields, each failure an ``EngramError`` naming the field by its
/// path (`filter.tags_any`), so every front end reports bad input the same way.
package struct JSONObject {
    package let fields: [String: JSONValue]
    /// The path of this object inside the request (`""` at the top, `"filter."` inside a filter).
    package let path: String

    /// The object in `value`, or an error naming `field` when it is something else.
    package init(_ value: JSONValue, field: String, path: String = "") throws {
        guard case .object(let fields) = value else {
            throw EngramError.invalid(field, "must be a JSON object")
        }
        self.fields = fields
        self.path = path
    }

    /// The same object with each other name's value under its field's name (`aliases`: other name, field),
    /// refusing an object that gives both.
    package func resolvingAliases(_ aliases: [(String, String)]) throws -> JSONObject {
        var fields = self.fields
        _ = try Self.resolveAliases(&fields, aliases, path: path)
        return JSONObject(fields: fields, path: path)
    }

    /// Moves each other name's value in `fields` to its field's name, refusing both at once; returns, for
    /// the fields given by another name, that name (field -> name), so that errors can say what was written.
    package static func resolveAliases(
        _ fields: inout [String: JSONValue], _ aliases: [(String, String)], path: String = ""
    ) throws -> [String: String] {
        var spelled: [String: String] = [:]
        for (alias, name) in aliases where fields[alias] != nil {
            if fields[name] != nil {
                throw EngramError.invalid(path + alias, "is given together with \(name)")
            }
            (fields[name], fields[alias], spelled[name]) = (fields[alias], nil, alias)
        }
        return spelled
    }

    private init(fields: [String: JSONValue], path: String) {
        self.fields = fields
        self.path = path
    }

    /// Parses a request body: a JSON object, or an error naming `field` (`body`).
    package init(parsing data: Data, field: String = "body") throws {
        try self.init(try JSONValue(parsing: data, field: field), field: field)
    }

    /// Refuses fields outside `known`, naming the first (alphabetically) so errors are stable.
    package func rejectUnknown(_ known: Set<String>) throws {
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw EngramError.invalid(path + unknown, "is not a known field")
        }
    }

    /// The field's value, nil when absent or JSON null.
    package subscript(_ name: String) -> JSONValue? {
        guard let v = fields[name], v != .null else { return nil }
        return v
    }

    package func string(_ name: String) throws -> String? {
        guard let v = self[name] else { return nil }
        guard let s = v.stringValue else { throw EngramError.invalid(path + name, "must be a string") }
        return s
    }

    package func bool(_ name: String) throws -> Bool? {
        guard let v = self[name] else { return nil }
        guard case .bool(let b) = v else { throw EngramError.invalid(path + name, "must be true or false") }
        return b
    }

    package func number(_ name: String) throws -> Double? {
        guard let v = self[name] else { return nil }
        guard let n = v.numberValue, n.isFinite else {
            throw EngramError.invalid(path + name, "must be a number")
        }
        return n
    }

    /// A whole number within Int's range.
    package func int(_ name: String) throws -> Int? {
        guard let n = try number(name) else { return nil }
        guard n == n.rounded(), abs(n) < 9e15 else {
            throw EngramError.invalid(path + name, "must be a whole number")
        }
        return Int(n)
    }

    package func strings(_ name: String) throws -> [String]? {
        guard let v = self[name] else { return nil }
        guard case .array(let items) = v else {
            throw EngramError.invalid(path + name, "must be an array of strings")
        }
        return try items.map { item in
            guard let s = item.stringValue else {
                throw EngramError.invalid(path + name, "must be an array of strings")
            }
            return s
        }
    }

    /// ISO 8601 text or seconds since 1970.
    package func date(_ name: String) throws -> Date? {
        guard let v = self[name] else { return nil }
        if let n = v.numberValue, n.isFinite { return Date(timeIntervalSince1970: n) }
        if let s = v.stringValue, let d = TimeParsing.iso8601(s) { return d }
        throw EngramError.invalid(path + name, "must be an ISO 8601 time or seconds since 1970")
    }

    /// A nested object, read with this object's path extended.
    package func object(_ name: String) throws -> JSONObject? {
        guard let v = self[name] else { return nil }
        return try JSONObject(v, field: path + name, path: path + name + ".")
    }
}
