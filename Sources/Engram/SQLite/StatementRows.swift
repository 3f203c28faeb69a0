internal import GRDB
internal import GRDBSQLite

/// The current row of a statement stepped through SQLite's C API, read column by column.
///
/// For the statements of every recall (the keyword match, the memories of the hits): a GRDB `Row` cursor
/// builds a table of column names on each execution and converts each value through its generic
/// protocols, together a tenth of a keyword recall inside a small namespace.
struct StatementColumns {
    fileprivate let handle: OpaquePointer

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }

    /// The column's text (empty for NULL); its UTF-8 is repaired, never trusted.
    func string(_ column: Int32) -> String {
        withUTF8(column) { String(decoding: $0, as: UTF8.self) }
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }

    /// The column's text as UTF-8 bytes, valid only inside `body`.
    func withUTF8<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        // sqlite3_column_text first: it may convert the value, and sqlite3_column_bytes then measures it.
        let text = sqlite3_column_text(handle, column)
        return try body(
            UnsafeBufferPointer(
                start: text, count: text == nil ? 0 : Int(sqlite3_column_bytes(handle, column))))
    }
}

extension Statement {
    /// Binds `arguments` and calls `body` on each row until it returns false or the rows run out; the
    /// statement is reset afterwards, so a later execution starts afresh.
    func forEachRow(arguments: StatementArguments, _ body: (StatementColumns) throws -> Bool) throws {
        try setArguments(arguments)
        let handle = sqliteStatement
        defer { sqlite3_reset(handle) }
        let columns = StatementColumns(handle: handle)
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))),
                    sql: sql)
            }
            if try !body(columns) { return }
        }
    }
}

/// A statement's parameters bound in order through SQLite's C API.
///
/// For the row inserts of a remember or an import: GRDB's `StatementArguments` boxes each value in an
/// existential and converts it through `DatabaseValue`, which was most of the time a bulk import spent
/// inserting its rows.
struct StatementParameters {
    fileprivate let handle: OpaquePointer
    fileprivate var next: Int32 = 1
    fileprivate var failure: Int32 = SQLITE_OK

    fileprivate init(handle: OpaquePointer) { self.handle = handle }

    private mutating func check(_ code: Int32) {
        if code != SQLITE_OK && failure == SQLITE_OK { failure = code }
        next += 1
    }

    mutating func add(_ value: String?) {
        guard var value else { return check(sqlite3_bind_null(handle, next)) }
        // SQLite copies the text (SQLITE_TRANSIENT). Empty text needs a non-null pointer: null binds NULL.
        let code = value.withUTF8 { utf8 in
            guard let start = utf8.baseAddress, !utf8.isEmpty else {
                return sqlite3_bind_text(handle, next, "", 0, Self.transient)
            }
            return sqlite3_bind_text64(
                handle, next, start, sqlite3_uint64(utf8.count), Self.transient, UInt8(SQLITE_UTF8))
        }
        check(code)
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func add(_ value: Int64?) {
        guard let value else { return check(sqlite3_bind_null(handle, next)) }
        check(sqlite3_bind_int64(handle, next, value))
    }

    mutating func add(_ value: Int?) { add(value.map(Int64.init)) }
    mutating func add(_ value: Bool?) { add(value.map { Int64($0 ? 1 : 0) }) }

    mutating func add(_ value: Double?) {
        guard let value else { return check(sqlite3_bind_null(handle, next)) }
        check(sqlite3_bind_double(handle, next, value))
    }
}

extension Statement {
    /// Binds every parameter with `bind` (all of them, in order) and runs the statement to its end.
    func execute(binding bind: (inout StatementParameters) -> Void) throws {
        let handle = sqliteStatement
        defer { sqlite3_reset(handle) }
        var parameters = StatementParameters(handle: handle)
        bind(&parameters)
        let count = sqlite3_bind_parameter_count(handle)
        guard parameters.failure == SQLITE_OK, parameters.next == count + 1 else {
            throw DatabaseError(
                resultCode: parameters.failure == SQLITE_OK
                    ? .SQLITE_RANGE : ResultCode(rawValue: parameters.failure),
                message: "bound \(parameters.next - 1) of \(count) parameters", sql: sql)
        }
        var code = sqlite3_step(handle)
        while code == SQLITE_ROW { code = sqlite3_step(handle) }
        guard code == SQLITE_DONE else {
            let db = sqlite3_db_handle(handle)
            throw DatabaseError(
                resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db)),
                message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
    }
}
