package import Engram

/// Every refusal of the service, with a code each front end maps once: to an HTTP status
/// (`engram serve`), a tool error (`engram mcp`) or an exit status (the CLI).
///
/// The codes are the library's ``EngramError/Code`` values plus the service's own: `tooLarge` (a batch
/// beyond the service's limit) and `overloaded` (the work queue is full; retry shortly).
package struct ServiceError: Error, Sendable, Hashable {
    package var code: EngramError.Code
    package var message: String
    package var field: String?

    package init(_ code: EngramError.Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// Any error a service call throws, as a service error: a library error keeps its code, a full
    /// queue is `overloaded`, and anything else is `internal` (its text is never shown to callers).
    package init(_ error: any Error) {
        switch error {
        case let error as ServiceError: self = error
        case let error as EngramError: self.init(error.code, error.message, field: error.field)
        case is Overloaded: self.init(.overloaded, "the server is at its queue depth; retry shortly")
        default: self.init(.internal, "internal error")
        }
    }
}

extension EngramError.Code {
    /// A batch larger than the service accepts.
    package static let tooLarge = EngramError.Code(rawValue: "tooLarge")
    /// The work queue is full: nothing was done; retry shortly.
    package static let overloaded = EngramError.Code(rawValue: "overloaded")
    /// An unexpected failure inside the service.
    package static let `internal` = EngramError.Code(rawValue: "internal")
}
