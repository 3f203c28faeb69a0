/// An error thrown by Engram.
///
/// `EngramError` is a struct with an extensible ``Code`` rather than an enum, so that new codes can be
/// added without breaking a client's exhaustive `switch`. Match it by code:
///
/// ```swift
/// do { try store.forget(id) }
/// catch EngramError.notFound { ... }
/// ```
///
/// Messages never contain memory contents: they name the field and the rule that was broken.
public struct EngramError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable, machine-readable name of the code (`"invalidArgument"`, ...).
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// An argument broke a documented rule (empty content, over-long field, k < 1, ...).
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// A vector's dimension differs from the store's.
        public static let dimensionMismatch = Code(rawValue: "dimensionMismatch")
        /// No memory (or working-memory entry) has the given id or key.
        public static let notFound = Code(rawValue: "notFound")
        /// The store's files are damaged: bad header, truncated vector file, missing file.
        public static let storageCorrupted = Code(rawValue: "storageCorrupted")
        /// Another process holds the store's writer lock.
        public static let locked = Code(rawValue: "locked")
        /// The handle's scope does not allow the operation.
        public static let permissionDenied = Code(rawValue: "permissionDenied")
        /// The store was written by a newer version of Engram.
        public static let schemaTooNew = Code(rawValue: "schemaTooNew")
        /// A file-system call failed.
        public static let io = Code(rawValue: "io")
        /// SQLite reported an error.
        public static let sqlite = Code(rawValue: "sqlite")
        /// The store is closed, or was opened read-only and a write was attempted.
        public static let notWritable = Code(rawValue: "notWritable")
        /// A store already exists where a new one was to be created.
        public static let alreadyExists = Code(rawValue: "alreadyExists")
        /// The query was embedded by a different embedder than the store's.
        public static let embedderMismatch = Code(rawValue: "embedderMismatch")
    }

    /// What kind of failure this is.
    public let code: Code
    /// A human-readable explanation that never quotes memory contents.
    public let message: String
    /// The input field that was rejected, when the error is about one (`"content"`, `"embedding"`, ...).
    public let field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// `code: message`, prefixed with the field when there is one.
    public var description: String {
        if let field { return "\(code): \(field): \(message)" }
        return "\(code): \(message)"
    }

    /// An ``Code/invalidArgument`` error naming the field that broke a rule.
    public static func invalid(_ field: String, _ message: String) -> EngramError {
        EngramError(.invalidArgument, message, field: field)
    }
}

extension EngramError.Code {
    /// Matches an error against a code in `catch` clauses and `switch` cases.
    public static func ~= (code: Self, error: any Error) -> Bool {
        (error as? EngramError)?.code == code
    }
}

extension EngramError {
    /// Lets `catch EngramError.notFound` read naturally.
    public static var invalidArgument: Code { .invalidArgument }
    /// See ``Code/dimensionMismatch``.
    public static var dimensionMismatch: Code { .dimensionMismatch }
    /// See ``Code/notFound``.
    public static var notFound: Code { .notFound }
    /// See ``Code/storageCorrupted``.
    public static var storageCorrupted: Code { .storageCorrupted }
    /// See ``Code/locked``.
    public static var locked: Code { .locked }
    /// See ``Code/schemaTooNew``.
    public static var schemaTooNew: Code { .schemaTooNew }
    /// See ``Code/permissionDenied``.
    public static var permissionDenied: Code { .permissionDenied }
}
