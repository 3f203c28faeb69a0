package import Engram
package import Foundation

/// Filters from the command line's words and from JSON request bodies, built one way.
///
/// The JSON shape (every field optional, all ANDed):
/// `{"namespace": "acme/support"}` (a trailing `/` means the namespace and everything below it, as on
/// the command line) or `{"namespace_prefix": "acme"}`, `"agents": [..]`, `"kinds": [..]`,
/// `"tags_any": [..]` or `"tags_all": [..]`, `"since"` / `"until"` (ISO 8601, seconds since 1970 or an
/// age like `7d`), `"succeeded": true|false`, `"include_expired": true`, and `"metadata"`: an object
/// whose values are a JSON value to equal, or `{"in": [..]}`, or `{"gte": n, "lte": n}`.
package enum FilterParsing {
    /// The fields a filter object may hold (``WireSchema``).
    package static var jsonFields: Set<String> { WireSchema.filterFieldNames }

    /// `acme/support` for exactly that namespace, `acme/` for it and everything below.
    package static func namespace(_ text: String) -> MemoryFilter.NamespaceMatch {
        text.hasSuffix("/") ? .prefix(String(text.dropLast())) : .exact(text)
    }

    /// A filter from a JSON object (nil or absent: every unexpired memory).
    package static func filter(json value: JSONValue?, field: String = "filter", now: Date) throws
        -> MemoryFilter
    {
        guard let value, value != .null else { return .all }
        let o = try JSONObject(value, field: field, path: field + ".").resolvingAliases(
            WireSchema.filterAliases)
        try o.rejectUnknown(jsonFields)
        var f = MemoryFilter(includeExpired: try o.bool("include_expired") ?? false)
        let exact = try o.string("namespace")
        let prefix = try o.string("namespace_prefix")
        if exact != nil && prefix != nil {
            throw EngramError.invalid(field + ".namespace_prefix", "is given together with namespace")
        }
        if let exact { f.namespace = namespace(exact) }
        if let prefix { f.namespace = .prefix(prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) }
        f.agents = try o.strings("agents")
        f.kinds = try o.strings("kinds")?.map(MemoryKind.init(rawValue:))
        let any = try o.strings("tags_any")
        let all = try o.strings("tags_all")
        if any != nil && all != nil {
            throw EngramError.invalid(field + ".tags_all", "is given together with tags_any")
        }
        f.tags = any.map(MemoryFilter.TagMatch.any) ?? all.map(MemoryFilter.TagMatch.all)
        f.createdAfter = try time(o, "since", now: now)
        f.createdBefore = try time(o, "until", now: now)
        f.succeeded = try o.bool("succeeded")
        if let level = try o.string("min_trust") {
            f.minTrust = try TrustLevel(name: level, field: field + ".min_trust")
        }
        f.includeQuarantined = try o.bool("include_quarantined") ?? false
        let asOf = try time(o, "as_of", now: now)
        if try o.bool("any_time") == true {
            if asOf != nil { throw EngramError.invalid(field + ".any_time", "is given together with as_of") }
            f.validity = .any
        } else if let asOf {
            f.validity = .asOf(asOf)
        }
        if let metadata = try o.object("metadata") {
            f.metadata = try metadata.fields.keys.sorted().map { key in
                try condition(key: key, metadata.fields[key] ?? .null, field: metadata.path + key)
            }
        }
        return f
    }

    /// A time as seconds since 1970, ISO 8601 text or an age (`7d`) before `now`.
    private static func time(_ o: JSONObject, _ name: String, now: Date) throws -> Date? {
        guard let v = o[name] else { return nil }
        if let n = v.numberValue, n.isFinite { return Date(timeIntervalSince1970: n) }
        guard let s = v.stringValue else {
            throw EngramError.invalid(
                o.path + name, "must be ISO 8601 text, seconds since 1970 or an age like 7d")
        }
        return try TimeParsing.date(s, field: o.path + name, now: now)
    }

    /// One metadata condition: a value to equal, `{"in": [..]}` or `{"gte": n, "lte": n}`.
    private static func condition(key: String, _ value: JSONValue, field: String) throws
        -> MemoryFilter.MetadataCondition
    {
        guard case .object(let ops) = value else { return .equals(key, value) }
        let o = try JSONObject(value, field: field, path: field + ".")
        try o.rejectUnknown(["eq", "in", "gte", "lte"])
        guard ops.count == 1 || (ops.count == 2 && ops["gte"] != nil && ops["lte"] != nil) else {
            throw EngramError.invalid(field, "must use one of eq, in, or gte and lte together")
        }
        if let eq = ops["eq"] { return .equals(key, eq) }
        if let list = ops["in"] {
            guard case .array(let values) = list, !values.isEmpty else {
                throw EngramError.invalid(field + ".in", "must be a non-empty array")
            }
            return .isIn(key, values)
        }
        return .range(key, min: try o.number("gte"), max: try o.number("lte"))
    }

    /// Parses the command line's `meta.key=value`, `meta.key>=n`, `meta.key<=n`, `meta.key=a|b`.
    package static func condition(_ text: String, field: String = "--where") throws
        -> MemoryFilter.MetadataCondition
    {
        guard text.hasPrefix("meta.") else {
            throw EngramError.invalid(field, "must start with 'meta.' (e.g. meta.customer=acme)")
        }
        let body = text.dropFirst("meta.".count)
        for op in [">=", "<="] {
            if let r = body.range(of: op) {
                let key = String(body[..<r.lowerBound])
                guard let n = Double(body[r.upperBound...]), n.isFinite else {
                    throw EngramError.invalid(field, "\(op) needs a number")
                }
                return .range(key, min: op == ">=" ? n : nil, max: op == "<=" ? n : nil)
            }
        }
        guard let eq = body.firstIndex(of: "=") else {
            throw EngramError.invalid(field, "must look like meta.KEY=VALUE")
        }
        let key = String(body[..<eq])
        let value = String(body[body.index(after: eq)...])
        let parts = value.split(separator: "|", omittingEmptySubsequences: false).map {
            JSONValue.literal(String($0))
        }
        return parts.count > 1 ? .isIn(key, parts) : .equals(key, parts[0])
    }
}

extension JSONValue {
    /// A command-line value: JSON when it parses as a number, boolean, null or quoted string; else a string.
    package static func literal(_ text: String) -> JSONValue {
        if let v = try? JSONValue(parsing: text) {
            switch v {
            case .number, .bool, .null, .string: return v
            default: break
            }
        }
        return .string(text)
    }
}
