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
